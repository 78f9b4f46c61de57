//! The conv layers of a small ResNet (ResNet-18's CIFAR shapes: batch 32, 32x32 inputs,
//! 3x3 convolutions and the 1x1 strided shortcuts, f32, 2 threads), then MobileNet-style
//! depthwise 3x3 layers (groups = channels), forward and forward + backward (gradients of
//! input and weight), beside PyTorch in the same run.
//! Medians, in microseconds; the ratio is ours / PyTorch's (below 1 is faster).
//!
//! `cargo run --release -p psionic --example conv_bench [-- resnet|depthwise]` (the
//! argument keeps one kind of layer).

#[path = "common/bench.rs"]
mod bench;

use bench::{median_us, python_numbers, row, PY_MEDIAN};
use psionic::prelude::*;
use psionic::Padding;

const BATCH: usize = 32;
const THREADS: usize = 2;
const REPS: usize = 5;

/// (C_in, C_out, spatial size of the input, kernel, stride, groups).
const LAYERS: [Layer; 14] = [
    (3, 64, 32, 3, 1, 1),
    (64, 64, 32, 3, 1, 1),
    (64, 128, 32, 3, 2, 1),
    (64, 128, 32, 1, 2, 1),
    (128, 128, 16, 3, 1, 1),
    (128, 256, 16, 3, 2, 1),
    (256, 256, 8, 3, 1, 1),
    (256, 512, 8, 3, 2, 1),
    (512, 512, 4, 3, 1, 1),
    (32, 32, 32, 3, 1, 32),
    (64, 64, 32, 3, 2, 64),
    (128, 128, 16, 3, 1, 128),
    (256, 256, 8, 3, 1, 256),
    (512, 512, 4, 3, 1, 512),
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

fn ours(cin: usize, cout: usize, size: usize, k: usize, stride: usize, groups: usize) -> (f64, f64) {
    let x = rand(&[BATCH, cin, size, size], 1).requires_grad_(true).clone();
    let w = rand(&[cout, cin / groups, k, k], 2).mul(0.1).requires_grad_(true).clone();
    let conv = |x: &Tensor, w: &Tensor| x.conv(w, None, &[stride], Padding::Explicit(vec![k / 2]), &[1], groups);
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

type Layer = (usize, usize, usize, usize, usize, usize);

/// The layers of the kind named on the command line (all without one).
fn selected() -> Vec<Layer> {
    let kind = std::env::args().nth(1);
    let keep = |l: &Layer| match kind.as_deref() {
        Some("resnet") => l.5 == 1,
        Some("depthwise") => l.5 > 1,
        Some(other) => panic!("conv_bench: unknown layer kind '{other}' (resnet or depthwise)"),
        None => true,
    };
    LAYERS.iter().copied().filter(keep).collect()
}

fn torch(selected: &[Layer]) -> Option<Vec<f64>> {
    let layers: Vec<String> = selected.iter().map(|l| format!("{l:?}")).collect();
    let code = format!(
        r#"{PY_MEDIAN}
import torch
torch.set_num_threads({THREADS})
torch.manual_seed(0)
for cin, cout, size, k, stride, groups in [{layers}]:
    x = (torch.rand({BATCH}, cin, size, size) - 0.5).requires_grad_()
    w = ((torch.rand(cout, cin // groups, k, k) - 0.5) * 0.1).requires_grad_()
    conv = lambda: torch.nn.functional.conv2d(x, w, None, stride, k // 2, 1, groups)
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
    python_numbers(&code, 2 * selected.len())
}

fn main() {
    let layers = selected();
    let theirs = torch(&layers);
    println!("{:<40} {:>12} {:>12} {:>8}", "layer (batch 32, f32, 2 threads)", "psionic", "torch", "ratio");
    // Totals per kind: ResNet layers, then depthwise ones.
    let (mut tot, mut tot_t) = ([[0.0; 2]; 2], [[0.0; 2]; 2]);
    for (i, &(cin, cout, size, k, stride, groups)) in layers.iter().enumerate() {
        let (f, b) = ours(cin, cout, size, k, stride, groups);
        let t = theirs.as_ref().map(|v| (v[2 * i], v[2 * i + 1]));
        let kind = usize::from(groups > 1);
        let dw = if groups > 1 { " dw" } else { "" };
        let name = format!("{cin}->{cout} {k}x{k}/{stride}{dw} @{size}");
        row(&format!("{name} fwd"), f, t.map(|t| t.0));
        row(&format!("{name} fwd+bwd"), b, t.map(|t| t.1));
        tot[kind][0] += f;
        tot[kind][1] += b;
        if let Some(t) = t {
            tot_t[kind][0] += t.0;
            tot_t[kind][1] += t.1;
        }
    }
    let have = theirs.is_some();
    for (kind, label) in ["resnet layers", "depthwise layers"].iter().enumerate() {
        if !layers.iter().any(|l| usize::from(l.5 > 1) == kind) {
            continue;
        }
        row(&format!("all {label} fwd"), tot[kind][0], have.then_some(tot_t[kind][0]));
        row(&format!("all {label} fwd+bwd"), tot[kind][1], have.then_some(tot_t[kind][1]));
    }
}
