//! Elementwise copies: a dtype conversion and a contiguous copy. Both are linear, so
//! their rules apply themselves to the cotangent or tangent.

use super::{like_first, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::{DType, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// A copy converted to the dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cast(pub DType);

/// A contiguous copy (PyTorch's `clone` of a strided view).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Contiguous;

impl Primitive for Cast {
    fn backward_name(&self) -> Cow<'static, str> {
        "ToCopy".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(Meta::new(inputs[0].shape.clone(), self.0))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        Ok(psionic_cpu::cast::cast(inputs[0], self.0))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(c.g.to_dtype(c.x[0].dtype()))])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Tangent(c.tz(0).to_dtype(self.0)))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&[c.full(0)])
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

impl Primitive for Contiguous {
    fn backward_name(&self) -> Cow<'static, str> {
        "Clone".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        let x = inputs[0];
        Ok(psionic_cpu::with_dtype!(x.dtype(), T => psionic_cpu::elementwise::contiguous::<T>(x)))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(c.g.clone())])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Tangent(c.tz(0)))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&[c.full(0)])
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}
