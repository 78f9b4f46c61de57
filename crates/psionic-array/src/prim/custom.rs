//! Calls of functions with their own rules (`CustomFunction`, `checkpoint`). The rules
//! come from the function (the autodiff layer implements [`CustomRules`] for its calls),
//! so this primitive's definition forwards to them. Inputs: the call's arguments, the
//! tensors requiring grad that it read without being passed them, then its outputs'
//! value (computed when the call was made), which evaluation returns.

use super::{BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::Result;
use psionic_cpu::CpuArray;
use std::borrow::Cow;
use std::sync::Arc;

/// The rules of one call of a function with its own derivative and batching rules; `x`
/// are the node's inputs, `y` its value.
pub trait CustomRules: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &str;
    fn vjp(&self, x: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>>;
    fn jvp(&self, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Tensor>;
    fn batch(&self, x: &[Tensor], b: &[Option<Tensor>], size: usize) -> Result<Tensor>;
}

/// One call. Two calls are never the same computation (their functions may read state),
/// so equality is identity.
#[derive(Clone, Debug)]
pub struct Custom(pub Arc<dyn CustomRules>);

impl PartialEq for Custom {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Primitive for Custom {
    fn backward_name(&self) -> Cow<'static, str> {
        self.0.name().to_string().into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(inputs[inputs.len() - 1].clone())
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        Ok(inputs[inputs.len() - 1].clone())
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        self.0.vjp(c.x, c.y, c.g)
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        self.0.jvp(c.x, c.t).map(Jvp::Tangent)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        self.0.batch(c.x, c.b, c.size)
    }
    /// A custom rule may read any argument or output.
    fn saves(&self) -> Saves {
        Saves::ALL_INPUTS
    }
}
