//! The transforms of the composites that fused kernels stand for (`prim::Fallback`): a
//! fused kernel without a rule of its own (grad of a fused gradient, the tangent of an
//! optimizer step) is differentiated or batched as the ops it computes, by the same
//! transforms a user's function goes through.

use super::{custom, forward, vmap};
use crate::prim::{Composite, Fallback};
use crate::tensor::Tensor;
use psionic_core::Result;

/// The one implementation, handed to every rule the transforms run.
pub(crate) struct Transforms;

impl Fallback for Transforms {
    /// Backward through the recomputed composite (as `checkpoint` does), recorded when
    /// grad mode is on, so a third derivative goes through it again.
    fn vjp(&self, f: Composite, x: &[Tensor], g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        custom::vjp_of(&|a: &[Tensor]| vec![f(a)], "composite", x, &[], std::slice::from_ref(g))
    }

    fn jvp(&self, f: Composite, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Tensor> {
        let ts: Vec<Tensor> = x.iter().zip(t).map(|(x, t)| t.clone().unwrap_or_else(|| x.zeros_like())).collect();
        Ok(forward::jvp(|a| vec![f(a)], x, &ts).1.remove(0))
    }

    fn batch(&self, f: Composite, x: &[Tensor], b: &[Option<Tensor>]) -> Result<Tensor> {
        let ins: Vec<Tensor> = x.iter().zip(b).map(|(x, b)| b.clone().unwrap_or_else(|| x.clone())).collect();
        let axes: Vec<Option<i64>> = b.iter().map(|b| b.as_ref().map(|_| 0)).collect();
        Ok(vmap::vmap(|a: &[Tensor]| vec![f(a)], &axes, &[Some(0)])(&ins).remove(0))
    }
}
