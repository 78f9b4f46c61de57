//! Nodes without a computation: host data and placeholders. Both are built with their
//! meta (`Node::stored`, `graph::symbolic`, vmap's examples), never by an op, so their
//! inference is unreachable and no rule ever sees them with inputs.

use super::{zero_tangent, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::{Error, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// Data supplied from the host; born evaluated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Const;

/// A value known by shape and dtype only: one example of a batched value inside `vmap`
/// (its values exist only in the batched twin) or an input while `compile` traces.
/// Evaluating it refuses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placeholder;

impl Primitive for Const {
    fn backward_name(&self) -> Cow<'static, str> {
        "Leaf".into()
    }
    fn infer(&self, _: &[&Meta]) -> Result<Meta> {
        unreachable!("constants are built with their meta")
    }
    fn eval_cpu(&self, _: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        unreachable!("constants are born evaluated")
    }
    fn vjp(&self, _: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        zero_tangent(c)
    }
    fn batch(&self, _: &BatchCtx) -> Result<Tensor> {
        unreachable!("nodes without inputs are never batched by a rule")
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

impl Primitive for Placeholder {
    fn backward_name(&self) -> Cow<'static, str> {
        "Batched".into()
    }
    fn infer(&self, _: &[&Meta]) -> Result<Meta> {
        unreachable!("placeholders are built with their meta")
    }
    fn eval_cpu(&self, _: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        Err(Error::invalid(
            "vmap/compile",
            "the values of a batched tensor are not available inside the vmapped function, nor those of an input inside a function being compiled (they see shapes only); move value-dependent code (item, to_vec, printing, as_strided) outside vmap or compile",
        ))
    }
    fn vjp(&self, _: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        zero_tangent(c)
    }
    fn batch(&self, _: &BatchCtx) -> Result<Tensor> {
        unreachable!("nodes without inputs are never batched by a rule")
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}
