//! Concatenation and slice updates (the functional form of a write through a view):
//! their gradients are routed back to the positions they came from.

use super::{batched_view, like_first, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, ViewOp, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::{Layout, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// The inputs joined along `dim`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cat {
    pub dim: usize,
}

/// Writes input 1 into the positions of input 0 that `chain` (applied to a contiguous
/// layout of input 0) selects: the functional form of a write through a view.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceUpdate {
    pub chain: Vec<ViewOp>,
}

impl Primitive for Cat {
    fn backward_name(&self) -> Cow<'static, str> {
        "Cat".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let d = super::same_dtype("cat", inputs)?;
        let mut shape = inputs[0].shape.clone();
        shape[self.dim] = inputs.iter().map(|m| m.shape[self.dim]).sum();
        Ok(Meta::new(shape, d))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        let out_l = Layout::contiguous(&out.shape);
        let mut start = 0i64;
        let mut pieces = Vec::with_capacity(inputs.len());
        for a in inputs {
            let len = a.shape()[self.dim];
            pieces.push((out_l.narrow("cat", self.dim as i64, start, len)?, *a));
            start += len as i64;
        }
        Ok(psionic_cpu::index::assemble(&out.shape, out.dtype, &pieces))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(cat_vjp(self.dim, c.x, c.g))
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        let ts: Vec<Tensor> = (0..c.x.len()).map(|i| c.tz(i)).collect();
        c.same(&ts.iter().collect::<Vec<_>>())
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let ins = c.all_full();
        Tensor::make(Cat { dim: self.dim + 1 }.into(), &ins.iter().collect::<Vec<_>>())
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

impl Primitive for SliceUpdate {
    fn backward_name(&self) -> Cow<'static, str> {
        "CopySlices".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        let (base, vals) = (inputs[0], inputs[1]);
        let replay = |l: &Layout| {
            self.chain.iter().try_fold(l.clone(), |acc, v| v.apply(&acc)).expect("chain was valid on the base")
        };
        Ok(psionic_cpu::with_dtype!(base.dtype(), T => psionic_cpu::elementwise::scatter_into::<T>(base, replay, vals)))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        slice_update_vjp(&self.chain, &c.x[1], c.g)
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        c.same(&[&c.tz(0), &c.tz(1)])
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let mut l = Layout::contiguous(&c.x[0].shape());
        let mut phys = vec![];
        for op in &self.chain {
            phys.extend(batched_view(op, &l.shape, c.size)?);
            l = op.apply(&l)?;
        }
        Tensor::make(SliceUpdate { chain: phys }.into(), &[&c.full(0), &c.full(1)])
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

fn cat_vjp(dim: usize, xs: &[Tensor], g: &Tensor) -> Vec<Option<Tensor>> {
    let mut start = 0i64;
    xs.iter()
        .map(|x| {
            let len = x.shape()[dim];
            let piece = g.narrow(dim as i64, start, len);
            start += len as i64;
            Some(piece)
        })
        .collect()
}

/// `base` with `value` written where `chain` points: the base gets `g` with that region
/// zeroed, the value gets `g` seen through the chain.
fn slice_update_vjp(chain: &[ViewOp], value: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let zeros = Tensor::zeros(&value.shape(), g.dtype());
    let g_base = Tensor::make(SliceUpdate { chain: chain.to_vec() }.into(), &[g, &zeros])?;
    let g_value = chain.iter().fold(g.clone(), |t, op| t.view_op(op.clone()));
    Ok(vec![Some(g_base), Some(g_value)])
}
