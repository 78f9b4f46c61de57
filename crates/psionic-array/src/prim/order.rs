//! Positions: sorting permutations, insertion points and max pooling's picks. Their
//! outputs are integers, so they have no gradient and a zero tangent.

use super::{
    broadcast, drop_lift, lift, no_grads, zero_tangent, BatchCtx, Jvp, JvpCtx, Meta, Prim, Primitive, Saves, VjpCtx,
};
use crate::ops::args::dims_i64;
use crate::tensor::Tensor;
use psionic_core::ops::OrderOp;
use psionic_core::{DType, Error, Result};
use psionic_cpu::pool::PoolGeometry;
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// i64 positions along `dim`: a sorting permutation or the mode's index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    pub op: OrderOp,
    pub dim: usize,
}

/// Insertion points of input 1's values in input 0's sorted last dim.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchSorted {
    pub right: bool,
}

impl Primitive for Order {
    fn backward_name(&self) -> Cow<'static, str> {
        "Sort".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let mut shape = inputs[0].shape.clone();
        if self.op == OrderOp::Mode && !shape.is_empty() {
            shape[self.dim] = 1;
        }
        Ok(Meta::new(shape, DType::I64))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::order::order(self.op, inputs[0], self.dim)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        no_grads(c)
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        zero_tangent(c)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let p = Order { op: self.op, dim: self.dim + 1 };
        Ok(drop_lift(Tensor::make(p.into(), &[&lift(&c.full(0), c.lrank(0))])?, c.lrank(0)))
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

impl Primitive for SearchSorted {
    fn backward_name(&self) -> Cow<'static, str> {
        "Searchsorted".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let (s, v) = (&inputs[0].shape, &inputs[1].shape);
        if s.len() > 1 && (s.len() != v.len() || s[..s.len() - 1] != v[..v.len() - 1]) {
            return Err(Error::shape(
                "searchsorted",
                format!("boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries tensor and input value tensor must match, but we got boundaries tensor {s:?} and input value tensor {v:?}"),
            ));
        }
        super::same_dtype("searchsorted", inputs)?;
        Ok(Meta::new(v.clone(), DType::I64))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::order::searchsorted(inputs[0], inputs[1], self.right)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        no_grads(c)
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        zero_tangent(c)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        searchsorted(c.x, c.b, c.size, self.right)
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

/// Max pooling's picks over the last dims: for each window of input 0 the flat position
/// in its plane of the element it selects (i64, not differentiable).
impl Primitive for PoolGeometry {
    fn backward_name(&self) -> Cow<'static, str> {
        "MaxPoolIndices".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let x = &inputs[0].shape;
        let k = self.input.len();
        if x.len() < k || x[x.len() - k..] != self.input[..] {
            return Err(Error::shape(
                "max_pool",
                format!("input {x:?} does not end in the pooled sizes {:?}", self.input),
            ));
        }
        Ok(Meta::new([&x[..x.len() - k], &self.output[..]].concat(), DType::I64))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        Ok(psionic_cpu::pool::max_pool_index(inputs[0], self, &out.shape))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        no_grads(c)
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        zero_tangent(c)
    }
    /// Pooling works on the last dims; the batch joins the leading ones.
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&[c.full(0)])
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

/// searchsorted per example: a shared 1-d sequence searches any values as they are; a
/// batched one gets the values' leading dims (as the N-d form requires).
fn searchsorted(x: &[Tensor], b: &[Option<Tensor>], size: usize, right: bool) -> Result<Tensor> {
    let prim: Prim = SearchSorted { right }.into();
    let vshape = x[1].shape();
    let vals = b[1].clone().unwrap_or_else(|| broadcast(&x[1], size));
    if b[0].is_none() && x[0].dim() == 1 {
        return Tensor::make(prim, &[&x[0], &vals]);
    }
    let vals = if vshape.is_empty() { vals.unsqueeze(1) } else { vals };
    let mut seq = b[0].clone().unwrap_or_else(|| broadcast(&x[0], size));
    if x[0].dim() == 1 {
        let mut target = dims_i64(&vals.shape());
        *target.last_mut().expect("values have the batch dim") = x[0].size(0) as i64;
        for _ in 2..vals.dim() {
            seq = seq.unsqueeze(1);
        }
        seq = seq.expand(&target);
    }
    let out = Tensor::make(prim, &[&seq, &vals])?;
    let mut shape = vec![size as i64];
    shape.extend(dims_i64(&vshape));
    Ok(out.reshape(&shape))
}
