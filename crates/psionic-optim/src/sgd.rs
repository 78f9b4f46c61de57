//! SGD with momentum, dampening, Nesterov and weight decay (`torch.optim.SGD`).

use crate::hyper_fields;
use crate::optimizer::{Rule, State};
use psionic_array::Tensor;

#[derive(Clone, Debug)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Sgd {
    /// PyTorch's defaults (`lr=1e-3`, no momentum).
    pub fn new(lr: f64) -> Sgd {
        Sgd { lr, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false, maximize: false }
    }
}

/// The gradient as the rules use it: negated with `maximize`, plus L2 weight decay.
pub(crate) fn effective_grad(param: &Tensor, grad: &Tensor, maximize: bool, weight_decay: f64) -> Tensor {
    let g = if maximize { grad.neg() } else { grad.clone() };
    if weight_decay != 0.0 {
        g.add(param.mul(weight_decay))
    } else {
        g
    }
}

/// Weight decay as the Adam family applies it: decoupled (the parameter shrinks by the
/// factor `1 - lr * weight_decay`, AdamW's way) or as L2 (added to the gradient).
/// Returns that factor where decay is decoupled, and the gradient to use.
pub(crate) fn decay_parts(
    p: &Tensor,
    grad: &Tensor,
    maximize: bool,
    lr: f64,
    weight_decay: f64,
    decoupled: bool,
) -> (Option<f64>, Tensor) {
    let l2 = if decoupled { 0.0 } else { weight_decay };
    (decoupled.then_some(1.0 - lr * weight_decay), effective_grad(p, grad, maximize, l2))
}

/// The parameter to update: shrunk by [`decay_parts`]'s factor where decay is decoupled.
pub(crate) fn shrunk(p: &Tensor, shrink: Option<f64>) -> Tensor {
    shrink.map_or_else(|| p.clone(), |f| p.mul(f))
}

impl Rule for Sgd {
    fn reads_step(&self) -> bool {
        false
    }
    fn name(&self) -> &'static str {
        "SGD"
    }
    hyper_fields! {
        "lr" => lr, "momentum" => momentum, "dampening" => dampening, "weight_decay" => weight_decay,
        "nesterov" => nesterov as bool, "maximize" => maximize as bool,
    }
    fn update(&self, p: &Tensor, grad: &Tensor, s: &mut State) -> Tensor {
        let mut g = effective_grad(p, grad, self.maximize, self.weight_decay);
        if self.momentum != 0.0 {
            let buf = match s.bufs.get("momentum_buffer") {
                None => g.deep_clone(),
                Some(b) => b.mul(self.momentum).add(g.mul(1.0 - self.dampening)),
            };
            s.set("momentum_buffer", buf.clone());
            g = if self.nesterov { g.add(buf.mul(self.momentum)) } else { buf };
        }
        p.sub(g.mul(self.lr))
    }
}
