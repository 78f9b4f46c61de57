//! Lion (sign of an interpolated momentum) and Muon (momentum orthogonalised by a
//! Newton–Schulz iteration, PyTorch's `torch.optim.Muon`).

use crate::hyper_fields;
use crate::optimizer::{Rule, State};
use psionic_array::{DType, Tensor};

/// Lion (Chen et al. 2023): `p -= lr (sign(b1 m + (1 - b1) g) + wd p)`, then
/// `m = b2 m + (1 - b2) g`.
#[derive(Clone, Debug)]
pub struct Lion {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
}

impl Lion {
    pub fn new(lr: f64) -> Lion {
        Lion { lr, beta1: 0.9, beta2: 0.99, weight_decay: 0.0 }
    }
}

impl Rule for Lion {
    fn reads_step(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "Lion"
    }
    hyper_fields! { "lr" => lr, "beta1" => beta1, "beta2" => beta2, "weight_decay" => weight_decay }
    fn update(&self, p: &Tensor, g: &Tensor, s: &mut State) -> Tensor {
        let m = s.buf("exp_avg", || p.zeros_like());
        let update = m.lerp(g, 1.0 - self.beta1).sign();
        s.set("exp_avg", m.lerp(g, 1.0 - self.beta2));
        p.mul(1.0 - self.lr * self.weight_decay).sub(update.mul(self.lr))
    }
}

/// Muon for 2-d parameters: Nesterov momentum, orthogonalised in bf16 by `ns_steps`
/// quintic Newton–Schulz iterations, the learning rate scaled by
/// `sqrt(max(1, rows / cols))`.
#[derive(Clone, Debug)]
pub struct Muon {
    pub lr: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub ns_coefficients: (f64, f64, f64),
    pub eps: f64,
    pub ns_steps: usize,
}

impl Muon {
    pub fn new(lr: f64) -> Muon {
        Muon {
            lr,
            weight_decay: 0.1,
            momentum: 0.95,
            nesterov: true,
            ns_coefficients: (3.4445, -4.7750, 2.0315),
            eps: 1e-7,
            ns_steps: 5,
        }
    }
}

/// `G` mapped towards the nearest semi-orthogonal matrix (singular values near 1) by
/// quintic Newton–Schulz steps in bf16, as PyTorch runs them: each product accumulates
/// in f32 and every `addmm` result is rounded to bf16 once.
pub fn newton_schulz(g: &Tensor, (a, b, c): (f64, f64, f64), steps: usize, eps: f64) -> Tensor {
    assert!(g.dim() == 2, "Muon: Input tensor gradient must be a 2D matrix");
    // bf16 values held in f32, so that sums run in f32 and results round once.
    let round = |t: Tensor| t.to_dtype(DType::BF16).to_dtype(DType::F32);
    let tall = g.size(0) > g.size(1);
    let x = round(g.to_dtype(DType::F32));
    let x = if tall { x.t() } else { x };
    let norm = round(x.square().sum_all().sqrt()).clamp(Some(eps), None::<f64>);
    let mut x = round(x.div(&norm));
    for _ in 0..steps {
        let gram = round(x.matmul(&x.t()));
        let upd = round(gram.mul(b).add(gram.matmul(&gram).mul(c)));
        x = round(x.mul(a).add(upd.matmul(&x)));
    }
    if tall {
        x.t()
    } else {
        x
    }
}

impl Rule for Muon {
    fn reads_step(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "Muon"
    }
    hyper_fields! {
        "lr" => lr, "weight_decay" => weight_decay, "momentum" => momentum, "nesterov" => nesterov as bool,
        "eps" => eps,
    }
    fn update(&self, p: &Tensor, g: &Tensor, s: &mut State) -> Tensor {
        let buf = s.buf("momentum_buffer", || p.zeros_like()).lerp(g, 1.0 - self.momentum);
        s.set("momentum_buffer", buf.clone());
        let update = if self.nesterov { g.lerp(&buf, self.momentum) } else { buf };
        let o = newton_schulz(&update, self.ns_coefficients, self.ns_steps, self.eps).to_dtype(p.dtype());
        let (rows, cols) = (p.size(0) as f64, p.size(1) as f64);
        let adjusted = self.lr * (rows / cols).max(1.0).sqrt();
        p.mul(1.0 - self.lr * self.weight_decay).sub(o.mul(adjusted))
    }
}
