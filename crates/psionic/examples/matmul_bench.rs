//! Matmul throughput: Psionic against the `gemm` crate called directly on the same
//! buffers, at 512, 1024 and 2048, on 1 and 2 threads, plus PyTorch when
//! `oracle/.venv/bin/python` (or `$PSIONIC_PYTHON`) can import torch.
//!
//! `cargo run --release -p psionic --example matmul_bench [-- SIZES]`

use psionic::prelude::*;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Seconds `f` takes, once.
fn seconds(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn gemm_direct(a: &[f32], b: &[f32], c: &mut [f32], n: usize, threads: usize) {
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: a, b, c are n*n row-major buffers.
    unsafe {
        gemm::gemm(
            n,
            n,
            n,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            n as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

fn torch_gflops(n: usize, threads: usize, reps: usize) -> Option<f64> {
    let py = std::env::var("PSIONIC_PYTHON").unwrap_or_else(|_| "oracle/.venv/bin/python".into());
    let code = format!(
        "import torch,time,statistics\ntorch.set_num_threads({threads})\na=torch.rand({n},{n});b=torch.rand({n},{n});a@b\nt=[]\nfor _ in range({reps}):\n s=time.perf_counter();a@b;t.append(time.perf_counter()-s)\nprint(2*{n}**3/statistics.median(t)/1e9)"
    );
    let out = Command::new(py).arg("-c").arg(code).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn main() {
    println!("{:>6} {:>4} {:>12} {:>12} {:>8} {:>12}", "n", "thr", "psionic", "gemm", "ratio", "torch");
    // Sizes from the command line (`-- 1024 2048`), else 512, 1024 and 2048.
    let mut sizes: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![512, 1024, 2048];
    }
    for n in sizes {
        let reps = if n >= 2048 { 9 } else { 21 };
        let a = Tensor::linspace(-1.0, 1.0, n * n, DType::F32).reshape(&[n as i64, n as i64]);
        let b = Tensor::linspace(1.0, -1.0, n * n, DType::F32).reshape(&[n as i64, n as i64]);
        let (va, vb) = (a.to_vec::<f32>(), b.to_vec::<f32>());
        for &threads in &[1usize, 2] {
            let flops = 2.0 * (n as f64).powi(3);
            let mut c = vec![0f32; n * n];
            // Paired: each rep times Psionic and then at once the gemm crate, so a
            // rep's ratio sees one state of a noisy machine; medians of each.
            let (mut ours, mut direct, mut ratios) = (vec![], vec![], vec![]);
            psionic::with_threads(threads, || {
                a.matmul(&b).eval();
                gemm_direct(&va, &vb, &mut c, n, threads);
                for _ in 0..reps {
                    let t = seconds(|| {
                        a.matmul(&b).eval();
                    });
                    let d = seconds(|| gemm_direct(&va, &vb, &mut c, n, threads));
                    ours.push(t);
                    direct.push(d);
                    ratios.push(d / t);
                }
            });
            let (g_ours, g_direct) = (flops / median(ours) / 1e9, flops / median(direct) / 1e9);
            let ratio = median(ratios);
            let torch = torch_gflops(n, threads, reps).map_or("n/a".to_string(), |g| format!("{g:.1} GF/s"));
            println!(
                "{n:>6} {threads:>4} {:>7.1} GF/s {:>7.1} GF/s {:>7.1}% {torch:>12}",
                g_ours,
                g_direct,
                100.0 * ratio
            );
        }
    }
}
