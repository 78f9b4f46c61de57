//! vjp rules of gather and scatter. Gather's gradient is a scatter-add of `g` into zeros;
//! scatter's gradients gather `g` back from the written positions, with the reduction's
//! own weights (counts for mean, ties for amax/amin, products for prod).

use super::mask;
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::ScatterReduce;
use psionic_core::Result;

pub(crate) fn gather(x: &Tensor, dim: usize, index: &Tensor) -> Tensor {
    crate::mode::check(Tensor::make(Prim::Gather { dim }, &[x, index]))
}

pub(crate) fn scatter(
    base: &Tensor,
    dim: usize,
    index: &Tensor,
    src: &Tensor,
    reduce: ScatterReduce,
    include_self: bool,
) -> Tensor {
    crate::mode::check(Tensor::make(Prim::Scatter { dim, reduce, include_self }, &[base, index, src]))
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

pub(super) fn gather_vjp(dim: usize, x: &Tensor, index: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
    // One zero broadcast, not a filled buffer: the scatter's own copy of its base is then
    // a fill, not a second pass over memory.
    let zeros = Tensor::zeros(&[], g.dtype()).broadcast_to(&x.shape());
    vec![Some(scatter(&zeros, dim, index, g, ScatterReduce::Sum, true)), None]
}

pub(super) fn scatter_vjp(
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
            &base.zeros_like().to_dtype(psionic_core::DType::Bool),
            dim,
            index,
            &zeros_i.ones_like().to_dtype(psionic_core::DType::Bool),
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
