//! Per-op overhead of eager execution and of autograd, beside PyTorch in the same run:
//! a 16-element add, and `(x * y).sum().backward()` on 16 elements. Medians of many
//! repetitions, in microseconds.
//!
//! `cargo run --release -p psionic --example autograd_overhead`

use psionic::prelude::*;
use std::process::Command;
use std::time::Instant;

fn median_us(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..reps / 10 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[t.len() / 2]
}

fn torch_us(reps: usize) -> Option<(f64, f64)> {
    let py = std::env::var("PSIONIC_PYTHON").unwrap_or_else(|_| "oracle/.venv/bin/python".into());
    let code = format!(
        r#"
import torch, time, statistics
torch.set_num_threads(1)
def med(f, n):
    for _ in range(n // 10): f()
    t = []
    for _ in range(n):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1e6)
    return statistics.median(t)
a = torch.rand(16); b = torch.rand(16)
x = torch.rand(16, requires_grad=True); y = torch.rand(16, requires_grad=True)
def bw():
    (x * y).sum().backward()
print(med(lambda: a + b, {reps}), med(bw, {reps}))
"#
    );
    let out = Command::new(py).arg("-c").arg(code).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    let v: Vec<f64> = s.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (v.len() == 2).then(|| (v[0], v[1]))
}

fn main() {
    let reps = 20_000;
    let (add, bw) = psionic::with_threads(1, || {
        let a = Tensor::linspace(0.0, 1.0, 16, DType::F32);
        let b = Tensor::linspace(1.0, 2.0, 16, DType::F32);
        let x = Tensor::linspace(0.0, 1.0, 16, DType::F32).requires_grad_(true).clone();
        let y = Tensor::linspace(1.0, 2.0, 16, DType::F32).requires_grad_(true).clone();
        let add = median_us(reps, || {
            std::hint::black_box(&a + &b);
        });
        let bw = median_us(reps, || (&x * &y).sum_all().backward());
        (add, bw)
    });
    let torch = torch_us(reps);
    println!("{:<34} {:>10} {:>10} {:>8}", "op (16 elements, 1 thread)", "psionic", "torch", "ratio");
    for (name, ours, theirs) in [("add", add, torch.map(|t| t.0)), ("(x*y).sum().backward()", bw, torch.map(|t| t.1))] {
        match theirs {
            Some(t) => println!("{name:<34} {ours:>8.2}us {t:>8.2}us {:>7.2}x", ours / t),
            None => println!("{name:<34} {ours:>8.2}us {:>10} {:>8}", "n/a", "n/a"),
        }
    }
}
