//! jvp (forward) rules: the output tangent of one primitive given its input tangents.
//! Linear primitives apply themselves to the tangents; elementwise ones reuse their vjp
//! rule (a diagonal Jacobian is its own transpose); reductions weight the tangent by the
//! vjp of a unit cotangent. Scans and `as_strided` transpose their vjp rule locally.

use super::{binary, reduce, ternary, unary, vjp, Ctx};
use crate::autodiff::tensor_api::{try_grad, GradOpts};
use crate::ops::args::dims_i64;
use crate::prim::{Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::ops::{LinalgOp, ReduceOp, ScanOp, ScatterReduce};
use psionic_core::Result;

/// Output tangent of `prim` at inputs `x` (output `y`) for input tangents `t` (`None`
/// means zero).
pub(crate) fn jvp(prim: &Prim, x: &[Tensor], y: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
    let tz = |i: usize| t[i].clone().unwrap_or_else(|| x[i].zeros_like());
    let same = |inputs: &[&Tensor]| Tensor::make(prim.clone(), inputs);
    Ok(match prim {
        Prim::Const | Prim::Placeholder => y.zeros_like(),
        Prim::Custom(call) => return crate::autodiff::custom::jvp(call, x, t),
        Prim::Cast(d) => tz(0).to_dtype(*d),
        Prim::Contiguous => tz(0),
        Prim::View(ViewOp::AsStrided { .. }) => return transpose(prim, x, y, t),
        // The tangent's strides may differ from the primal's: reshape, not view.
        Prim::View(ViewOp::Reshape(s)) => tz(0).reshape(&dims_i64(s)),
        Prim::View(v) => tz(0).view_op(v.clone()),
        Prim::Cat { .. } => {
            let ts: Vec<Tensor> = (0..x.len()).map(tz).collect();
            same(&ts.iter().collect::<Vec<_>>())?
        }
        Prim::SliceUpdate { .. } => same(&[&tz(0), &tz(1)])?,
        Prim::Where => Tensor::where_(&x[0], tz(1).broadcast_to(&y.shape()), tz(2).broadcast_to(&y.shape())),
        Prim::Ternary(op) => ternary::jvp(*op, x, y, t),
        Prim::Matmul => &tz(0).matmul(&x[1]) + &x[0].matmul(&tz(1)),
        Prim::Unary(op) => unary::vjp(*op, &x[0], y, &tz(0)),
        Prim::Binary(op) => {
            let shape = y.shape();
            let mut out = y.zeros_like();
            if let Some(ta) = &t[0] {
                out = &out
                    + &binary::vjp(*op, &x[0], &x[1], y, &ta.broadcast_to(&shape), [true, false])
                        .0
                        .expect("float grad");
            }
            if let Some(tb) = &t[1] {
                out = &out
                    + &binary::vjp(*op, &x[0], &x[1], y, &tb.broadcast_to(&shape), [false, true])
                        .1
                        .expect("float grad");
            }
            out
        }
        Prim::Reduce { op: ReduceOp::Sum, .. } => same(&[&tz(0)])?,
        Prim::Reduce { op, dims } => {
            let d = reduce::vjp(*op, dims, &x[0], y, &y.ones_like()).expect("float reduction");
            // Prim dims are never empty for a tensor with dims, so this sums exactly them.
            (&d * &tz(0)).sum(dims_i64(dims), false)
        }
        Prim::Scan { op: ScanOp::CumSum, .. } => same(&[&tz(0)])?,
        Prim::Scan { .. } => return transpose(prim, x, y, t),
        Prim::Softmax { dim, log } => reduce::softmax_jvp(*dim, *log, y, &tz(0)),
        Prim::LayerNormGrad { .. } => return Err(super::not_differentiable_again("layer_norm_backward")),
        Prim::AttentionGrad { .. } => {
            return Err(super::not_differentiable_again("scaled_dot_product_attention_backward"))
        }
        Prim::AdamStep(_) => return Err(super::not_differentiable_step("adam_step")),
        Prim::LayerNorm { .. }
        | Prim::Attention { .. }
        | Prim::SoftmaxGrad { .. }
        | Prim::BatchNorm { .. }
        | Prim::ChannelSums
        | Prim::ChannelMoments
        | Prim::ChannelCombine => return transpose(prim, x, y, t),
        Prim::Gather { .. } => same(&[&tz(0), &x[1]])?,
        // Assignment, sums and means (fixed counts) are linear in base and source.
        Prim::Scatter { reduce: ScatterReduce::Assign | ScatterReduce::Sum | ScatterReduce::Mean, .. } => {
            same(&[&tz(0), &x[1], &tz(2)])?
        }
        Prim::Scatter { .. } => return transpose(prim, x, y, t),
        Prim::Order { .. }
        | Prim::SearchSorted { .. }
        | Prim::MaxPoolIndex(_)
        | Prim::Linalg(LinalgOp::PivotPermutation { .. }) => y.zeros_like(),
        // The factorizations' tangents are the transposes of their vjp rules.
        Prim::Linalg(_) => return transpose(prim, x, y, t),
        Prim::Fold { .. } => same(&[&tz(0)])?,
        Prim::Conv(d) => super::conv::jvp(d, x, t)?,
    })
}

/// `J t` from the vjp rule alone: the rule is linear in its cotangent `u`, so
/// `J t = d/du <vjp(u), t>` at any `u`. Ones, not zeros: a rule may split `u` by sign
/// (logcumsumexp), which is linear on each side but not differentiable at zero.
fn transpose(prim: &Prim, x: &[Tensor], y: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
    let _g = crate::autodiff::mode::EnableGradGuard::new();
    let u = y.ones_like().requires_grad_(true).clone();
    let needs: Vec<bool> = t.iter().map(Option::is_some).collect();
    let gs = vjp(&Ctx { prim, x, y, g: &u, needs: &needs })?;
    let mut s = Tensor::zeros(&[], y.dtype());
    for (g, ti) in gs.iter().zip(t) {
        if let (Some(g), Some(ti)) = (g, ti) {
            s = &s + &(g * ti).sum_all();
        }
    }
    if !s.requires_grad() {
        return Ok(y.zeros_like());
    }
    let r = try_grad(&[&s], &[&u], GradOpts { create_graph: true, allow_unused: true, ..Default::default() })?;
    Ok(r.into_iter().next().flatten().unwrap_or_else(|| y.zeros_like()))
}
