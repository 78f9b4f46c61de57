//! Elementwise regression losses (`torch.nn.functional` names) with PyTorch's
//! reductions. Built from elementwise ops, so both arguments are differentiable.

use crate::autocast;
use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::Error;

/// How a loss reduces its elementwise values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl Reduction {
    pub fn from_name(name: &str) -> Option<Reduction> {
        match name {
            "none" => Some(Reduction::None),
            "mean" => Some(Reduction::Mean),
            "sum" => Some(Reduction::Sum),
            _ => None,
        }
    }

    /// Reduces elementwise loss values: as they are, their mean, or their sum.
    pub fn apply(self, t: Tensor) -> Tensor {
        match self {
            Reduction::None => t,
            Reduction::Mean => t.mean_all(),
            Reduction::Sum => t.sum_all(),
        }
    }
}

/// The difference of input and target, broadcast as PyTorch broadcasts them.
fn diff(op: &'static str, input: &Tensor, target: &Tensor) -> Tensor {
    if !input.dtype().is_float() && !target.dtype().is_float() {
        raise(Error::dtype(op, format!("\"{op}\" not implemented for '{}'", input.dtype().name())));
    }
    input.sub(target)
}

impl Tensor {
    /// `mse_loss`: `(input - target)²`, reduced.
    #[track_caller]
    pub fn mse_loss(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        let (i, t) = (autocast::full(self), autocast::full(target));
        if let Some(y) = autocast::casting(|| i.mse_loss(&t, reduction)) {
            return y;
        }
        reduction.apply(diff("mse_loss", self, target).square())
    }

    /// `l1_loss`: `|input - target|`, reduced.
    #[track_caller]
    pub fn l1_loss(&self, target: &Tensor, reduction: Reduction) -> Tensor {
        let (i, t) = (autocast::full(self), autocast::full(target));
        if let Some(y) = autocast::casting(|| i.l1_loss(&t, reduction)) {
            return y;
        }
        reduction.apply(diff("l1_loss", self, target).abs())
    }

    /// `smooth_l1_loss`: `0.5 d² / beta` where `|d| < beta`, `|d| - 0.5 beta` elsewhere
    /// (plain L1 for `beta = 0`).
    #[track_caller]
    pub fn smooth_l1_loss(&self, target: &Tensor, reduction: Reduction, beta: f64) -> Tensor {
        let (i, t) = (autocast::full(self), autocast::full(target));
        if let Some(y) = autocast::casting(|| i.smooth_l1_loss(&t, reduction, beta)) {
            return y;
        }
        if beta < 0.0 {
            raise(Error::invalid("smooth_l1_loss", "smooth_l1_loss does not support negative values for beta."));
        }
        let d = diff("smooth_l1_loss", self, target).abs();
        if beta == 0.0 {
            return reduction.apply(d);
        }
        reduction.apply(Tensor::where_(&d.lt(beta), d.square().mul(0.5 / beta), d.sub(0.5 * beta)))
    }

    /// `huber_loss`: `0.5 d²` where `|d| < delta`, `delta (|d| - 0.5 delta)` elsewhere.
    #[track_caller]
    pub fn huber_loss(&self, target: &Tensor, reduction: Reduction, delta: f64) -> Tensor {
        let (i, t) = (autocast::full(self), autocast::full(target));
        if let Some(y) = autocast::casting(|| i.huber_loss(&t, reduction, delta)) {
            return y;
        }
        if delta <= 0.0 {
            raise(Error::invalid("huber_loss", "huber_loss does not support non-positive values for delta."));
        }
        let d = diff("huber_loss", self, target).abs();
        reduction.apply(Tensor::where_(&d.lt(delta), d.square().mul(0.5), d.sub(0.5 * delta).mul(delta)))
    }
}
