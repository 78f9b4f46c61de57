//! softmax and log_softmax along one dim, fused into one kernel per line, and their
//! gradient (also one fused pass per line, with its own vjp for second derivatives).

use super::{like_first, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::mode::check;
use crate::tensor::Tensor;
use psionic_core::{Error, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// softmax (or log_softmax when `log`) along `dim`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    pub dim: usize,
    pub log: bool,
}

/// The gradient of softmax (log_softmax when `log`) along `dim` from its output (input
/// 0) and the output's gradient (input 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxGrad {
    pub dim: usize,
    pub log: bool,
}

impl Primitive for Softmax {
    fn backward_name(&self) -> Cow<'static, str> {
        if self.log { "LogSoftmax" } else { "Softmax" }.into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::softmax::softmax(inputs[0], self.dim, self.log)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(softmax_vjp(self.dim, self.log, c.y, c.g))])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Tangent(softmax_jvp(self.dim, self.log, c.y, &c.tz(0))))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        Tensor::make(Softmax { dim: self.dim + 1, log: self.log }.into(), &[&c.full(0)])
    }
    fn saves(&self) -> Saves {
        Saves::of(0, true)
    }
}

impl Primitive for SoftmaxGrad {
    fn backward_name(&self) -> Cow<'static, str> {
        if self.log { "LogSoftmaxBackwardData" } else { "SoftmaxBackwardData" }.into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let (y, g, dim) = (&inputs[0], &inputs[1], self.dim);
        if y.shape != g.shape || dim >= y.shape.len().max(1) {
            return Err(Error::shape(
                "softmax_backward",
                format!("output {:?} and gradient {:?} must have one shape with dim {dim}", y.shape, g.shape),
            ));
        }
        super::same_dtype("softmax_backward", inputs)?;
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::softmax::softmax_grad(inputs[0], inputs[1], self.dim, self.log)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(softmax_grad_vjp(self.dim, self.log, &c.x[0], &c.x[1], c.g))
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Transpose)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        Tensor::make(SoftmaxGrad { dim: self.dim + 1, log: self.log }.into(), &[&c.full(0), &c.full(1)])
    }
    fn saves(&self) -> Saves {
        Saves::of(0b11, false)
    }
}

/// softmax: `y (g - sum(g y))`; log_softmax: `g - e^y sum(g)`, both summed along `dim`.
pub(crate) fn softmax_vjp(dim: usize, log: bool, y: &Tensor, g: &Tensor) -> Tensor {
    if y.dtype() == g.dtype() && y.numel() > 0 {
        return check(Tensor::make(SoftmaxGrad { dim, log }.into(), &[y, g]));
    }
    let d = dim as i64;
    if log {
        g - &(&y.exp() * &g.sum(d, true))
    } else {
        y * &(g - &(g * y).sum(d, true))
    }
}

/// The vjp of softmax's gradient `dx(y, g)` for the cotangent `u`. softmax's
/// (`y (g - s)`, `s = sum(g y)`): `u (g - s) - g sum(u y)` for `y`, and its own gradient of
/// `u` for `g` (the Jacobian is symmetric). log_softmax's (`g - e^y sum(g)`):
/// `-u e^y sum(g)` for `y` and `u - sum(u e^y)` for `g`.
fn softmax_grad_vjp(dim: usize, log: bool, y: &Tensor, g: &Tensor, u: &Tensor) -> Vec<Option<Tensor>> {
    let d = dim as i64;
    if log {
        let e = y.exp();
        let gy = -&(&(u * &e) * &g.sum(d, true));
        let gg = u - &(u * &e).sum(d, true);
        vec![Some(gy), Some(gg)]
    } else {
        let s = (g * y).sum(d, true);
        let gy = &(u * &(g - &s)) - &(g * &(u * y).sum(d, true));
        vec![Some(gy), Some(softmax_vjp(dim, false, y, u))]
    }
}

/// The tangent of softmax (`y (t - sum(t y))`) or log_softmax (`t - sum(e^y t)`).
fn softmax_jvp(dim: usize, log: bool, y: &Tensor, t: &Tensor) -> Tensor {
    let d = dim as i64;
    if log {
        t - &(&y.exp() * t).sum(d, true)
    } else {
        y * &(t - &(t * y).sum(d, true))
    }
}
