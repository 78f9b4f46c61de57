//! Each factorization reconstructs its input, in the packing `LinalgOp::parts` documents.

use psionic_core::ops::LinalgOp;
use psionic_cpu::CpuArray;

fn mat(m: usize, n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..m * n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        })
        .collect()
}

fn mm(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    c
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?}\n{b:?}");
    }
}

fn run(op: LinalgOp, a: &[f64], shape: &[usize], out: &[usize]) -> Vec<f64> {
    let x = CpuArray::from_vec(a.to_vec(), shape);
    psionic_linalg::eval(op, &[&x], out).unwrap().to_vec::<f64>()
}

#[test]
fn lu_packs_lapack_pivots() {
    for (m, n) in [(4, 4), (5, 3), (3, 5)] {
        let a = mat(m, n, 7 + m as u64);
        let k = m.min(n);
        let o = run(LinalgOp::LuFactor, &a, &[m, n], &[m * n + k + 1]);
        let (lu, piv) = (&o[..m * n], &o[m * n..m * n + k]);
        let l: Vec<f64> = (0..m * k)
            .map(|p| {
                let (i, j) = (p / k, p % k);
                if i == j {
                    1.0
                } else if i > j {
                    lu[i * n + j]
                } else {
                    0.0
                }
            })
            .collect();
        let u: Vec<f64> = (0..k * n)
            .map(|p| {
                let (i, j) = (p / n, p % n);
                if i <= j {
                    lu[i * n + j]
                } else {
                    0.0
                }
            })
            .collect();
        let mut pa = a.clone();
        for (i, &p) in piv.iter().enumerate() {
            let j = p as usize - 1;
            for c in 0..n {
                pa.swap(i * n + c, j * n + c);
            }
        }
        close(&mm(&l, &u, m, k, n), &pa);
        assert_eq!(o[m * n + k], 0.0);
    }
}

#[test]
fn qr_eigh_svd_reconstruct() {
    let (m, n) = (5, 3);
    let a = mat(m, n, 3);
    let o = run(LinalgOp::Qr { complete: false }, &a, &[m, n], &[m * 3 + 3 * n]);
    close(&mm(&o[..m * 3], &o[m * 3..], m, 3, n), &a);
    let o = run(LinalgOp::Svd { full: false, vectors: true }, &a, &[m, n], &[m * 3 + 3 + 3 * n]);
    let (u, s, vh) = (&o[..m * 3], &o[m * 3..m * 3 + 3], &o[m * 3 + 3..]);
    assert!(s[0] >= s[1] && s[1] >= s[2]);
    let us: Vec<f64> = (0..m * 3).map(|p| u[p] * s[p % 3]).collect();
    close(&mm(&us, vh, m, 3, n), &a);
    let sv = run(LinalgOp::Svd { full: false, vectors: false }, &a, &[m, n], &[3]);
    close(&sv, s);
    let b = mat(4, 4, 9);
    let sym: Vec<f64> = (0..16).map(|p| b[p] + b[(p % 4) * 4 + p / 4]).collect();
    let o = run(LinalgOp::Eigh { vectors: true }, &sym, &[4, 4], &[4 + 16]);
    let (w, v) = (&o[..4], &o[4..]);
    assert!(w.windows(2).all(|p| p[0] <= p[1]));
    let vw: Vec<f64> = (0..16).map(|p| v[p] * w[p % 4]).collect();
    let vt: Vec<f64> = (0..16).map(|p| v[(p % 4) * 4 + p / 4]).collect();
    close(&mm(&vw, &vt, 4, 4, 4), &sym);
}

#[test]
fn cholesky_reports_the_failing_minor() {
    let a = vec![4.0, 0.0, 0.0, 2.0, 5.0, 0.0, 1.0, 1.0, -9.0];
    let o = run(LinalgOp::Cholesky, &a, &[3, 3], &[10]);
    assert_eq!(o[9], 3.0);
    assert!(o[0].is_nan());
    let a = vec![4.0, 0.0, 2.0, 5.0];
    let o = run(LinalgOp::Cholesky, &a, &[2, 2], &[5]);
    close(&o, &[2.0, 0.0, 1.0, 2.0, 0.0]);
}

#[test]
fn triangular_solve_reads_one_triangle() {
    // Garbage above the diagonal must be ignored by a lower solve.
    let a = vec![2.0, 99.0, 1.0, 4.0];
    let b = vec![2.0, 6.0];
    let x = CpuArray::from_vec(a.clone(), &[2, 2]);
    let y = CpuArray::from_vec(b, &[2, 1]);
    let op = LinalgOp::TriangularSolve { upper: false, left: true, unit: false };
    let o = psionic_linalg::eval(op, &[&x, &y], &[2, 1]).unwrap().to_vec::<f64>();
    close(&o, &[1.0, 1.25]);
    // X A = B with upper A.
    let a = vec![2.0, 1.0, -7.0, 4.0];
    let x = CpuArray::from_vec(a, &[2, 2]);
    let y = CpuArray::from_vec(vec![2.0, 5.0], &[1, 2]);
    let op = LinalgOp::TriangularSolve { upper: true, left: false, unit: false };
    let o = psionic_linalg::eval(op, &[&x, &y], &[1, 2]).unwrap().to_vec::<f64>();
    close(&o, &[1.0, 1.0]);
}
