//! The compile workloads: elementwise chains and normalisations written from primitives,
//! each run eager (`_eager`) and through `compile` (`_compiled`; its trace, done in the
//! warm-up, is not timed). PyTorch's twins are its eager ops and `torch.compile`;
//! `scripts/bench_report.py` sets each compiled row against its eager one.

use super::workloads::{randn, Workload};
use psionic::prelude::*;

/// Ten elementwise ops over one input.
fn chain10(x: &[Tensor]) -> Vec<Tensor> {
    let a = &x[0];
    let h = &a.mul(1.5).add(0.25) * a;
    let h = h.abs().sqrt().sub(1.0).mul(0.5);
    vec![(&h + a).neg().add(2.0)]
}

/// `x * sigmoid(x) * y + z`.
fn silu_mul(x: &[Tensor]) -> Vec<Tensor> {
    vec![&(&(&x[0] * &x[0].sigmoid()) * &x[1]) + &x[2]]
}

/// GELU's tanh form written from primitives.
fn gelu_tanh(x: &[Tensor]) -> Vec<Tensor> {
    let a = &x[0];
    let inner = (&(&(a * a) * a).mul(0.044715) + a).mul((2.0 / std::f64::consts::PI).sqrt());
    vec![(&a.mul(0.5) * &inner.tanh().add(1.0))]
}

/// softmax over the last dim written from primitives.
fn softmax(x: &[Tensor]) -> Vec<Tensor> {
    let e = (&x[0] - &x[0].amax(-1, true)).exp();
    vec![&e / &e.sum(-1, true)]
}

/// layer_norm over the last dim written from primitives.
fn layer_norm(x: &[Tensor]) -> Vec<Tensor> {
    let c = &x[0] - &x[0].mean(-1, true);
    let var = (&c * &c).mean(-1, true);
    vec![&(&c * &var.add(1e-5).rsqrt()) * &x[1] + &x[2]]
}

type Body = fn(&[Tensor]) -> Vec<Tensor>;

/// The timed closure: `f` on inputs of these shapes, eager or compiled.
fn make(f: Body, shapes: &[&[usize]], compiled: bool) -> Box<dyn FnMut()> {
    let args: Vec<Tensor> = shapes.iter().map(|s| randn(s, DType::F32)).collect();
    if compiled {
        let c = compile(f);
        Box::new(move || {
            c.call(&args).iter().for_each(|t| {
                t.eval();
            })
        })
    } else {
        Box::new(move || {
            f(&args).iter().for_each(|t| {
                t.eval();
            })
        })
    }
}

/// A workload's eager and compiled rows.
macro_rules! pair {
    ($eager:literal, $compiled:literal, $reps:literal, $f:expr, $shapes:expr) => {
        [
            Workload { name: $eager, reps: $reps, flops: 0.0, make: || make($f, $shapes, false) },
            Workload { name: $compiled, reps: $reps, flops: 0.0, make: || make($f, $shapes, true) },
        ]
    };
}

const M: usize = 1 << 22;

pub fn all() -> Vec<Workload> {
    [
        pair!("chain10_4m_eager", "chain10_4m_compiled", 30, chain10, &[&[M]]),
        pair!("silu_mul_4m_eager", "silu_mul_4m_compiled", 30, silu_mul, &[&[M], &[M], &[M]]),
        pair!("gelu_tanh_prims_4m_eager", "gelu_tanh_prims_4m_compiled", 30, gelu_tanh, &[&[M]]),
        pair!("softmax_prims_4096_eager", "softmax_prims_4096_compiled", 20, softmax, &[&[4096, 4096]]),
        pair!(
            "layer_norm_prims_64x512x768_eager",
            "layer_norm_prims_64x512x768_compiled",
            10,
            layer_norm,
            &[&[64, 512, 768], &[768], &[768]]
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}
