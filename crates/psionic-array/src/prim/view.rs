//! Views: layout transforms that share storage (`ViewOp`), each a primitive whose
//! evaluation only computes a layout.

use super::{unbroadcast, BatchCtx, Fold, Jvp, JvpCtx, Meta, Primitive, Saves, SliceUpdate, VjpCtx};
use crate::mode::check;
use crate::ops::args::{dims_i64, inverse_permutation};
use crate::tensor::Tensor;
use psionic_core::shape::{normalize_dim, normalize_insert_dim};
use psionic_core::{Dims, Error, Layout, Result, Strides};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// A layout transform that shares storage. Views remember the chain of these from their
/// base so a write through a view can be replayed onto a new version of the base.
#[derive(Clone, Debug, PartialEq)]
pub enum ViewOp {
    /// Reinterpret the shape; only built when the strides allow it.
    Reshape(Vec<usize>),
    Permute(Vec<i64>),
    Slice {
        dim: i64,
        start: Option<i64>,
        stop: Option<i64>,
        step: i64,
    },
    Select {
        dim: i64,
        index: i64,
    },
    Expand(Vec<usize>),
    Unsqueeze(i64),
    Squeeze(Option<Vec<i64>>),
    Diagonal {
        offset: i64,
        d1: i64,
        d2: i64,
    },
    Unfold {
        dim: i64,
        size: usize,
        step: usize,
    },
    AsStrided {
        shape: Dims,
        strides: Strides,
        offset: usize,
    },
    /// Reverses the given (normalized) dims with negative strides; `flip` copies it.
    Flip(Vec<usize>),
    /// Sliding windows over the last dims (see `Layout::windows`): im2col as a view.
    Windows {
        kernel: Vec<usize>,
        stride: Vec<usize>,
        dilation: Vec<usize>,
    },
}

impl ViewOp {
    pub fn apply(&self, l: &Layout) -> Result<Layout> {
        match self {
            ViewOp::Reshape(s) => l.view(s).ok_or_else(|| {
                Error::shape(
                    "view",
                    format!(
                        "view size is not compatible with input tensor's size and stride (shape {:?}, strides {:?}, requested {:?}); use .reshape(...) instead.",
                        l.shape, l.strides, s
                    ),
                )
            }),
            ViewOp::Permute(d) => l.permute("permute", d),
            ViewOp::Slice { dim, start, stop, step } => l.slice("slice", *dim, *start, *stop, *step),
            ViewOp::Select { dim, index } => l.select("select", *dim, *index),
            ViewOp::Expand(s) => l.expand("expand", s),
            ViewOp::Unsqueeze(d) => l.unsqueeze("unsqueeze", *d),
            ViewOp::Squeeze(d) => l.squeeze("squeeze", d.as_deref()),
            ViewOp::Diagonal { offset, d1, d2 } => l.diagonal("diagonal", *offset, *d1, *d2),
            ViewOp::Unfold { dim, size, step } => l.unfold("unfold", *dim, *size, *step),
            ViewOp::AsStrided { shape, strides, offset } => Ok(Layout { shape: shape.clone(), strides: strides.clone(), offset: *offset }),
            ViewOp::Flip(dims) => Ok(l.flip(dims)),
            ViewOp::Windows { kernel, stride, dilation } => l.windows("windows", kernel, stride, dilation),
        }
    }
}

impl Primitive for ViewOp {
    fn backward_name(&self) -> Cow<'static, str> {
        super::kind_name(self)
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let l = inputs[0].layout();
        if let ViewOp::Reshape(s) = self {
            if psionic_core::numel(s) != l.numel() {
                return Err(Error::shape("view", format!("shape '{s:?}' is invalid for input of size {}", l.numel())));
            }
        }
        let out = self.apply(&l)?;
        Ok(Meta { shape: out.shape, dtype: inputs[0].dtype, strides: out.strides })
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        let x = inputs[0];
        Ok(x.with_layout(self.apply(&x.layout)?))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(view_vjp(self, &c.x[0], c.g)?)])
    }
    /// Views are linear: the same view of the tangent. The tangent's strides may differ
    /// from the primal's, so a reshape is a reshape, not a view; `as_strided` addresses
    /// the primal's storage, so it transposes its vjp instead.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        Ok(match self {
            ViewOp::AsStrided { .. } => Jvp::Transpose,
            ViewOp::Reshape(s) => Jvp::Tangent(c.tz(0).reshape(&dims_i64(s))),
            v => Jvp::Tangent(c.tz(0).view_op(v.clone())),
        })
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        if let ViewOp::Reshape(s) = self {
            let mut shape = vec![c.size as i64];
            shape.extend(dims_i64(s));
            return Ok(c.full(0).reshape(&shape));
        }
        let ops = batched_view(self, &c.x[0].shape(), c.size)?;
        ops.into_iter().try_fold(c.full(0), |t, op| t.make_view(op))
    }
    /// Views read shapes and layouts only.
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

/// `g` scattered into zeros of `x`'s shape at the positions `chain` selects.
fn scatter(x_shape: &[usize], chain: Vec<ViewOp>, g: &Tensor) -> Tensor {
    let zeros = Tensor::zeros(x_shape, g.dtype());
    check(Tensor::make(SliceUpdate { chain }.into(), &[&zeros, g]))
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
            let p = Fold { spatial, kernel: kernel.clone(), stride: stride.clone(), dilation: dilation.clone() };
            check(Tensor::make(p.into(), &[g]))
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

/// The view ops that apply `v` to each example of a batch (batch in dim 0) of inputs of
/// per-example shape `lshape`.
pub(crate) fn batched_view(v: &ViewOp, lshape: &[usize], size: usize) -> Result<Vec<ViewOp>> {
    let n = lshape.len();
    let shift = |d: i64| -> Result<i64> { Ok(normalize_dim("vmap", d, n)? as i64 + 1) };
    let with_batch = |s: &[usize]| {
        let mut out = vec![size];
        out.extend_from_slice(s);
        out
    };
    Ok(vec![match v {
        ViewOp::Reshape(s) => ViewOp::Reshape(with_batch(s)),
        ViewOp::Permute(p) => {
            let mut q = vec![0];
            for &d in p {
                q.push(shift(d)?);
            }
            ViewOp::Permute(q)
        }
        ViewOp::Slice { dim, start, stop, step } => {
            ViewOp::Slice { dim: shift(*dim)?, start: *start, stop: *stop, step: *step }
        }
        ViewOp::Select { dim, index } => ViewOp::Select { dim: shift(*dim)?, index: *index },
        ViewOp::Expand(s) => {
            let mut ops: Vec<ViewOp> = (n..s.len()).map(|_| ViewOp::Unsqueeze(1)).collect();
            ops.push(ViewOp::Expand(with_batch(s)));
            return Ok(ops);
        }
        ViewOp::Unsqueeze(d) => ViewOp::Unsqueeze(normalize_insert_dim("vmap", *d, n)? as i64 + 1),
        ViewOp::Squeeze(None) => {
            ViewOp::Squeeze(Some((0..n).filter(|&d| lshape[d] == 1).map(|d| d as i64 + 1).collect()))
        }
        // Squeezing a 0-d tensor is the identity.
        ViewOp::Squeeze(Some(_)) if n == 0 => ViewOp::Squeeze(Some(vec![])),
        ViewOp::Squeeze(Some(ds)) => ViewOp::Squeeze(Some(ds.iter().map(|&d| shift(d)).collect::<Result<_>>()?)),
        ViewOp::Diagonal { offset, d1, d2 } => ViewOp::Diagonal { offset: *offset, d1: shift(*d1)?, d2: shift(*d2)? },
        // Unfolding a 0-d tensor gives its one element as a length-`size` (0 or 1) dim.
        ViewOp::Unfold { size: w, .. } if n == 0 => {
            return Ok(vec![
                ViewOp::Unsqueeze(1),
                ViewOp::Slice { dim: 1, start: Some(0), stop: Some(*w as i64), step: 1 },
            ])
        }
        ViewOp::Unfold { dim, size: w, step } => ViewOp::Unfold { dim: shift(*dim)?, size: *w, step: *step },
        ViewOp::Flip(ds) => ViewOp::Flip(ds.iter().map(|d| d + 1).collect()),
        ViewOp::Windows { .. } => v.clone(),
        ViewOp::AsStrided { .. } => {
            return Err(Error::invalid(
                "vmap",
                "as_strided has no batching rule: its strides and offset address one example's storage",
            ))
        }
    }])
}
