//! vjp rules of gather and scatter. Gather's gradient is a scatter-add of `g` into zeros;
//! scatter's gradients gather `g` back from the written positions, with the reduction's
//! own weights (counts for mean, ties for amax/amin, products for prod).

use super::{drop_lift, lift, like_first, mask, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::ops::ScatterReduce;
use psionic_core::{DType, Error, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// `out[p] = x[p with p[dim] = index[p]]` (inputs: x, i64 index of x's rank).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gather {
    pub dim: usize,
}

/// A copy of input 0 with input 2's values combined into the positions input 1 (i64,
/// same rank) names along `dim`; see `psionic_cpu::gather::scatter`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scatter {
    pub dim: usize,
    pub reduce: ScatterReduce,
    pub include_self: bool,
}

impl Primitive for Gather {
    fn backward_name(&self) -> Cow<'static, str> {
        "Gather".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        check_index_shape("gather", inputs[1], &[(inputs[0], Some(self.dim))])?;
        Ok(Meta::new(inputs[1].shape.clone(), inputs[0].dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::gather::gather(inputs[0], inputs[1], self.dim)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(gather_vjp(self.dim, &c.x[0], &c.x[1], c.g))
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        c.same(&[&c.tz(0), &c.x[1]])
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let (xs, is) = (lift(&c.full(0), c.lrank(0)), lift(&c.full(1), c.lrank(1)));
        Ok(drop_lift(Tensor::make(Gather { dim: self.dim + 1 }.into(), &[&xs, &is])?, c.lrank(1)))
    }
    /// Indices are read by every gather/scatter rule; values by the nonlinear ones.
    fn saves(&self) -> Saves {
        Saves::of(0b10, false)
    }
}

impl Primitive for Scatter {
    fn backward_name(&self) -> Cow<'static, str> {
        format!("Scatter{:?}", self.reduce).into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        super::same_dtype("scatter", &[inputs[0], inputs[2]])?;
        check_index_shape("scatter", inputs[1], &[(inputs[0], Some(self.dim)), (inputs[2], None)])?;
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::gather::scatter(i[0], i[1], i[2], self.dim, self.reduce, self.include_self)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        scatter_vjp(self.dim, self.reduce, self.include_self, c.x, c.y, c.g)
    }
    /// Assignment, sums and means (fixed counts) are linear in base and source.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        match self.reduce {
            ScatterReduce::Assign | ScatterReduce::Sum | ScatterReduce::Mean => c.same(&[&c.tz(0), &c.x[1], &c.tz(2)]),
            ScatterReduce::Prod | ScatterReduce::Amax | ScatterReduce::Amin => Ok(Jvp::Transpose),
        }
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let p = Scatter { dim: self.dim + 1, ..*self };
        let ins = [lift(&c.full(0), c.lrank(0)), lift(&c.full(1), c.lrank(1)), lift(&c.full(2), c.lrank(2))];
        Ok(drop_lift(Tensor::make(p.into(), &[&ins[0], &ins[1], &ins[2]])?, c.lrank(0)))
    }
    fn saves(&self) -> Saves {
        match self.reduce {
            ScatterReduce::Assign | ScatterReduce::Sum | ScatterReduce::Mean => Saves::of(0b10, false),
            ScatterReduce::Prod | ScatterReduce::Amax | ScatterReduce::Amin => Saves::of(0b111, true),
        }
    }
}

/// An index tensor for gather/scatter: i64, the rank of each operand, and no larger than
/// any of them in any dim but the operand's own `dim` (if given).
fn check_index_shape(op: &'static str, index: &Meta, operands: &[(&Meta, Option<usize>)]) -> Result<()> {
    if index.dtype != DType::I64 {
        return Err(Error::dtype(op, format!("Expected dtype int64 for index, got {}", index.dtype)));
    }
    // An empty index names nothing, so its shape is not checked (as in PyTorch).
    if psionic_core::numel(&index.shape) == 0 {
        return Ok(());
    }
    let rank = |m: &Meta| m.shape.len().max(1);
    for (m, dim) in operands {
        if rank(m) != rank(index) {
            return Err(Error::shape(op, "Index tensor must have the same number of dimensions as input tensor"));
        }
        for (d, &n) in index.shape.iter().enumerate() {
            if Some(d) != *dim && n > m.shape.get(d).copied().unwrap_or(1) {
                return Err(Error::shape(
                    op,
                    format!("Size does not match at dimension {d} expected index {:?} to be no larger than self {:?} apart from dimension {}", index.shape, m.shape, dim.unwrap_or(usize::MAX)),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Tensor {
    crate::mode::check(Tensor::make(Gather { dim }.into(), &[x, index]))
}

pub(crate) fn scatter(
    base: &Tensor,
    dim: usize,
    index: &Tensor,
    src: &Tensor,
    reduce: ScatterReduce,
    include_self: bool,
) -> Tensor {
    crate::mode::check(Tensor::make(Scatter { dim, reduce, include_self }.into(), &[base, index, src]))
}

/// The part of `t` inside the box `shape` (its leading corner): a view.
pub(crate) fn boxed(t: &Tensor, shape: &[usize]) -> Tensor {
    shape
        .iter()
        .enumerate()
        .fold(t.clone(), |v, (d, &n)| if v.size(d as i64) == n { v } else { v.narrow(d as i64, 0, n) })
}

/// `t` (the shape of a box in `shape`'s leading corner) placed into zeros of `shape`.
fn unboxed(t: &Tensor, shape: &[usize]) -> Tensor {
    if t.shape() == shape {
        return t.clone();
    }
    let out = Tensor::zeros(shape, t.dtype());
    boxed(&out, &t.shape()).copy_(t);
    out
}

fn gather_vjp(dim: usize, x: &Tensor, index: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
    // One zero broadcast, not a filled buffer: the scatter's own copy of its base is then
    // a fill, not a second pass over memory.
    let zeros = Tensor::zeros(&[], g.dtype()).broadcast_to(&x.shape());
    vec![Some(scatter(&zeros, dim, index, g, ScatterReduce::Sum, true)), None]
}

fn scatter_vjp(
    dim: usize,
    reduce: ScatterReduce,
    include_self: bool,
    x: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    use ScatterReduce::*;
    let (base, index, src) = (&x[0], &x[1], &x[2]);
    let ishape = index.shape();
    let src_in = boxed(src, &ishape);
    let float = |t: &Tensor| t.to_dtype(g.dtype());
    let zeros_i = Tensor::zeros(&ishape, g.dtype());
    // Positions of `base` that receive at least one value.
    let written = || {
        scatter(
            &base.zeros_like().to_dtype(DType::Bool),
            dim,
            index,
            &zeros_i.ones_like().to_dtype(DType::Bool),
            Assign,
            true,
        )
    };
    let (g_base, g_src) = match reduce {
        Assign => (scatter(g, dim, index, &zeros_i, Assign, true), gather(g, dim, index)),
        Sum if include_self => (g.clone(), gather(g, dim, index)),
        Sum => (mask(&written().logical_not(), g), gather(g, dim, index)),
        Mean => {
            let own = if include_self { g.ones_like() } else { g.zeros_like() };
            let n = scatter(&own, dim, index, &zeros_i.ones_like(), Sum, true).clamp(Some(1.0), None::<f64>);
            let gn = g / &n;
            let gb = if include_self { gn.clone() } else { mask(&written().logical_not(), g) };
            (gb, gather(&gn, dim, index))
        }
        Amax | Amin => {
            let at_src = src_in.eq(gather(y, dim, index));
            let at_base = if include_self { base.eq(y) } else { base.eq(y).logical_and(written().logical_not()) };
            let n = scatter(&float(&at_base), dim, index, &float(&at_src), Sum, true);
            let gn = g / &n;
            (mask(&at_base, &gn), mask(&at_src, &gather(&gn, dim, index)))
        }
        Prod => {
            // Dividing the result by a factor fails where that factor is 0: recompute the
            // product with the zero replaced by 1 instead (a zero elsewhere still gives 0).
            let base_zero = base.eq(0.0);
            let base_safe = Tensor::where_(&base_zero, 1.0, base);
            let y_base_safe = scatter(&base_safe, dim, index, src, Prod, include_self);
            let gb = &(g * &y_base_safe) / &base_safe;
            let gb = if include_self { gb } else { mask(&written().logical_not(), g) };
            let src_zero = src_in.eq(0.0);
            let zeros_in_target =
                gather(&scatter(&g.zeros_like(), dim, index, &float(&src_zero), Sum, true), dim, index);
            let single_zero = src_zero.logical_and(zeros_in_target.eq(1.0));
            let src_safe = Tensor::where_(&single_zero, 1.0, &src_in);
            let y_src_safe = scatter(base, dim, index, &src_safe, Prod, include_self);
            let divided = &gather(&(g * y), dim, index) / &Tensor::where_(&src_zero, 1.0, &src_in);
            (gb, Tensor::where_(&single_zero, gather(&(g * &y_src_safe), dim, index), &divided))
        }
    };
    Ok(vec![Some(g_base), None, Some(unboxed(&g_src, &src.shape()))])
}
