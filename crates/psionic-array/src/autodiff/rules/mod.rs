//! Backward (vjp) rules, one file per primitive family, each a `match` that reads like a
//! table: for every primitive, the gradient of each input given the output gradient `g`.
//! Rules are written with Tensor ops, so under `create_graph` they are recorded and can be
//! differentiated again. A rule returns `None` for inputs that are not differentiable
//! (integer or bool inputs, conditions, indices).

mod attention;
pub(crate) mod batch;
mod binary;
mod conv;
mod factor;
pub(crate) mod index;
pub(crate) mod jvp;
mod linalg;
mod norm;
mod reduce;
mod shape;
mod ternary;
mod unary;

use super::custom;
use super::slot::SavedVersion;
use crate::node::Node;
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::{BinaryOp, LinalgOp, ReduceOp, ScanOp, ScatterReduce, TernaryOp, UnaryOp};
use psionic_core::{Error, Result};
pub(super) use shape::view_vjp;
use std::sync::Arc;

/// What a vjp rule sees: the primitive, its inputs and output as tensors, and the
/// gradient of the output.
pub(crate) struct Ctx<'a> {
    pub prim: &'a Prim,
    pub x: &'a [Tensor],
    pub y: &'a Tensor,
    pub g: &'a Tensor,
    /// Which inputs backward wants a gradient for. Rules with costly products (matmul,
    /// convolution, the elementwise ops) skip the others: a layer's input batch, a mask.
    pub needs: &'a [bool],
}

/// Why a fused gradient (`LayerNormGrad`, `AttentionGrad`) has no rules of its own:
/// backward builds it only where nothing differentiates it (see [`untraced`]).
pub(crate) fn not_differentiable_again(op: &'static str) -> Error {
    Error::invalid(
        op,
        "this fused gradient is not differentiable; backward with create_graph builds a differentiable one",
    )
}

/// Why a fused optimizer step has no rules: it is built only where nothing traces it
/// (see [`untraced`]); a differentiated step is composed from ops.
pub(crate) fn not_differentiable_step(op: &'static str) -> Error {
    Error::invalid(op, "this fused optimizer step is not differentiable; with grad mode on the step is built from ops")
}

/// Whether what is built now goes untraced, so it may use a fused primitive with no vjp
/// or jvp of its own (a fused gradient, an optimizer step): grad mode off, as in every
/// plain `backward` or `grad` without `create_graph` and in an optimizer's step, and no
/// jvp or vmap running.
pub(crate) fn untraced() -> bool {
    !crate::autodiff::mode::is_grad_enabled() && !crate::autodiff::forward::active() && !crate::autodiff::vmap::active()
}

/// Input gradients for one node, in input order.
pub(crate) fn vjp(c: &Ctx) -> Result<Vec<Option<Tensor>>> {
    Ok(match c.prim {
        Prim::Const | Prim::Placeholder => vec![],
        Prim::Cast(_) => vec![Some(c.g.to_dtype(c.x[0].dtype()))],
        Prim::Unary(op) => vec![Some(unary::vjp(*op, &c.x[0], c.y, c.g))],
        Prim::Binary(op) => {
            let (ga, gb) = binary::vjp(*op, &c.x[0], &c.x[1], c.y, c.g, [c.needs[0], c.needs[1]]);
            vec![ga.map(|t| unbroadcast(&t, &c.x[0].shape())), gb.map(|t| unbroadcast(&t, &c.x[1].shape()))]
        }
        Prim::Ternary(op) => ternary::vjp(*op, c.x, c.g, c.needs),
        Prim::Where => {
            let (cond, g) = (&c.x[0], c.g);
            let ga = c.needs[1].then(|| unbroadcast(&Tensor::where_(cond, g, 0.0), &c.x[1].shape()));
            let gb = c.needs[2].then(|| unbroadcast(&Tensor::where_(cond, 0.0, g), &c.x[2].shape()));
            vec![None, ga, gb]
        }
        Prim::Reduce { op, dims } => vec![reduce::vjp(*op, dims, &c.x[0], c.y, c.g)],
        Prim::Scan { op, dim, indices } => {
            vec![if *indices { None } else { Some(reduce::scan_vjp(*op, *dim, &c.x[0], c.y, c.g)) }]
        }
        Prim::Softmax { dim, log } => vec![Some(reduce::softmax_vjp(*dim, *log, c.y, c.g))],
        Prim::SoftmaxGrad { dim, log } => reduce::softmax_grad_vjp(*dim, *log, &c.x[0], &c.x[1], c.g),
        Prim::LayerNorm { axes, eps } => norm::layer_norm_vjp(*axes, *eps, c.x, c.g, c.needs),
        Prim::LayerNormGrad { .. } => return Err(not_differentiable_again("layer_norm_backward")),
        Prim::Attention { scale, causal } => attention::vjp(*scale, *causal, c.x, c.g, c.needs),
        Prim::AttentionGrad { .. } => return Err(not_differentiable_again("scaled_dot_product_attention_backward")),
        Prim::AdamStep(_) => return Err(not_differentiable_step("adam_step")),
        Prim::BatchNorm { eps } => norm::batch_norm_vjp(*eps, c.x, c.g, c.needs),
        Prim::ChannelSums => norm::channel_sums_vjp(c.x, c.y, c.g, c.needs),
        Prim::ChannelCombine => norm::channel_combine_vjp(c.x, c.g, c.needs),
        Prim::ChannelMoments => vec![Some(norm::channel_moments_vjp(&c.x[0], c.y, c.g))],
        Prim::View(v) => vec![Some(shape::view_vjp(v, &c.x[0], c.g)?)],
        Prim::Contiguous => vec![Some(c.g.clone())],
        Prim::Matmul => linalg::matmul_vjp(&c.x[0], &c.x[1], c.g, c.needs),
        Prim::Cat { dim } => shape::cat_vjp(*dim, c.x, c.g),
        Prim::SliceUpdate { chain } => shape::slice_update_vjp(chain, &c.x[0], &c.x[1], c.g)?,
        Prim::Custom(call) => custom::vjp(call, c.x, c.y, c.g)?,
        Prim::Gather { dim } => index::gather_vjp(*dim, &c.x[0], &c.x[1], c.g),
        Prim::Scatter { dim, reduce, include_self } => index::scatter_vjp(*dim, *reduce, *include_self, c.x, c.y, c.g)?,
        Prim::Order { .. } | Prim::SearchSorted { .. } | Prim::MaxPoolIndex(_) => vec![None; c.x.len()],
        Prim::Linalg(op) => factor::vjp(*op, c.x, c.y, c.g)?,
        Prim::Conv(d) => conv::vjp(d, c.x, c.g, c.needs)?,
        Prim::Fold { kernel, stride, dilation, .. } => {
            vec![Some(c.g.view_op(crate::prim::ViewOp::Windows {
                kernel: kernel.clone(),
                stride: stride.clone(),
                dilation: dilation.clone(),
            }))]
        }
    })
}

/// Which inputs (and whether the output) a rule reads by value. Backward refuses to run
/// a rule whose saved values were modified in place after being saved, as PyTorch does;
/// rules that need only shapes save nothing, so in-place writes to their inputs are fine.
/// Returns a bit mask of saved inputs (bit `i` for input `i`) and whether the output is.
fn saves(prim: &Prim) -> (u64, bool) {
    use UnaryOp as U;
    const NONE: u64 = 0;
    const FIRST: u64 = 1;
    const BOTH: u64 = 0b11;
    match prim {
        Prim::Unary(op) => match op {
            U::Neg | U::Sign | U::Floor | U::Ceil | U::Round | U::Trunc | U::Frac => (NONE, false),
            U::Exp
            | U::Exp2
            | U::Expm1
            | U::Sigmoid
            | U::Tanh
            | U::Sqrt
            | U::Rsqrt
            | U::Reciprocal
            | U::Relu
            | U::Tan
            | U::Erfinv => (NONE, true),
            _ => (FIRST, false),
        },
        Prim::Binary(op) => match op {
            BinaryOp::Add | BinaryOp::Sub => (NONE, false),
            BinaryOp::Div | BinaryOp::Pow | BinaryOp::Hypot | BinaryOp::Copysign => (BOTH, true),
            _ => (BOTH, false),
        },
        Prim::Where => (FIRST, false),
        Prim::Ternary(TernaryOp::Lerp) => (0b111, false),
        Prim::Ternary(_) => (0b110, false),
        Prim::Reduce { op: ReduceOp::Sum, .. } | Prim::Scan { op: ScanOp::CumSum, .. } => (NONE, false),
        Prim::Reduce { .. } | Prim::Scan { .. } => (FIRST, true),
        Prim::Softmax { .. } => (NONE, true),
        Prim::SoftmaxGrad { .. } => (BOTH, false),
        Prim::LayerNorm { .. } => (BOTH, false),
        Prim::Attention { .. } => (0b111, false),
        // The input, weight and statistics; the bias only shifts.
        Prim::BatchNorm { .. } => (0b11011, false),
        Prim::ChannelSums => (0b111, true),
        Prim::ChannelCombine => (0b1111, false),
        Prim::ChannelMoments => (FIRST, true),
        Prim::Matmul => (BOTH, false),
        // Indices are read by every gather/scatter rule; values by the nonlinear ones.
        Prim::Gather { .. } => (0b10, false),
        Prim::Scatter { reduce: ScatterReduce::Assign | ScatterReduce::Sum | ScatterReduce::Mean, .. } => (0b10, false),
        Prim::Scatter { .. } => (0b111, true),
        // A custom rule may read any argument or output (the first 64 are checked).
        Prim::Custom(_) => (u64::MAX, false),
        Prim::Linalg(_) => (BOTH, true),
        Prim::Conv(_) => (BOTH, false),
        _ => (NONE, false),
    }
}

/// Records the version of every value `node`'s rule will read (see [`saves`]).
pub(crate) fn stamp_saved(node: &Arc<Node>, inputs: &[&Tensor], out: &Tensor) {
    let (ins, output) = saves(&node.prim);
    if ins == 0 && !output {
        return;
    }
    let mut saved = node.ad.saved.lock().unwrap();
    for (i, t) in inputs.iter().enumerate().filter(|&(i, _)| i < 64 && ins >> i & 1 == 1) {
        saved.push(SavedVersion { counter: t.counter().clone(), at: t.version(), input: Some(i) });
    }
    if output {
        saved.push(SavedVersion { counter: out.counter().clone(), at: out.version(), input: None });
    }
}

/// PyTorch-style name of a node's backward function, for errors and anomaly reports.
pub(crate) fn backward_name(prim: &Prim) -> String {
    let base = match prim {
        Prim::Const => "Leaf".to_string(),
        Prim::Cast(_) => "ToCopy".to_string(),
        Prim::Unary(op) => format!("{op:?}").split(['(', ' ']).next().unwrap_or("Unary").to_string(),
        Prim::Binary(op) => format!("{op:?}"),
        Prim::Where => "Where".to_string(),
        Prim::Ternary(op) => format!("{op:?}").split('(').next().unwrap_or("Ternary").to_string(),
        Prim::Reduce { op, .. } => format!("{op:?}").split(['(', ' ']).next().unwrap_or("Reduce").to_string(),
        Prim::Scan { op, .. } => format!("{op:?}"),
        Prim::Softmax { log: false, .. } => "Softmax".to_string(),
        Prim::Softmax { log: true, .. } => "LogSoftmax".to_string(),
        Prim::SoftmaxGrad { log: false, .. } => "SoftmaxBackwardData".to_string(),
        Prim::SoftmaxGrad { log: true, .. } => "LogSoftmaxBackwardData".to_string(),
        Prim::LayerNorm { .. } => "NativeLayerNorm".to_string(),
        Prim::LayerNormGrad { .. } => "NativeLayerNormBackward".to_string(),
        Prim::Attention { .. } => "ScaledDotProductFlashAttentionForCpu".to_string(),
        Prim::AttentionGrad { .. } => "ScaledDotProductFlashAttentionForCpuBackward".to_string(),
        Prim::AdamStep(_) => "FusedAdam".to_string(),
        Prim::BatchNorm { .. } => "NativeBatchNorm".to_string(),
        Prim::ChannelSums | Prim::ChannelCombine => "NativeBatchNormBackward".to_string(),
        Prim::ChannelMoments => "BatchNormStats".to_string(),
        Prim::View(v) => format!("{v:?}").split(['(', ' ']).next().unwrap_or("View").to_string(),
        Prim::Contiguous => "Clone".to_string(),
        Prim::Matmul => "Matmul".to_string(),
        Prim::Cat { .. } => "Cat".to_string(),
        Prim::SliceUpdate { .. } => "CopySlices".to_string(),
        Prim::Placeholder => "Batched".to_string(),
        Prim::Custom(call) => call.name().to_string(),
        Prim::Gather { .. } => "Gather".to_string(),
        Prim::Scatter { reduce, .. } => format!("Scatter{reduce:?}"),
        Prim::Order { .. } => "Sort".to_string(),
        Prim::SearchSorted { .. } => "Searchsorted".to_string(),
        Prim::Linalg(op) => match op {
            LinalgOp::Cholesky => "LinalgCholeskyEx",
            LinalgOp::LuFactor => "LinalgLuFactorEx",
            LinalgOp::TriangularSolve { .. } => "LinalgSolveTriangular",
            LinalgOp::Qr { .. } => "LinalgQr",
            LinalgOp::Eigh { .. } => "LinalgEigh",
            LinalgOp::Eig => "LinalgEig",
            LinalgOp::Svd { .. } => "LinalgSvd",
            LinalgOp::PivotPermutation { .. } => "LuUnpack",
        }
        .to_string(),
        Prim::Fold { .. } => "Col2Im".to_string(),
        Prim::Conv(_) => "Convolution".to_string(),
        Prim::MaxPoolIndex(_) => "MaxPoolIndices".to_string(),
    };
    format!("{base}Backward0")
}

/// Sums `g` over the dims that broadcasting expanded, giving a tensor of `shape`.
pub(crate) fn unbroadcast(g: &Tensor, shape: &[usize]) -> Tensor {
    let gs = g.shape();
    if gs == shape {
        return g.clone();
    }
    let lead = gs.len() - shape.len();
    let mut dims: Vec<i64> = (0..lead as i64).collect();
    dims.extend((0..shape.len()).filter(|&i| shape[i] == 1 && gs[lead + i] != 1).map(|i| (lead + i) as i64));
    let s = if dims.is_empty() { g.clone() } else { g.sum(dims, true) };
    let target: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    s.reshape(&target)
}

/// `g` where `cond`, zero elsewhere (NaN-safe, unlike multiplying by a mask).
pub(crate) fn mask(cond: &Tensor, g: &Tensor) -> Tensor {
    Tensor::where_(cond, g, 0.0)
}
