use psionic::nn::prelude::*;
use psionic::prelude::*;
use psionic::Padding;
use psionic::autodiff::BackwardOpts;
use std::time::Instant;
fn median(mut v: Vec<f64>) -> f64 { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); v[v.len() / 2] }
fn t(reps: usize, mut f: impl FnMut()) -> f64 { f(); median((0..reps).map(|_| { let s = Instant::now(); f(); s.elapsed().as_secs_f64() * 1e6 }).collect()) }
fn main() {
    let conv = |cin, cout| Conv::new(2, cin, cout, &[3], ConvOpts { padding: Padding::Explicit(vec![1]), ..ConvOpts::default() });
    for threads in [1, 2] {
        psionic::with_threads(threads, || {
            let c1 = conv(3, 32);
            let c2 = conv(32, 64);
            let x = psionic::random::randn(&[64, 3, 32, 32], DType::F32, None);
            let h = psionic::random::randn(&[64, 32, 16, 16], DType::F32, None).requires_grad_(true).clone();
            let g1 = psionic::random::randn(&[64, 32, 32, 32], DType::F32, None);
            let g2 = psionic::random::randn(&[64, 64, 16, 16], DType::F32, None);
            let r = |x: f64| format!("{x:.0}");
            let bw = |y: Tensor, g: &Tensor| y.backward_with(BackwardOpts { gradient: Some(g.clone()), ..Default::default() });
            println!("{threads}T conv1 fwd {} fwd+bwd {}", r(t(20, || { c1.forward(&x).eval(); })), r(t(20, || bw(c1.forward(&x), &g1))));
            println!("{threads}T conv2 fwd {} fwd+bwd {}", r(t(20, || { c2.forward(&h).eval(); })), r(t(20, || bw(c2.forward(&h), &g2))));
        });
    }
}
