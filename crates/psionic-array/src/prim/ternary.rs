//! The three-input elementwise primitives: lerp, addcmul, addcdiv (`TernaryOp`), and
//! `where`. Each of the first three's inputs has its
//! diagonal Jacobian applied to a cotangent or tangent `g`, grouped as PyTorch's
//! derivative formulas group it (a broadcast input's gradient sums many such products,
//! so the rounding of each one shows when the sum cancels); the vjp sums it over
//! broadcast dims, the jvp adds up the inputs' terms.

use super::binary::elementwise_batch;
use super::{unbroadcast, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::ops::TernaryOp;
use psionic_core::{broadcast_shapes, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

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

/// The broadcast shape of three inputs.
fn broadcast3(op: &'static str, inputs: &[&Meta]) -> Result<psionic_core::Dims> {
    let s = broadcast_shapes(op, &inputs[0].shape, &inputs[1].shape)?;
    broadcast_shapes(op, &s, &inputs[2].shape)
}

impl Primitive for TernaryOp {
    fn backward_name(&self) -> Cow<'static, str> {
        super::kind_name(self)
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let d = super::same_dtype(self.name(), inputs)?;
        Ok(Meta::new(broadcast3(self.name(), inputs)?, d))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        psionic_cpu::ternary::ternary(*self, inputs[0], inputs[1], inputs[2], &out.shape)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok((0..3).map(|i| c.needs[i].then(|| unbroadcast(&times(*self, c.x, i, c.g), &c.x[i].shape()))).collect())
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        let shape = c.y.shape();
        Ok(Jvp::Tangent(c.t.iter().enumerate().fold(c.y.zeros_like(), |out, (i, ti)| match ti {
            None => out,
            Some(ti) => &out + &times(*self, c.x, i, &ti.broadcast_to(&shape)),
        })))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        elementwise_batch(c)
    }
    /// What `times` reads: lerp's weight and both ends; the products' two factors.
    fn saves(&self) -> Saves {
        match self {
            TernaryOp::Lerp => Saves::of(0b111, false),
            TernaryOp::Addcmul(_) | TernaryOp::Addcdiv(_) => Saves::of(0b110, false),
        }
    }
}

/// `where(cond, a, b)`: `a` where the condition holds, else `b`, broadcast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Where;

impl Primitive for Where {
    fn backward_name(&self) -> Cow<'static, str> {
        "Where".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        super::same_dtype("where", &inputs[1..])?;
        Ok(Meta::new(broadcast3("where", inputs)?, inputs[1].dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        Ok(psionic_cpu::index::where_(inputs[0], inputs[1], inputs[2], &out.shape))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        let (cond, g) = (&c.x[0], c.g);
        let ga = c.needs[1].then(|| unbroadcast(&Tensor::where_(cond, g, 0.0), &c.x[1].shape()));
        let gb = c.needs[2].then(|| unbroadcast(&Tensor::where_(cond, 0.0, g), &c.x[2].shape()));
        Ok(vec![None, ga, gb])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        let shape = c.y.shape();
        Ok(Jvp::Tangent(Tensor::where_(&c.x[0], c.tz(1).broadcast_to(&shape), c.tz(2).broadcast_to(&shape))))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        elementwise_batch(c)
    }
    fn saves(&self) -> Saves {
        Saves::of(0b1, false)
    }
}
