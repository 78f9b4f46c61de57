//! `linalg` semantics at the edges: PyTorch's errors and `info` codes, LAPACK pivots,
//! empty and batched inputs, and hand-checked values.

use crate::linalg::{self, QrMode};
use crate::{fallible, DType, Tensor};

fn t(v: &[f64], s: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), s)
}

fn close(a: &Tensor, b: &[f64]) {
    let a = a.to_vec::<f64>();
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

#[test]
fn hand_values() {
    let a = t(&[4.0, 3.0, 6.0, 3.0], &[2, 2]);
    close(&linalg::det(&a), &[-6.0]);
    close(&linalg::inv(&a), &[-0.5, 0.5, 1.0, -2.0 / 3.0]);
    let (lu, piv) = linalg::lu_factor(&a);
    // Row 2 has the larger first entry: one swap, pivots [2, 2].
    close(&lu, &[6.0, 3.0, 4.0 / 6.0, 1.0]);
    assert_eq!(piv.to_vec::<i32>(), vec![2, 2]);
    let (sign, logabs) = linalg::slogdet(&a);
    close(&sign, &[-1.0]);
    close(&logabs, &[6f64.ln()]);
    close(&linalg::cholesky(&t(&[4.0, 2.0, 2.0, 5.0], &[2, 2]), false), &[2.0, 0.0, 1.0, 2.0]);
    close(&linalg::solve(&a, &t(&[7.0, 9.0], &[2]), true), &[1.0, 1.0]);
    close(&linalg::cross(&t(&[1.0, 0.0, 0.0], &[3]), &t(&[0.0, 1.0, 0.0], &[3]), -1), &[0.0, 0.0, 1.0]);
    close(&linalg::vander(&t(&[2.0, 3.0], &[2]), None), &[1.0, 2.0, 1.0, 3.0]);
    close(&linalg::matrix_power(&a, 0), &[1.0, 0.0, 0.0, 1.0]);
    close(&linalg::matrix_power(&a, 3), &a.matmul(&a).matmul(&a).to_vec::<f64>());
    let (q, r) = linalg::qr(&t(&[3.0, 4.0], &[2, 1]), QrMode::Reduced);
    assert!((q.to_vec::<f64>()[0].abs() - 0.6).abs() < 1e-15 && (r.to_vec::<f64>()[0].abs() - 5.0).abs() < 1e-15);
    close(&linalg::svdvals(&t(&[3.0, 0.0, 0.0, -4.0], &[2, 2])), &[4.0, 3.0]);
    close(&linalg::eigvalsh(&t(&[2.0, 1.0, 1.0, 2.0], &[2, 2]), false), &[1.0, 3.0]);
    close(&linalg::matrix_exp(&t(&[0.0, 0.0, 0.0, 1.0], &[2, 2])), &[1.0, 0.0, 0.0, 1f64.exp()]);
    assert_eq!(linalg::matrix_rank(&t(&[1.0, 2.0, 2.0, 4.0], &[2, 2]), None, None, false).to_vec::<i64>(), vec![1]);
}

#[test]
fn pytorch_errors_and_info() {
    let singular = t(&[1.0, 2.0, 2.0, 4.0], &[2, 2]);
    let e = fallible(|| linalg::inv(&singular)).unwrap_err().to_string();
    assert!(e.contains("The diagonal element 2 is zero"), "{e}");
    let e = fallible(|| linalg::solve(&singular, &t(&[1.0, 1.0], &[2]), true)).unwrap_err().to_string();
    assert!(e.contains("input matrix is singular"), "{e}");
    let batch = Tensor::stack(&[&Tensor::eye(2, None, DType::F64), &Tensor::eye(2, None, DType::F64).neg()], 0);
    let e = fallible(|| linalg::cholesky(&batch, false)).unwrap_err().to_string();
    assert!(e.contains("(Batch element 1)") && e.contains("leading minor of order 1"), "{e}");
    // The _ex forms report instead of raising.
    let (l, info) = linalg::cholesky_ex(&batch, false);
    assert_eq!(info.to_vec::<i32>(), vec![0, 1]);
    assert!(l.to_vec::<f64>()[4].is_nan());
    let (_, info) = linalg::inv_ex(&singular);
    assert_eq!(info.to_vec::<i32>(), vec![2]);
    // det of a singular matrix is an (exact) zero, not an error.
    assert_eq!(linalg::det(&singular).to_vec::<f64>()[0], 0.0);
    let e = fallible(|| linalg::det(&Tensor::ones(&[2, 2], DType::I64))).unwrap_err().to_string();
    assert!(e.contains("float or double"), "{e}");
    let e = fallible(|| linalg::cholesky(&Tensor::ones(&[2, 3], DType::F32), false)).unwrap_err().to_string();
    assert!(e.contains("square"), "{e}");
}

#[test]
fn batched_empty_and_strided() {
    // A batch of matrices, one of them read through a transposed (strided) view.
    let a = t(&[2.0, 1.0, 1.0, 3.0, 4.0, 1.0, 2.0, 5.0], &[2, 2, 2]);
    let d = linalg::det(&a.mT());
    close(&d, &[5.0, 18.0]);
    let inv = linalg::inv(&a);
    close(&inv.matmul(&a), &[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    // Empty batch and 0x0 matrices.
    assert_eq!(linalg::inv(&Tensor::zeros(&[0, 3, 3], DType::F32)).shape(), vec![0, 3, 3]);
    close(&linalg::det(&Tensor::zeros(&[0, 0], DType::F64)), &[1.0]);
    // Broadcast batch of A against B.
    let b = t(&[1.0, 1.0], &[2, 1]);
    assert_eq!(linalg::solve(&a, &b, true).shape(), vec![2, 2, 1]);
}

#[test]
fn lazy_defers_the_singular_check() {
    let singular = t(&[1.0, 2.0, 2.0, 4.0], &[2, 2]);
    let r = crate::lazy(|| linalg::inv(&singular));
    assert!(r.to_vec::<f64>().iter().any(|v| !v.is_finite()));
}

#[test]
fn general_eigen_values_and_vectors() {
    let h = std::f64::consts::FRAC_1_SQRT_2;
    // A quarter turn: eigenvalues +i then -i; (1, -i)/sqrt(2) spans A v = i v.
    let (l, v) = linalg::eig(&t(&[0.0, -1.0, 1.0, 0.0], &[2, 2]));
    close(&l, &[0.0, 1.0, 0.0, -1.0]);
    // v[row][col] = (re, im): column 0 is (h, -ih), column 1 its conjugate.
    close(&v, &[h, 0.0, h, 0.0, 0.0, -h, 0.0, h]);
    // Triangular: the diagonal, each vector scaled so its largest entry is real positive.
    let (l, v) = linalg::eig(&t(&[2.0, 0.0, 1.0, -3.0], &[2, 2]));
    let mut lv = l.to_vec::<f64>();
    lv.sort_by(f64::total_cmp);
    close(&Tensor::from_vec(lv, &[4]), &[-3.0, 0.0, 0.0, 2.0]);
    let vv = v.to_vec::<f64>();
    assert!(vv.iter().skip(1).step_by(2).all(|&im| im == 0.0), "{vv:?}");
    // A V = V diag(L) on a batch read through a transposed view, in f32 and f64.
    for dtype in [DType::F64, DType::F32] {
        let x: Vec<f64> = (0..2 * 5 * 5).map(|i| ((i * i) as f64 * 0.37 + i as f64).sin()).collect();
        let a = Tensor::from_vec(x, &[2, 5, 5]).to_dtype(dtype).mT();
        let (l, v) = linalg::eig(&a);
        assert_eq!((l.shape(), v.shape()), (vec![2, 5, 2], vec![2, 5, 5, 2]));
        let (vr, vi) = (v.select(-1, 0), v.select(-1, 1));
        let (lr, li) = (l.select(-1, 0).unsqueeze(-2), l.select(-1, 1).unsqueeze(-2));
        let a = a.to_dtype(DType::F64);
        let [vr, vi, lr, li] = [vr, vi, lr, li].map(|x| x.to_dtype(DType::F64));
        let res_re = &a.matmul(&vr) - &(&(&vr * &lr) - &(&vi * &li));
        let res_im = &a.matmul(&vi) - &(&(&vr * &li) + &(&vi * &lr));
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
        for r in [res_re, res_im] {
            assert!(r.to_vec::<f64>().iter().all(|e| e.abs() < tol), "{dtype:?}: {r}");
        }
        // Unit columns; the values only form agrees with the full one.
        let norms = (&vr.square() + &vi.square()).sum(-2, false).to_vec::<f64>();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < tol), "{norms:?}");
        let w = linalg::eigvals(&a.to_dtype(dtype)).to_dtype(DType::F64);
        assert_eq!(w.to_vec::<f64>(), l.to_dtype(DType::F64).to_vec::<f64>());
    }
    // Empty batch and 0x0; PyTorch's errors.
    assert_eq!(linalg::eig(&Tensor::zeros(&[0, 3, 3], DType::F32)).1.shape(), vec![0, 3, 3, 2]);
    assert_eq!(linalg::eigvals(&Tensor::zeros(&[0, 0], DType::F64)).shape(), vec![0, 2]);
    let e = fallible(|| linalg::eig(&Tensor::ones(&[2, 3], DType::F64))).unwrap_err().to_string();
    assert!(e.contains("square"), "{e}");
    let e = fallible(|| linalg::eigvals(&Tensor::ones(&[2, 2], DType::I64))).unwrap_err().to_string();
    assert!(e.contains("float or double"), "{e}");
    let e = fallible(|| linalg::eig(&t(&[1.0, f64::NAN, 0.0, 1.0], &[2, 2]))).unwrap_err().to_string();
    assert!(e.contains("should not contain infs or NaNs"), "{e}");
}

#[test]
fn general_eigen_gradient_refuses_phase_dependent_losses() {
    use crate::autodiff::grad;
    // A quarter turn has complex eigenvectors: the sum of their real parts changes when
    // a vector is multiplied by e^{i phi}, their moduli do not.
    let a = t(&[0.0, -1.0, 1.0, 0.0], &[2, 2]);
    let phase = grad(|x: &[Tensor]| linalg::eig(&x[0]).1.select(-1, 0).sum_all());
    let e = fallible(|| phase(std::slice::from_ref(&a))).unwrap_err().to_string();
    assert!(e.contains("specified up to multiplication by e^{i phi}"), "{e}");
    let modulus = grad(|x: &[Tensor]| linalg::eig(&x[0]).1.square().sum_all());
    assert_eq!(modulus(std::slice::from_ref(&a)).shape(), vec![2, 2]);
}
