//! A GPT stack compiled with and without `shapeless`, called at sequence lengths it
//! has not seen: with it, each new length is traced but reuses the one program (its
//! fusion and generated code); without, each builds its own.
//!
//! `cargo run --release -p psionic --example shapeless_reuse`

use psionic::nn::models::{Gpt, GptConfig};
use psionic::nn::Forward;
use psionic::prelude::*;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let gpt = Arc::new(Gpt::new(GptConfig {
        vocab_size: 65,
        block_size: 256,
        n_layer: 4,
        n_head: 4,
        n_embd: 128,
        dropout: 0.0,
    }));
    let g = gpt.clone();
    let body = move |x: &[Tensor]| {
        let mut h = x[0].clone();
        for b in &g.h {
            h = b.forward(&h);
        }
        vec![h]
    };
    let _ng = psionic::autodiff::NoGradGuard::new();
    for shapeless in [false, true] {
        let f = compile(body.clone()).shapeless(shapeless);
        let (mut first, mut again) = (vec![], vec![]);
        for t in (16..=120).step_by(8) {
            let x = [psionic::random::randn(&[4, t, 128], DType::F32, None)];
            let s = Instant::now();
            f.call(&x)[0].eval();
            first.push(s.elapsed().as_secs_f64() * 1e3);
            let s = Instant::now();
            f.call(&x)[0].eval();
            again.push(s.elapsed().as_secs_f64() * 1e3);
        }
        first.sort_by(f64::total_cmp);
        again.sort_by(f64::total_cmp);
        println!(
            "shapeless={shapeless}: new shape median {:.2} ms, replay median {:.2} ms, traces {} programs {}",
            first[first.len() / 2],
            again[again.len() / 2],
            f.traces(),
            f.programs()
        );
    }
}
