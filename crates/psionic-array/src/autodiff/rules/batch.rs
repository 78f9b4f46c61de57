//! vmap (batching) rules: one primitive applied to a batch at once. Batched inputs arrive
//! as physical tensors with the batch in dim 0 (`b[i]`); unbatched inputs are the values
//! themselves (`x[i]`). Each rule shifts the primitive's dims past the batch dim and
//! returns the output with the batch in dim 0, so no rule loops over the batch.

use crate::autodiff::custom;
use crate::ops::args::dims_i64;
use crate::prim::{Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::shape::{normalize_dim, normalize_insert_dim};
use psionic_core::{Error, Layout, Result};

/// `t` repeated along a new leading batch dim of `size` (a stride-0 view, no copy): how
/// an unbatched value enters a batched computation.
pub(crate) fn broadcast(t: &Tensor, size: usize) -> Tensor {
    let mut s = vec![size as i64];
    s.extend(dims_i64(&t.shape()));
    t.unsqueeze(0).expand(&s)
}

/// The batched output of `prim` over inputs `x` (per-example shapes), where `b[i]` is
/// the physical value of input `i` when it is batched; `size` is the batch size.
pub(crate) fn batch(prim: &Prim, x: &[Tensor], b: &[Option<Tensor>], size: usize) -> Result<Tensor> {
    // Input `i` with the batch dim, broadcasting an unbatched input (a view, no copy).
    let full = |i: usize| b[i].clone().unwrap_or_else(|| broadcast(&x[i], size));
    // Input `i` ready to broadcast against per-example rank `rank`: a batched input gets
    // size-1 dims after the batch dim; an unbatched one broadcasts as it is.
    let aligned = |i: usize, rank: usize| match &b[i] {
        Some(p) => (x[i].dim()..rank).fold(p.clone(), |t, _| t.unsqueeze(1)),
        None => x[i].clone(),
    };
    let same = |inputs: &[Tensor]| Tensor::make(prim.clone(), &inputs.iter().collect::<Vec<_>>());
    let lrank = |i: usize| x[i].dim();
    Ok(match prim {
        Prim::Const | Prim::Placeholder => unreachable!("nodes without inputs are never batched by a rule"),
        Prim::Cast(_) | Prim::Unary(_) | Prim::Contiguous => same(&[full(0)])?,
        Prim::Binary(_) | Prim::Ternary(_) | Prim::Where => {
            let rank = (0..x.len()).map(lrank).max().unwrap_or(0);
            same(&(0..x.len()).map(|i| aligned(i, rank)).collect::<Vec<_>>())?
        }
        // Reducing nothing (a 0-d input) is reducing a size-1 dim.
        Prim::Reduce { op, dims } if dims.is_empty() => {
            Tensor::make(Prim::Reduce { op: *op, dims: vec![1] }, &[&full(0).unsqueeze(1)])?
        }
        Prim::Reduce { op, dims } => {
            Tensor::make(Prim::Reduce { op: *op, dims: dims.iter().map(|d| d + 1).collect() }, &[&full(0)])?
        }
        Prim::Scan { op, dim, indices } => {
            Tensor::make(Prim::Scan { op: *op, dim: dim + 1, indices: *indices }, &[&full(0)])?
        }
        Prim::Softmax { dim, log } => Tensor::make(Prim::Softmax { dim: dim + 1, log: *log }, &[&full(0)])?,
        Prim::SoftmaxGrad { dim, log } => {
            Tensor::make(Prim::SoftmaxGrad { dim: dim + 1, log: *log }, &[&full(0), &full(1)])?
        }
        // Normalising the last dims is blind to a leading batch dim; a batched scale or
        // shift is applied after standardising, broadcast against the batched input.
        Prim::LayerNorm { .. } if b[1].is_none() && b[2].is_none() => same(&[full(0), x[1].clone(), x[2].clone()])?,
        Prim::LayerNorm { axes, eps } => {
            let rank = lrank(0);
            full(0).standardized(*axes, *eps).mul(aligned(1, rank)).add(aligned(2, rank))
        }
        // The same kernel when only the input and its gradient are batched; else the
        // composite, the scale broadcast against the batched input.
        Prim::LayerNormGrad { .. } if b[1].is_none() => same(&[full(0), x[1].clone(), full(2)])?,
        Prim::LayerNormGrad { axes, eps } => {
            let xb = full(0);
            let xhat = xb.standardized(*axes, *eps);
            super::norm::layer_norm_dx(*axes, *eps, &xb, &aligned(1, lrank(0)), &full(2), &xhat)
        }
        // The batch dim is one more leading dim of every operand.
        Prim::Attention { .. } | Prim::AttentionGrad { .. } => same(&(0..x.len()).map(full).collect::<Vec<_>>())?,
        // Elementwise over operands of one shape; the result's rows of three come first.
        Prim::AdamStep(_) => same(&(0..x.len()).map(full).collect::<Vec<_>>())?.transpose(0, 1),
        // A batch dim before the channels: the composite, per-channel values broadcast
        // along the example's dims after the channel (the statistics are batched with x).
        Prim::BatchNorm { eps } => {
            let chan = |i: usize| channel_of(aligned(i, 2), lrank(0));
            full(0).batch_norm_aligned(&chan(3), &chan(4), Some(&chan(1)), Some(&chan(2)), *eps)
        }
        Prim::ChannelSums => {
            let rank = lrank(1);
            let dims: Vec<i64> = (1..=rank as i64).filter(|&d| d != 2).collect();
            let g = full(0);
            let dev = full(1).sub(channel_of(aligned(2, 2), rank));
            Tensor::stack(&[&g.sum(&dims[..], false), &g.mul(dev).sum(&dims[..], false)], 1)
        }
        Prim::ChannelMoments => {
            let dims: Vec<i64> = (1..=lrank(0) as i64).filter(|&d| d != 2).collect();
            let (var, mean) = full(0).var_mean(&dims[..], 0.0, false);
            Tensor::stack(&[&mean, &var], 1)
        }
        Prim::ChannelCombine => {
            let chan = |i: usize| channel_of(aligned(i, 2), lrank(0));
            chan(4).addcmul(&full(1), &chan(3), 1.0).addcmul(&full(0), &chan(2), 1.0)
        }
        Prim::View(ViewOp::Reshape(s)) => {
            let mut shape = vec![size as i64];
            shape.extend(dims_i64(s));
            full(0).reshape(&shape)
        }
        Prim::View(v) => {
            let ops = batched_view(v, &x[0].shape(), size)?;
            ops.into_iter().try_fold(full(0), |t, op| t.make_view(op))?
        }
        Prim::Matmul => matmul(x, b, size)?,
        Prim::Cat { dim } => {
            let ins: Vec<Tensor> = (0..x.len()).map(full).collect();
            Tensor::make(Prim::Cat { dim: dim + 1 }, &ins.iter().collect::<Vec<_>>())?
        }
        Prim::SliceUpdate { chain } => {
            let mut l = Layout::contiguous(&x[0].shape());
            let mut phys = vec![];
            for op in chain {
                phys.extend(batched_view(op, &l.shape, size)?);
                l = op.apply(&l)?;
            }
            Tensor::make(Prim::SliceUpdate { chain: phys }, &[&full(0), &full(1)])?
        }
        Prim::Custom(call) => custom::batch(call, x, b, size)?,
        Prim::Gather { dim } => {
            let (xs, is) = (lift(&full(0), lrank(0)), lift(&full(1), lrank(1)));
            drop_lift(Tensor::make(Prim::Gather { dim: dim + 1 }, &[&xs, &is])?, lrank(1))
        }
        Prim::Scatter { dim, reduce, include_self } => {
            let p = Prim::Scatter { dim: dim + 1, reduce: *reduce, include_self: *include_self };
            let ins = [lift(&full(0), lrank(0)), lift(&full(1), lrank(1)), lift(&full(2), lrank(2))];
            drop_lift(Tensor::make(p, &[&ins[0], &ins[1], &ins[2]])?, lrank(0))
        }
        Prim::Order { op, dim } => {
            drop_lift(Tensor::make(Prim::Order { op: *op, dim: dim + 1 }, &[&lift(&full(0), lrank(0))])?, lrank(0))
        }
        Prim::SearchSorted { right } => searchsorted(x, b, size, *right)?,
        // These work on the last dims; the batch joins the leading ones.
        Prim::Fold { .. } | Prim::MaxPoolIndex(_) => same(&[full(0)])?,
        Prim::Linalg(_) => same(&(0..x.len()).map(full).collect::<Vec<_>>())?,
        Prim::Conv(d) => super::conv::batch(d, full, size)?,
    })
}

/// A batched operand of per-example rank 0 gains a unit dim, so per-example dim 0 (which
/// gather, scatter and sort treat a 0-d tensor as having) becomes physical dim 1.
fn lift(t: &Tensor, rank: usize) -> Tensor {
    if rank == 0 {
        t.unsqueeze(1)
    } else {
        t.clone()
    }
}

/// A per-channel value (`[c]`, or `[batch, 1, c]` once aligned) broadcast against a
/// batched input of per-example rank `rank` whose channels are its dim 1.
fn channel_of(t: Tensor, rank: usize) -> Tensor {
    (2..rank).fold(t, |t, _| t.unsqueeze(-1))
}

/// Undoes [`lift`] on a result whose per-example rank is `rank`.
fn drop_lift(t: Tensor, rank: usize) -> Tensor {
    if rank == 0 {
        t.squeeze_dims(&[1])
    } else {
        t
    }
}

/// searchsorted per example: a shared 1-d sequence searches any values as they are; a
/// batched one gets the values' leading dims (as the N-d form requires).
fn searchsorted(x: &[Tensor], b: &[Option<Tensor>], size: usize, right: bool) -> Result<Tensor> {
    let prim = Prim::SearchSorted { right };
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

/// `a @ b` per example. When only `a` is batched and the examples are plain matrices, the
/// batch folds into the rows: one `[size*m, k] @ [k, n]` product instead of `size` small ones.
fn matmul(x: &[Tensor], b: &[Option<Tensor>], size: usize) -> Result<Tensor> {
    let rank = x[0].dim();
    let expand = |i: usize| broadcast(&x[i], size);
    match (&b[0], &b[1]) {
        (Some(pa), None) if rank == 2 => {
            let (m, k) = (x[0].size(0) as i64, x[0].size(1) as i64);
            let rows = pa.reshape(&[size as i64 * m, k]);
            let out = Tensor::make(Prim::Matmul, &[&rows, &x[1]])?;
            Ok(out.reshape(&[size as i64, m, x[1].size(1) as i64]))
        }
        (Some(pa), Some(pb)) => Tensor::make(Prim::Matmul, &[pa, pb]),
        (Some(pa), None) => Tensor::make(Prim::Matmul, &[pa, &expand(1)]),
        (None, Some(pb)) => Tensor::make(Prim::Matmul, &[&expand(0), pb]),
        (None, None) => unreachable!("a rule runs only when some input is batched"),
    }
}
