//! vjp rules of views, concatenation and slice updates: gradients are routed back to
//! the positions they came from.

use super::unbroadcast;
use crate::mode::check;
use crate::ops::args::{dims_i64, inverse_permutation};
use crate::prim::{Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::{Error, Layout, Result};

/// `g` scattered into zeros of `x`'s shape at the positions `chain` selects.
fn scatter(x_shape: &[usize], chain: Vec<ViewOp>, g: &Tensor) -> Tensor {
    let zeros = Tensor::zeros(x_shape, g.dtype());
    check(Tensor::make(Prim::SliceUpdate { chain }, &[&zeros, g]))
}

pub(crate) fn view_vjp(v: &ViewOp, x: &Tensor, g: &Tensor) -> Result<Tensor> {
    let shape = x.shape();
    Ok(match v {
        ViewOp::Reshape(_) | ViewOp::Unsqueeze(_) | ViewOp::Squeeze(_) => g.reshape(&dims_i64(&shape)),
        ViewOp::Permute(p) => g.permute(&inverse_permutation(p, shape.len())),
        ViewOp::Expand(_) => unbroadcast(g, &shape),
        ViewOp::Flip(_) => g.view_op(v.clone()),
        ViewOp::Slice { .. } | ViewOp::Select { .. } | ViewOp::Diagonal { .. } => scatter(&shape, vec![v.clone()], g),
        // A 0-d input unfolds into `size` (0 or 1) copies of its element.
        ViewOp::Unfold { .. } if shape.is_empty() => g.sum_all(),
        ViewOp::Unfold { dim, size, step } => {
            // Windows overlap when step < size: add one strided slice per window offset.
            let d = psionic_core::normalize_dim("unfold", *dim, shape.len().max(1))? as i64;
            let windows = g.size(d);
            let mut acc = Tensor::zeros(&shape, g.dtype());
            for k in 0..*size {
                let stop = (k + step * windows.saturating_sub(1) + 1) as i64;
                let chain = vec![ViewOp::Slice { dim: d, start: Some(k as i64), stop: Some(stop), step: *step as i64 }];
                acc = &acc + &scatter(&shape, chain, &g.select(-1, k as i64));
            }
            acc
        }
        ViewOp::Windows { kernel, stride, dilation } => {
            let spatial = shape[shape.len() - kernel.len()..].to_vec();
            let p = Prim::Fold { spatial, kernel: kernel.clone(), stride: stride.clone(), dilation: dilation.clone() };
            check(Tensor::make(p, &[g]))
        }
        ViewOp::AsStrided { shape: s, strides, offset } => {
            let xl = x.array().layout;
            if !xl.is_contiguous() || *offset < xl.offset {
                return Err(Error::invalid("as_strided backward", "needs an input that is contiguous in its storage"));
            }
            let rel = Layout { shape: s.clone(), strides: strides.clone(), offset: offset - xl.offset };
            if !rel.is_non_overlapping() {
                return Err(Error::invalid("as_strided backward", "overlapping as_strided views are not supported"));
            }
            let chain = vec![ViewOp::AsStrided { shape: rel.shape, strides: rel.strides, offset: rel.offset }];
            scatter(&shape, chain, g)
        }
    })
}

pub(super) fn cat_vjp(dim: usize, xs: &[Tensor], g: &Tensor) -> Vec<Option<Tensor>> {
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
pub(super) fn slice_update_vjp(
    chain: &[ViewOp],
    _base: &Tensor,
    value: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let zeros = Tensor::zeros(&value.shape(), g.dtype());
    let g_base = Tensor::make(Prim::SliceUpdate { chain: chain.to_vec() }, &[g, &zeros])?;
    let g_value = chain.iter().fold(g.clone(), |t, op| t.view_op(op.clone()));
    Ok(vec![Some(g_base), Some(g_value)])
}
