//! The conv layers of a small ResNet (ResNet-18's CIFAR shapes: batch 32, 32x32 inputs,
//! 3x3 convolutions and the 1x1 strided shortcuts, f32, 2 threads), forward and
//! forward + backward (gradients of input and weight), beside PyTorch in the same run.
//! Medians, in microseconds; the ratio is ours / PyTorch's (below 1 is faster).
//!
//! `cargo run --release -p psionic --example conv_bench`

#[path = "common/bench.rs"]
mod bench;

use bench::{median_us, python_numbers, row, PY_MEDIAN};
use psionic::prelude::*;
use psionic::Padding;

const BATCH: usize = 32;
const THREADS: usize = 2;
const REPS: usize = 5;

/// (C_in, C_out, spatial size of the input, kernel, stride).
const LAYERS: [(usize, usize, usize, usize, usize); 9] = [
    (3, 64, 32, 3, 1),
    (64, 64, 32, 3, 1),
    (64, 128, 32, 3, 2),
    (64, 128, 32, 1, 2),
    (128, 128, 16, 3, 1),
    (128, 256, 16, 3, 2),
    (256, 256, 8, 3, 1),
    (256, 512, 8, 3, 2),
    (512, 512, 4, 3, 1),
];

fn rand(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Tensor::from_vec(v, shape)
}

fn ours(cin: usize, cout: usize, size: usize, k: usize, stride: usize) -> (f64, f64) {
    let x = rand(&[BATCH, cin, size, size], 1).requires_grad_(true).clone();
    let w = rand(&[cout, cin, k, k], 2).mul(0.1).requires_grad_(true).clone();
    let conv = |x: &Tensor, w: &Tensor| x.conv(w, None, &[stride], Padding::Explicit(vec![k / 2]), &[1], 1);
    let g = no_grad(|| conv(&x, &w)).ones_like();
    psionic::with_threads(THREADS, || {
        let fwd = median_us(REPS, || {
            no_grad(|| conv(&x, &w)).eval();
        });
        let both = median_us(REPS, || {
            let y = conv(&x, &w);
            let gs = autograd::grad(&[&(&y * &g).sum_all()], &[&x, &w], GradOpts::default());
            for t in gs.iter().flatten() {
                t.eval();
            }
        });
        (fwd, both)
    })
}

fn torch() -> Option<Vec<f64>> {
    let layers: Vec<String> = LAYERS.iter().map(|l| format!("{l:?}")).collect();
    let code = format!(
        r#"{PY_MEDIAN}
import torch
torch.set_num_threads({THREADS})
torch.manual_seed(0)
for cin, cout, size, k, stride in [{layers}]:
    x = (torch.rand({BATCH}, cin, size, size) - 0.5).requires_grad_()
    w = ((torch.rand(cout, cin, k, k) - 0.5) * 0.1).requires_grad_()
    conv = lambda: torch.nn.functional.conv2d(x, w, None, stride, k // 2)
    with torch.no_grad():
        g = torch.ones_like(conv())
        fwd = med(conv, {REPS})
    def both():
        y = conv()
        torch.autograd.grad((y * g).sum(), [x, w])
    print(fwd, med(both, {REPS}))
"#,
        layers = layers.join(", ")
    );
    python_numbers(&code, 2 * LAYERS.len())
}

fn main() {
    let theirs = torch();
    println!("{:<40} {:>12} {:>12} {:>8}", "layer (batch 32, f32, 2 threads)", "psionic", "torch", "ratio");
    let (mut tot, mut tot_t) = ([0.0; 2], [0.0; 2]);
    for (i, &(cin, cout, size, k, stride)) in LAYERS.iter().enumerate() {
        let (f, b) = ours(cin, cout, size, k, stride);
        let t = theirs.as_ref().map(|v| (v[2 * i], v[2 * i + 1]));
        let name = format!("{cin}->{cout} {k}x{k}/{stride} @{size}");
        row(&format!("{name} fwd"), f, t.map(|t| t.0));
        row(&format!("{name} fwd+bwd"), b, t.map(|t| t.1));
        tot[0] += f;
        tot[1] += b;
        if let Some(t) = t {
            tot_t[0] += t.0;
            tot_t[1] += t.1;
        }
    }
    let have = theirs.is_some();
    row("all layers fwd", tot[0], have.then_some(tot_t[0]));
    row("all layers fwd+bwd", tot[1], have.then_some(tot_t[1]));
}
