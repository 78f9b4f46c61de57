//! One Adam step (`torch.optim.Adam`'s single-tensor arithmetic) of parameter input 0
//! with gradient input 1 and moments inputs 2 and 3 (one shape, one dtype: f32 or f64):
//! the new parameter and moments as the rows of a `[3, ...]` result. Built only untraced
//! (see `Tensor::fused_adam`): it has no derivative rules.

use super::{BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::{DType, Error, Result};
use psionic_cpu::adam::AdamCoeffs;
use psionic_cpu::CpuArray;
use std::borrow::Cow;

impl Primitive for AdamCoeffs {
    fn backward_name(&self) -> Cow<'static, str> {
        "FusedAdam".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let (p, d) = (&inputs[0].shape, inputs[0].dtype);
        if inputs.iter().any(|m| m.shape != *p || m.dtype != d) || !matches!(d, DType::F32 | DType::F64) {
            return Err(Error::shape(
                "adam_step",
                "the parameter, gradient and moments must be f32 or f64 tensors of one shape and dtype",
            ));
        }
        Ok(Meta::new([[3].as_slice(), p].concat(), d))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::adam::adam_step(i[0], i[1], i[2], i[3], self)
    }
    fn vjp(&self, _: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Err(super::not_differentiable_step("adam_step"))
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Err(super::not_differentiable_step("adam_step"))
    }
    /// Elementwise over operands of one shape; the result's rows of three come first.
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        Ok(c.same(&c.all_full())?.transpose(0, 1))
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
    fn shape_polymorphic(&self) -> bool {
        false
    }
}
