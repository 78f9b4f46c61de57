//! Per-op overhead of eager execution and of autograd, beside PyTorch in the same run:
//! a 16-element add, and `(x * y).sum().backward()` on 16 elements. Medians of many
//! repetitions, in microseconds.
//!
//! `cargo run --release -p psionic --example autograd_overhead`

#[path = "common/bench.rs"]
mod bench;

use bench::{median_us, python_numbers, row, PY_MEDIAN};
use psionic::prelude::*;

fn torch_us(reps: usize) -> Option<(f64, f64)> {
    let code = format!(
        r#"{PY_MEDIAN}
import torch
torch.set_num_threads(1)
a = torch.rand(16); b = torch.rand(16)
x = torch.rand(16, requires_grad=True); y = torch.rand(16, requires_grad=True)
def bw():
    (x * y).sum().backward()
print(med(lambda: a + b, {reps}), med(bw, {reps}))
"#
    );
    python_numbers(&code, 2).map(|v| (v[0], v[1]))
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
    println!("{:<40} {:>12} {:>12} {:>8}", "op (16 elements, 1 thread)", "psionic", "torch", "ratio");
    row("add", add, torch.map(|t| t.0));
    row("(x*y).sum().backward()", bw, torch.map(|t| t.1));
}
