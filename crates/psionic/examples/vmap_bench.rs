//! Per-example gradients, beside PyTorch in the same run: `vmap(grad(loss))` against a
//! loop of `grad(loss)` over the examples, for a one-hidden-layer tanh network
//! (64 examples, 32 -> 64 -> 1, f32, 1 thread). PyTorch runs `torch.func.vmap(grad)`
//! and the same loop. Medians, in microseconds.
//!
//! `cargo run --release -p psionic --example vmap_bench`

#[path = "common/bench.rs"]
mod bench;

use bench::{median_us, python_numbers, row, PY_MEDIAN};
use psionic::prelude::*;

const N: usize = 64;
const D: usize = 32;
const H: usize = 64;

fn loss(a: &[Tensor]) -> Tensor {
    // a = [w1, w2, x, y]: squared error of one example.
    let h = a[2].matmul(&a[0]).tanh();
    let d = &h.matmul(&a[1]) - &a[3];
    (&d * &d).sum_all()
}

fn torch_us(reps: usize) -> Option<(f64, f64)> {
    let code = format!(
        r#"{PY_MEDIAN}
import torch
from torch.func import grad, vmap
torch.set_num_threads(1)
torch.manual_seed(0)
w1 = torch.randn({D}, {H}) * 0.1; w2 = torch.randn({H}, 1) * 0.1
x = torch.randn({N}, {D}); y = torch.randn({N}, 1)
def loss(w1, w2, x, y):
    d = torch.tanh(x @ w1) @ w2 - y
    return (d * d).sum()
g = grad(loss)
batched = vmap(g, in_dims=(None, None, 0, 0))
def looped():
    return torch.stack([g(w1, w2, x[i], y[i]) for i in range({N})])
print(med(lambda: batched(w1, w2, x, y), {reps}), med(looped, max({reps} // 10, 10)))
"#
    );
    python_numbers(&code, 2).map(|v| (v[0], v[1]))
}

fn main() {
    let reps = 500;
    let (batched, looped) = psionic::with_threads(1, || {
        let w1 = Tensor::linspace(-0.1, 0.1, D * H, DType::F32).reshape(&[D as i64, H as i64]);
        let w2 = Tensor::linspace(-0.1, 0.1, H, DType::F32).reshape(&[H as i64, 1]);
        let x = Tensor::linspace(-1.0, 1.0, N * D, DType::F32).reshape(&[N as i64, D as i64]);
        let y = Tensor::linspace(-1.0, 1.0, N, DType::F32).reshape(&[N as i64, 1]);
        let per_example = vmap(|a: &[Tensor]| vec![grad(loss)(a)], &[None, None, Some(0), Some(0)], &[Some(0)]);
        let args = [w1.clone(), w2.clone(), x.clone(), y.clone()];
        let batched = median_us(reps, || {
            std::hint::black_box(per_example(&args));
        });
        let looped = median_us((reps / 10).max(10), || {
            let gs: Vec<Tensor> =
                (0..N as i64).map(|i| grad(loss)(&[w1.clone(), w2.clone(), x.select(0, i), y.select(0, i)])).collect();
            std::hint::black_box(Tensor::stack(&gs.iter().collect::<Vec<_>>(), 0));
        });
        (batched, looped)
    });
    let torch = torch_us(reps);
    println!("{:<40} {:>12} {:>12} {:>8}", "per-example grads (64 ex., 1 thread)", "psionic", "torch", "ratio");
    row("vmap(grad(loss))", batched, torch.map(|t| t.0));
    row("loop of grad(loss)", looped, torch.map(|t| t.1));
    println!("vmap speed-up over the loop: psionic {:.1}x", looped / batched);
}
