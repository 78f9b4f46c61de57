//! Rules of the three-input elementwise primitives (lerp, addcmul, addcdiv). Each input's
//! diagonal Jacobian applied to a cotangent or tangent `g`, grouped as PyTorch's
//! derivative formulas group it (a broadcast input's gradient sums many such products,
//! so the rounding of each one shows when the sum cancels); the vjp sums it over
//! broadcast dims, the jvp adds up the inputs' terms.

use super::unbroadcast;
use crate::tensor::Tensor;
use psionic_core::ops::TernaryOp;

/// `∂op/∂x[i] * g`, elementwise.
fn times(op: TernaryOp, x: &[Tensor], i: usize, g: &Tensor) -> Tensor {
    match (op, i) {
        (TernaryOp::Lerp, 0) => g * &x[2].neg().add(1.0),
        (TernaryOp::Lerp, 1) => g * &x[2],
        (TernaryOp::Lerp, _) => g * &(&x[1] - &x[0]),
        (_, 0) => g.clone(),
        (TernaryOp::Addcmul(v), 1) => g * &scaled(&x[2], v),
        (TernaryOp::Addcmul(v), _) => g * &scaled(&x[1], v),
        (TernaryOp::Addcdiv(v), 1) => g * &x[2].reciprocal().mul(v),
        (TernaryOp::Addcdiv(v), _) => &(&g.neg().mul(v) * &x[1]) / &(&x[2] * &x[2]),
    }
}

/// `t * v`, or `t` itself when `v` is 1 (exact either way): a full-size pass saved when
/// `addcmul` is a plain fused `input + t1 * t2`, as in batch norm.
fn scaled(t: &Tensor, v: f64) -> Tensor {
    if v == 1.0 {
        t.clone()
    } else {
        t.mul(v)
    }
}

pub(super) fn vjp(op: TernaryOp, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    (0..3).map(|i| needs[i].then(|| unbroadcast(&times(op, x, i, g), &x[i].shape()))).collect()
}

pub(super) fn jvp(op: TernaryOp, x: &[Tensor], y: &Tensor, t: &[Option<Tensor>]) -> Tensor {
    let shape = y.shape();
    t.iter().enumerate().fold(y.zeros_like(), |out, (i, ti)| match ti {
        None => out,
        Some(ti) => &out + &times(op, x, i, &ti.broadcast_to(&shape)),
    })
}
