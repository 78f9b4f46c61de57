//! Primitives: every node of the graph is one of these. Each family has, here and only
//! here, its output shape/dtype inference ([`Prim::infer`]) and its CPU evaluation
//! ([`Prim::eval_cpu`]). Derivative and batching rules join them in the autodiff layer.

use crate::autodiff::custom::CustomCall;
use psionic_core::ops::{BinaryOp, LinalgOp, OrderOp, ReduceOp, ScanOp, ScatterReduce, TernaryOp, UnaryOp};
use psionic_core::{broadcast_shapes, DType, Dims, Error, Layout, Result, Strides};
use psionic_cpu::conv::{Geometry, Product, Spatial};
use psionic_cpu::pool::PoolGeometry;
use psionic_cpu::CpuArray;
use std::sync::Arc;

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

#[derive(Clone, Debug, PartialEq)]
pub enum Prim {
    /// Data supplied from the host; never evaluated.
    Const,
    Cast(DType),
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(cond, a, b)`.
    Where,
    /// lerp, addcmul or addcdiv of three f32 or f64 inputs of one dtype, broadcast.
    Ternary(TernaryOp),
    /// Reduces the given (sorted) dims away.
    Reduce {
        op: ReduceOp,
        dims: Vec<usize>,
    },
    Scan {
        op: ScanOp,
        dim: usize,
        indices: bool,
    },
    /// softmax (or log_softmax when `log`) along `dim`, fused into one kernel.
    Softmax {
        dim: usize,
        log: bool,
    },
    /// The gradient of softmax (log_softmax when `log`) along `dim` from its output
    /// (input 0) and the output's gradient (input 1), fused into one kernel.
    SoftmaxGrad {
        dim: usize,
        log: bool,
    },
    /// layer_norm over the last `axes` dims of input 0, scaled by input 1 and shifted by
    /// input 2 (both of those dims' shape), fused into one kernel; f32 and f64.
    LayerNorm {
        axes: usize,
        eps: f64,
    },
    /// The input gradient of `LayerNorm { axes, eps }` at input 0 scaled by input 1, for
    /// the output gradient input 2 (input 0's shape), fused into one kernel; f32 and f64.
    /// Backward builds it only where its result is not differentiated again (grad mode
    /// off, no jvp or vmap running): its own vjp and jvp are refused.
    LayerNormGrad {
        axes: usize,
        eps: f64,
    },
    /// Scaled dot-product attention `softmax(scale · q kᵀ) v` of `q [..., L, E]`,
    /// `k [..., S, E]` and `v [..., S, Ev]` (one leading shape, all of size at least 1),
    /// with query `i` seeing keys `0..=i` when `causal`; fused per block of queries, f32
    /// and f64.
    Attention {
        scale: f64,
        causal: bool,
    },
    /// The gradients of `Attention { scale, causal }` at inputs 0-2 for the output
    /// gradient input 3, packed per matrix: `[..., L*E + S*E + S*Ev]`, `dq | dk | dv`.
    /// Built, like `LayerNormGrad`, only where it is not differentiated again.
    AttentionGrad {
        scale: f64,
        causal: bool,
    },
    /// One Adam step (`torch.optim.Adam`'s single-tensor arithmetic) of parameter input
    /// 0 with gradient input 1 and moments inputs 2 and 3 (one shape, one dtype: f32 or
    /// f64): the new parameter and moments as the rows of a `[3, ...]` result. Built only
    /// untraced (see `Tensor::fused_adam`): it has no derivative rules.
    AdamStep(psionic_cpu::adam::AdamCoeffs),
    /// batch_norm in training of input 0 (`[n, c, ...]`), given its per-channel batch
    /// mean (input 3) and biased variance (input 4), scaled by input 1 and shifted by
    /// input 2 (all four `[c]`), fused into one pass; f32 and f64. Inputs 3 and 4 must be
    /// input 0's statistics: the vjp rule gives input 0 the whole gradient, through the
    /// statistics included, and none to them.
    BatchNorm {
        eps: f64,
    },
    /// Per channel of input 1 (dim 1), over every other dim: the sum of input 0 (of input
    /// 1's shape) and the sum of input 0 times (input 1 minus input 2, which is `[c]`), as
    /// the rows of a `[2, c]` result. Batch norm's backward reads its two big operands
    /// once through it; f32 and f64.
    ChannelSums,
    /// Per channel of input 0 (dim 1), over every other dim: the mean and the biased
    /// variance, as the rows of a `[2, c]` result; batch norm's statistics in one
    /// kernel. f32 and f64.
    ChannelMoments,
    /// `(input 4 + input 1 * input 3) + input 0 * input 2`: inputs 0 and 1 of one shape
    /// `[n, c, ...]`, inputs 2 to 4 per channel (`[c]`), in one pass; batch norm's input
    /// gradient. f32 and f64.
    ChannelCombine,
    View(ViewOp),
    Contiguous,
    /// `[..., m, k] @ [..., k, n]` with equal batch shapes.
    Matmul,
    Cat {
        dim: usize,
    },
    /// Writes input 1 into the positions of input 0 that `chain` (applied to a contiguous
    /// layout of input 0) selects: the functional form of a write through a view.
    SliceUpdate {
        chain: Vec<ViewOp>,
    },
    /// Max pooling's picks over the last dims: for each window of input 0 the flat
    /// position in its plane of the element it selects (i64, not differentiable).
    MaxPoolIndex(PoolGeometry),
    /// `out[p] = x[p with p[dim] = index[p]]` (inputs: x, i64 index of x's rank).
    Gather {
        dim: usize,
    },
    /// A copy of input 0 with input 2's values combined into the positions input 1 (i64,
    /// same rank) names along `dim`; see `psionic_cpu::gather::scatter`.
    Scatter {
        dim: usize,
        reduce: ScatterReduce,
        include_self: bool,
    },
    /// i64 positions along `dim`: a sorting permutation or the mode's index.
    Order {
        op: OrderOp,
        dim: usize,
    },
    /// Insertion points of input 1's values in input 0's sorted last dim.
    SearchSorted {
        right: bool,
    },
    /// The adjoint of `ViewOp::Windows`: sums `[..., O..., K...]` window values back
    /// onto positions of a tensor whose last dims are `spatial` (col2im).
    Fold {
        spatial: Vec<usize>,
        kernel: Vec<usize>,
        stride: Vec<usize>,
        dilation: Vec<usize>,
    },
    /// A convolution of f32 or f64 with implicit zero padding, one of its three products;
    /// see [`Convolution`].
    Conv(Convolution),
    /// A matrix factorization or triangular solve over the last two dims (see
    /// [`LinalgOp`]; several results are packed into one last dim).
    Linalg(LinalgOp),
    /// A value known by shape and dtype only: one example of a batched value inside
    /// `vmap` (its values exist only in the batched twin) or an input while `compile`
    /// traces. Evaluating it refuses.
    Placeholder,
    /// A call to a function with its own rules (`CustomFunction`, `checkpoint`). Inputs:
    /// the call's arguments, the tensors requiring grad that it read without being
    /// passed them, then its outputs' value (computed when it was made; several outputs
    /// packed into one vector, see `CustomCall`).
    Custom(Arc<CustomCall>),
}

/// A convolution of `channels` input channels of spatial size `input` in `groups` groups,
/// zero padded by `padding` before each dim, with kernels of size `kernel`, giving outputs
/// of spatial size `output`; the product `mode` computes (psionic-cpu's `conv`): the
/// convolution `(x, w)`, its input gradient `(g, w)` or its weight gradient `(x, g)`.
/// Output channels are a multiple of `groups`.
#[derive(Clone, Debug, PartialEq)]
pub struct Convolution {
    pub mode: Product,
    pub channels: usize,
    pub groups: usize,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub dilation: Vec<usize>,
    pub padding: Vec<usize>,
}

impl Convolution {
    /// Batch size and output channels, from the two inputs (checked against the sizes).
    /// Any output size is safe to compute: the kernels skip taps outside the input.
    fn sizes(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize)> {
        let k = self.kernel.len();
        let bad = || Error::shape("conv", format!("inputs {a:?} and {b:?} do not fit {self:?}"));
        let lists = [&self.input, &self.output, &self.stride, &self.dilation, &self.padding];
        let (c, groups) = (self.channels, self.groups);
        if a.len() != k + 2 || b.len() != k + 2 || groups == 0 || c % groups != 0 || lists.iter().any(|l| l.len() != k)
        {
            return Err(bad());
        }
        let (input, output, kernel, cg) = (&self.input[..], &self.output[..], &self.kernel[..], c / groups);
        let (n, cout, ok) = match self.mode {
            Product::Forward => (a[0], b[0], a[1] == c && a[2..] == *input && b[1] == cg && b[2..] == *kernel),
            Product::InputGrad => (a[0], b[0], a[1] == b[0] && a[2..] == *output && b[1] == cg && b[2..] == *kernel),
            Product::WeightGrad => (a[0], b[1], a[0] == b[0] && a[1] == c && a[2..] == *input && b[2..] == *output),
        };
        if !ok || cout % groups != 0 || self.stride.contains(&0) {
            return Err(bad());
        }
        Ok((n, cout))
    }

    pub(crate) fn geometry(&self, batch: usize, cout: usize) -> Geometry {
        let spatial = Spatial {
            input: &self.input,
            output: &self.output,
            kernel: &self.kernel,
            stride: &self.stride,
            dilation: &self.dilation,
            padding: &self.padding,
        };
        Geometry::new(batch, self.channels, self.groups, cout, spatial)
    }
}

/// Shape, dtype and strides of a node, known when it is built. Every kernel writes a
/// fresh contiguous output, so only views have other strides, and those follow from their
/// input's: knowing them early lets `view`/`reshape` decide without evaluating anything.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub shape: Dims,
    pub dtype: DType,
    pub strides: Strides,
}

impl Meta {
    /// A freshly computed (contiguous) value.
    pub fn new(shape: impl Into<Dims>, dtype: DType) -> Meta {
        let shape = shape.into();
        let strides = psionic_core::layout::contiguous_strides(&shape);
        Meta { shape, dtype, strides }
    }

    /// This node's layout with the storage offset left out (unknown until evaluation).
    pub fn layout(&self) -> Layout {
        Layout { shape: self.shape.clone(), strides: self.strides.clone(), offset: 0 }
    }
}

fn same_dtype(op: &'static str, inputs: &[&Meta]) -> Result<DType> {
    let d = inputs[0].dtype;
    if let Some(o) = inputs.iter().find(|m| m.dtype != d) {
        return Err(Error::dtype(op, format!("expected all inputs to have dtype {d}, got {}", o.dtype)));
    }
    Ok(d)
}

/// Whether `q [..., L, E]`, `k [..., S, E]` and `v [..., S, Ev]` have one rank (at least
/// 2), one leading shape and matching inner sizes.
pub(crate) fn attention_shapes_fit(q: &[usize], k: &[usize], v: &[usize]) -> bool {
    let r = q.len();
    r >= 2
        && k.len() == r
        && v.len() == r
        && q[..r - 2] == k[..r - 2]
        && q[..r - 2] == v[..r - 2]
        && q[r - 1] == k[r - 1]
        && k[r - 2] == v[r - 2]
}

/// Output of `Attention` (`[..., L, Ev]`) or `AttentionGrad` (`[..., L*E + S*E + S*Ev]`):
/// `q [..., L, E]`, `k [..., S, E]`, `v [..., S, Ev]` (and the gradient `[..., L, Ev]`),
/// one leading shape, one float dtype, no empty matrix.
fn attention_meta(prim: &Prim, inputs: &[&Meta]) -> Result<Meta> {
    let grad = matches!(prim, Prim::AttentionGrad { .. });
    let op = if grad { "scaled_dot_product_attention_backward" } else { "scaled_dot_product_attention" };
    let d = same_dtype(op, inputs)?;
    if !matches!(d, DType::F32 | DType::F64) {
        return Err(Error::dtype(op, format!("the fused kernel takes f32 or f64, got {d}")));
    }
    let (q, k, v) = (&inputs[0].shape, &inputs[1].shape, &inputs[2].shape);
    let r = q.len();
    let fits = attention_shapes_fit(q, k, v) && ![q[r - 2], q[r - 1], k[r - 2], v[r - 1]].contains(&0);
    // The gradient has the output's shape, `[..., L, Ev]`.
    let g_fits = || !grad || inputs[3].shape[..] == [&q[..r - 1], &v[r - 1..]].concat()[..];
    if !fits || !g_fits() {
        return Err(Error::shape(
            op,
            format!(
                "expected query [..., L, E], key [..., S, E] and value [..., S, Ev] of one leading shape, none empty{}; got {q:?}, {k:?}, {v:?}{}",
                if grad { ", and a gradient [..., L, Ev]" } else { "" },
                if grad { format!(" and {:?}", inputs[3].shape) } else { String::new() }
            ),
        ));
    }
    let (l, e, s, ev) = (q[r - 2], q[r - 1], k[r - 2], v[r - 1]);
    let mut shape: Dims = q[..r - 2].iter().copied().collect();
    if grad {
        shape.push(l * e + s * e + s * ev);
    } else {
        shape.extend([l, ev]);
    }
    Ok(Meta::new(shape, d))
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

/// Output of a linalg primitive: the batch dims, then the packed parts (or, for a
/// triangular solve, `B`'s matrix shape; for pivots, the permuted rows).
fn linalg_meta(op: LinalgOp, inputs: &[&Meta]) -> Result<Meta> {
    let a = &inputs[0].shape;
    if let LinalgOp::PivotPermutation { m } = op {
        let mut shape = a[..a.len().saturating_sub(1)].to_vec();
        shape.push(m);
        return Ok(Meta::new(shape, DType::I64));
    }
    let name = op.name();
    let dtype = same_dtype(name, inputs)?;
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(Error::dtype(
            name,
            format!("Expected a floating point tensor of float or double dtype as input. Got {dtype}"),
        ));
    }
    if a.len() < 2 {
        return Err(Error::shape(name, format!("The input tensor A must have at least 2 dimensions, got shape {a:?}")));
    }
    let (batch, m, n) = (&a[..a.len() - 2], a[a.len() - 2], a[a.len() - 1]);
    let square =
        matches!(op, LinalgOp::Cholesky | LinalgOp::Eigh { .. } | LinalgOp::Eig | LinalgOp::TriangularSolve { .. });
    if square && m != n {
        return Err(Error::shape(
            name,
            format!("A must be batches of square matrices, but they are {m} by {n} matrices"),
        ));
    }
    if let LinalgOp::TriangularSolve { left, .. } = op {
        let b = &inputs[1].shape;
        let ok = b.len() == a.len() && b[..b.len() - 2] == *batch && b[b.len() - if left { 2 } else { 1 }] == n;
        if !ok {
            return Err(Error::shape(
                name,
                format!(
                    "Incompatible shapes of A and B for the equation {}: {a:?} and {b:?}",
                    if left { "AX = B" } else { "XA = B" }
                ),
            ));
        }
        return Ok(Meta::new(b.clone(), dtype));
    }
    let mut shape = batch.to_vec();
    shape.push(op.parts(m, n).iter().map(|p| psionic_core::numel(p)).sum());
    Ok(Meta::new(shape, dtype))
}

impl Prim {
    pub fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(match self {
            Prim::Const | Prim::Placeholder => unreachable!("built with their meta"),
            Prim::Custom(_) => inputs[inputs.len() - 1].clone(),
            Prim::Cast(d) => Meta::new(inputs[0].shape.clone(), *d),
            Prim::Unary(op) => {
                let dtype = if op.out_is_bool() { DType::Bool } else { inputs[0].dtype };
                Meta::new(inputs[0].shape.clone(), dtype)
            }
            Prim::Binary(op) => {
                let d = same_dtype(op.name(), inputs)?;
                let shape = broadcast_shapes(op.name(), &inputs[0].shape, &inputs[1].shape)?;
                Meta::new(shape, if op.out_is_bool() { DType::Bool } else { d })
            }
            Prim::Ternary(op) => {
                let d = same_dtype(op.name(), inputs)?;
                let s = broadcast_shapes(op.name(), &inputs[0].shape, &inputs[1].shape)?;
                Meta::new(broadcast_shapes(op.name(), &s, &inputs[2].shape)?, d)
            }
            Prim::Where => {
                same_dtype("where", &inputs[1..])?;
                let s = broadcast_shapes("where", &inputs[0].shape, &inputs[1].shape)?;
                Meta::new(broadcast_shapes("where", &s, &inputs[2].shape)?, inputs[1].dtype)
            }
            Prim::Reduce { op, dims } => {
                let shape: Dims =
                    (0..inputs[0].shape.len()).filter(|d| !dims.contains(d)).map(|d| inputs[0].shape[d]).collect();
                let dtype = match op {
                    ReduceOp::All | ReduceOp::Any => DType::Bool,
                    ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
                    _ => inputs[0].dtype,
                };
                Meta::new(shape, dtype)
            }
            Prim::Scan { indices, .. } => {
                Meta::new(inputs[0].shape.clone(), if *indices { DType::I64 } else { inputs[0].dtype })
            }
            Prim::Softmax { .. } => Meta::new(inputs[0].shape.clone(), inputs[0].dtype),
            Prim::SoftmaxGrad { dim, .. } => {
                let (y, g) = (&inputs[0], &inputs[1]);
                if y.shape != g.shape || *dim >= y.shape.len().max(1) {
                    return Err(Error::shape(
                        "softmax_backward",
                        format!("output {:?} and gradient {:?} must have one shape with dim {dim}", y.shape, g.shape),
                    ));
                }
                same_dtype("softmax_backward", inputs)?;
                Meta::new(y.shape.clone(), y.dtype)
            }
            Prim::Attention { .. } | Prim::AttentionGrad { .. } => attention_meta(self, inputs)?,
            Prim::AdamStep(_) => {
                let (p, d) = (&inputs[0].shape, inputs[0].dtype);
                if inputs.iter().any(|m| m.shape != *p || m.dtype != d) || !matches!(d, DType::F32 | DType::F64) {
                    return Err(Error::shape(
                        "adam_step",
                        "the parameter, gradient and moments must be f32 or f64 tensors of one shape and dtype",
                    ));
                }
                Meta::new([[3].as_slice(), p].concat(), d)
            }
            Prim::LayerNorm { axes, .. } | Prim::LayerNormGrad { axes, .. } => {
                // The scale, then the shift (of the scale's shape) or the output gradient
                // (of the input's).
                let grad = matches!(self, Prim::LayerNormGrad { .. });
                let (op, last) = if grad { ("layer_norm_backward", "gradient") } else { ("layer_norm", "bias") };
                let (x, w, z) = (&inputs[0], &inputs[1], &inputs[2]);
                let trailing = &x.shape[x.shape.len().saturating_sub(*axes)..];
                let z_ok = if grad { z.shape == x.shape } else { z.shape[..] == *trailing };
                if *axes > x.shape.len() || w.shape[..] != *trailing || !z_ok {
                    return Err(Error::shape(
                        op,
                        format!(
                            "weight {:?} must have the shape of the last {axes} dims of the input {:?}, and the {last} {:?} {}",
                            w.shape,
                            x.shape,
                            z.shape,
                            if grad { "the input's" } else { "the weight's" }
                        ),
                    ));
                }
                same_dtype(op, inputs)?;
                Meta::new(x.shape.clone(), x.dtype)
            }
            Prim::BatchNorm { .. } => {
                let c = inputs[0].shape.get(1).copied();
                if inputs[0].shape.len() < 2
                    || inputs[1..].iter().any(|t| Some(t.shape.as_slice()) != c.as_ref().map(std::slice::from_ref))
                {
                    return Err(Error::shape(
                        "batch_norm",
                        format!(
                            "weight, bias, mean and var must be [channels] for an input of shape {:?}",
                            inputs[0].shape
                        ),
                    ));
                }
                same_dtype("batch_norm", inputs)?;
                Meta::new(inputs[0].shape.clone(), inputs[0].dtype)
            }
            Prim::ChannelSums => {
                let (g, x, m) = (&inputs[0], &inputs[1], &inputs[2]);
                if x.shape.len() < 2 || g.shape != x.shape || m.shape[..] != [x.shape[1]] {
                    return Err(Error::shape(
                        "batch_norm_backward",
                        format!("gradient {:?}, input {:?} and mean {:?} do not match", g.shape, x.shape, m.shape),
                    ));
                }
                same_dtype("batch_norm_backward", inputs)?;
                Meta::new(vec![2, x.shape[1]], x.dtype)
            }
            Prim::ChannelMoments => {
                let x = &inputs[0];
                if x.shape.len() < 2 {
                    return Err(Error::shape(
                        "batch_norm",
                        format!("Expected 2D or more input (got {}D input)", x.shape.len()),
                    ));
                }
                Meta::new(vec![2, x.shape[1]], x.dtype)
            }
            Prim::ChannelCombine => {
                let (u, v) = (&inputs[0], &inputs[1]);
                if u.shape.len() < 2 || u.shape != v.shape || inputs[2..].iter().any(|t| t.shape[..] != [u.shape[1]]) {
                    return Err(Error::shape(
                        "batch_norm_backward",
                        format!("operands {:?} and {:?} with per-channel coefficients do not match", u.shape, v.shape),
                    ));
                }
                same_dtype("batch_norm_backward", inputs)?;
                Meta::new(u.shape.clone(), u.dtype)
            }
            Prim::View(v) => {
                let l = inputs[0].layout();
                if let ViewOp::Reshape(s) = v {
                    if psionic_core::numel(s) != l.numel() {
                        return Err(Error::shape(
                            "view",
                            format!("shape '{s:?}' is invalid for input of size {}", l.numel()),
                        ));
                    }
                }
                let out = v.apply(&l)?;
                Meta { shape: out.shape, dtype: inputs[0].dtype, strides: out.strides }
            }
            Prim::Contiguous => Meta::new(inputs[0].shape.clone(), inputs[0].dtype),
            Prim::Matmul => {
                let d = same_dtype("matmul", inputs)?;
                let (a, b) = (&inputs[0].shape, &inputs[1].shape);
                let n = a.len();
                let mut shape = a[..n - 2].to_vec();
                shape.extend([a[n - 2], b[n - 1]]);
                Meta::new(shape, d)
            }
            Prim::Cat { dim } => {
                let d = same_dtype("cat", inputs)?;
                let mut shape = inputs[0].shape.clone();
                shape[*dim] = inputs.iter().map(|m| m.shape[*dim]).sum();
                Meta::new(shape, d)
            }
            Prim::SliceUpdate { .. } => Meta::new(inputs[0].shape.clone(), inputs[0].dtype),
            Prim::MaxPoolIndex(g) => {
                let x = &inputs[0].shape;
                let k = g.input.len();
                if x.len() < k || x[x.len() - k..] != g.input[..] {
                    return Err(Error::shape(
                        "max_pool",
                        format!("input {x:?} does not end in the pooled sizes {:?}", g.input),
                    ));
                }
                Meta::new([&x[..x.len() - k], &g.output[..]].concat(), DType::I64)
            }
            Prim::Gather { dim } => {
                check_index_shape("gather", inputs[1], &[(inputs[0], Some(*dim))])?;
                Meta::new(inputs[1].shape.clone(), inputs[0].dtype)
            }
            Prim::Scatter { dim, .. } => {
                same_dtype("scatter", &[inputs[0], inputs[2]])?;
                check_index_shape("scatter", inputs[1], &[(inputs[0], Some(*dim)), (inputs[2], None)])?;
                Meta::new(inputs[0].shape.clone(), inputs[0].dtype)
            }
            Prim::Fold { spatial, kernel, stride, dilation } => {
                let x = &inputs[0].shape;
                let k = kernel.len();
                let want = Layout::contiguous(&[x[..x.len().saturating_sub(2 * k)].to_vec(), spatial.clone()].concat())
                    .windows("fold", kernel, stride, dilation)?;
                if x.len() < 2 * k || want.shape != *x {
                    return Err(Error::shape("fold", format!("windows of shape {x:?} do not fold onto {spatial:?}")));
                }
                let mut shape = x[..x.len() - 2 * k].to_vec();
                shape.extend(spatial);
                Meta::new(shape, inputs[0].dtype)
            }
            Prim::Conv(d) => {
                let (a, b) = (&inputs[0], &inputs[1]);
                if a.dtype != b.dtype || !matches!(a.dtype, DType::F32 | DType::F64) {
                    return Err(Error::dtype("conv", "the convolution kernel needs two f32 or two f64 inputs"));
                }
                let (n, cout) = d.sizes(&a.shape, &b.shape)?;
                let shape = match d.mode {
                    Product::Forward => [vec![n, cout], d.output.clone()].concat(),
                    Product::InputGrad => [vec![n, d.channels], d.input.clone()].concat(),
                    Product::WeightGrad => [vec![cout, d.channels / d.groups], d.kernel.clone()].concat(),
                };
                Meta::new(shape, a.dtype)
            }
            Prim::Order { op, dim } => {
                let mut shape = inputs[0].shape.clone();
                if *op == OrderOp::Mode && !shape.is_empty() {
                    shape[*dim] = 1;
                }
                Meta::new(shape, DType::I64)
            }
            Prim::Linalg(op) => linalg_meta(*op, inputs)?,
            Prim::SearchSorted { .. } => {
                let (s, v) = (&inputs[0].shape, &inputs[1].shape);
                if s.len() > 1 && (s.len() != v.len() || s[..s.len() - 1] != v[..v.len() - 1]) {
                    return Err(Error::shape(
                        "searchsorted",
                        format!("boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries tensor and input value tensor must match, but we got boundaries tensor {s:?} and input value tensor {v:?}"),
                    ));
                }
                same_dtype("searchsorted", inputs)?;
                Meta::new(v.clone(), DType::I64)
            }
        })
    }

    pub fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        let x = inputs.first().copied();
        match self {
            Prim::Const => unreachable!("constants are born evaluated"),
            Prim::Placeholder => Err(Error::invalid(
                "vmap/compile",
                "the values of a batched tensor are not available inside the vmapped function, nor those of an input inside a function being compiled (they see shapes only); move value-dependent code (item, to_vec, printing, as_strided) outside vmap or compile",
            )),
            Prim::Custom(_) => Ok(inputs[inputs.len() - 1].clone()),
            Prim::Cast(d) => Ok(psionic_cpu::cast::cast(x.unwrap(), *d)),
            Prim::Unary(op) => psionic_cpu::unary::unary(*op, x.unwrap()),
            Prim::Binary(op) => psionic_cpu::binary::binary(*op, inputs[0], inputs[1], &out.shape),
            Prim::Ternary(op) => psionic_cpu::ternary::ternary(*op, inputs[0], inputs[1], inputs[2], &out.shape),
            Prim::Where => Ok(psionic_cpu::index::where_(inputs[0], inputs[1], inputs[2], &out.shape)),
            Prim::Reduce { op, dims } => psionic_cpu::reduce::reduce(*op, x.unwrap(), dims),
            Prim::Scan { op, dim, indices } => psionic_cpu::scan::scan(*op, x.unwrap(), *dim, *indices),
            Prim::Softmax { dim, log } => psionic_cpu::softmax::softmax(x.unwrap(), *dim, *log),
            Prim::SoftmaxGrad { dim, log } => psionic_cpu::softmax::softmax_grad(inputs[0], inputs[1], *dim, *log),
            Prim::LayerNorm { eps, .. } => psionic_cpu::norm::layer_norm(inputs[0], inputs[1], inputs[2], *eps),
            Prim::LayerNormGrad { eps, .. } => {
                psionic_cpu::norm::layer_norm_grad(inputs[0], inputs[1], inputs[2], *eps)
            }
            Prim::Attention { scale, causal } => {
                psionic_cpu::attention::attention(inputs[0], inputs[1], inputs[2], *scale, *causal)
            }
            Prim::AttentionGrad { scale, causal } => {
                psionic_cpu::attention::attention_grad(inputs[0], inputs[1], inputs[2], inputs[3], *scale, *causal)
            }
            Prim::AdamStep(c) => psionic_cpu::adam::adam_step(inputs[0], inputs[1], inputs[2], inputs[3], c),
            Prim::BatchNorm { eps } => {
                psionic_cpu::batch_norm::batch_norm(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], *eps)
            }
            Prim::ChannelSums => psionic_cpu::batch_norm::channel_sums(inputs[0], inputs[1], inputs[2]),
            Prim::ChannelMoments => psionic_cpu::batch_norm::channel_moments(inputs[0]),
            Prim::ChannelCombine => {
                psionic_cpu::batch_norm::channel_combine(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4])
            }
            Prim::View(v) => {
                let x = x.unwrap();
                Ok(x.with_layout(v.apply(&x.layout)?))
            }
            Prim::Contiguous => {
                let x = x.unwrap();
                Ok(psionic_cpu::with_dtype!(x.dtype(), T => psionic_cpu::elementwise::contiguous::<T>(x)))
            }
            Prim::Matmul => psionic_cpu::matmul::matmul(inputs[0], inputs[1]),
            Prim::Cat { dim } => {
                let out_l = Layout::contiguous(&out.shape);
                let mut start = 0i64;
                let mut pieces = Vec::with_capacity(inputs.len());
                for a in inputs {
                    let len = a.shape()[*dim];
                    pieces.push((out_l.narrow("cat", *dim as i64, start, len)?, *a));
                    start += len as i64;
                }
                Ok(psionic_cpu::index::assemble(&out.shape, out.dtype, &pieces))
            }
            Prim::Gather { dim } => psionic_cpu::gather::gather(inputs[0], inputs[1], *dim),
            Prim::Scatter { dim, reduce, include_self } => {
                psionic_cpu::gather::scatter(inputs[0], inputs[1], inputs[2], *dim, *reduce, *include_self)
            }
            Prim::Order { op, dim } => psionic_cpu::order::order(*op, x.unwrap(), *dim),
            Prim::MaxPoolIndex(g) => Ok(psionic_cpu::pool::max_pool_index(x.unwrap(), g, &out.shape)),
            Prim::Fold { spatial, kernel, stride, dilation } => {
                Ok(psionic_cpu::fold::fold(x.unwrap(), &out.shape, spatial.len(), kernel, stride, dilation))
            }
            Prim::Conv(d) => {
                let (n, cout) = d.sizes(inputs[0].shape(), inputs[1].shape())?;
                Ok(psionic_cpu::conv::conv(d.mode, inputs[0], inputs[1], &d.geometry(n, cout), &out.shape))
            }
            Prim::SearchSorted { right } => psionic_cpu::order::searchsorted(inputs[0], inputs[1], *right),
            Prim::Linalg(op) => psionic_linalg::eval(*op, inputs, &out.shape),
            Prim::SliceUpdate { chain } => {
                let (base, vals) = (inputs[0], inputs[1]);
                let replay = |l: &Layout| {
                    chain.iter().try_fold(l.clone(), |acc, v| v.apply(&acc)).expect("chain was valid on the base")
                };
                Ok(
                    psionic_cpu::with_dtype!(base.dtype(), T => psionic_cpu::elementwise::scatter_into::<T>(base, replay, vals)),
                )
            }
        }
    }
}
