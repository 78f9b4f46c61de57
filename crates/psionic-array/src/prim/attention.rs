//! Fused scaled dot-product attention and its fused gradient.

use super::{BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::mode::check;
use crate::ops::args::dims_i64;
use crate::tensor::Tensor;
use psionic_core::{DType, Dims, Error, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// Scaled dot-product attention `softmax(scale · q kᵀ) v` of `q [..., L, E]`,
/// `k [..., S, E]` and `v [..., S, Ev]` (one leading shape, all of size at least 1),
/// with query `i` seeing keys `0..=i` when `causal`; fused per block of queries, f32 and
/// f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attention {
    pub scale: f64,
    pub causal: bool,
}

/// The gradients of `Attention { scale, causal }` at inputs 0-2 for the output gradient
/// input 3, packed per matrix: `[..., L*E + S*E + S*Ev]`, `dq | dk | dv`. It stands for
/// the same formulas written with ops ([`gradients`]), which give its own derivatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionGrad {
    pub scale: f64,
    pub causal: bool,
}

impl Primitive for Attention {
    fn backward_name(&self) -> Cow<'static, str> {
        "ScaledDotProductFlashAttentionForCpu".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        attention_meta(false, inputs)
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::attention::attention(i[0], i[1], i[2], self.scale, self.causal)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vjp(self.scale, self.causal, c.x, c.g, c.needs))
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Transpose)
    }
    /// The batch dim is one more leading dim of every operand.
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&c.all_full())
    }
    fn saves(&self) -> Saves {
        Saves::of(0b111, false)
    }
}

impl AttentionGrad {
    /// What the kernel computes, from differentiable ops: inputs `q`, `k`, `v`, `g`.
    fn composite(&self, x: &[Tensor]) -> Tensor {
        let grads = gradients(self.scale, self.causal, &x[..3], &x[3], &[true; 3]);
        let r = x[0].dim() as i64;
        let flat: Vec<Tensor> = grads.into_iter().map(|t| t.expect("asked for").flatten(r - 2, r - 1)).collect();
        Tensor::cat(&flat.iter().collect::<Vec<_>>(), r - 2)
    }
}

impl Primitive for AttentionGrad {
    fn backward_name(&self) -> Cow<'static, str> {
        "ScaledDotProductFlashAttentionForCpuBackward".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        attention_meta(true, inputs)
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::attention::attention_grad(i[0], i[1], i[2], i[3], self.scale, self.causal)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        c.composite(&|x| self.composite(x))
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        c.composite(&|x| self.composite(x))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&c.all_full())
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
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
fn attention_meta(grad: bool, inputs: &[&Meta]) -> Result<Meta> {
    let op = if grad { "scaled_dot_product_attention_backward" } else { "scaled_dot_product_attention" };
    let d = super::same_dtype(op, inputs)?;
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

/// Input gradients of `o = p v`, `p = softmax(scale · q kᵀ)` (masked when `causal`), from
/// the fused `AttentionGrad`, which recomputes `p` a block of queries at a time (and is
/// differentiable through [`gradients`]).
fn vjp(scale: f64, causal: bool, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (q, k, v) = (&x[0], &x[1], &x[2]);
    let packed = check(Tensor::make(AttentionGrad { scale, causal }.into(), &[q, k, v, g]));
    let mut at = 0;
    [q, k, v]
        .iter()
        .zip(needs)
        .map(|(t, &need)| {
            let len = t.size(-2) * t.size(-1);
            let part = need.then(|| packed.narrow(-1, at as i64, len).reshape(&dims_i64(&t.shape())));
            at += len;
            part
        })
        .collect()
}

/// The same gradients from ops, `p` as a tensor: `dv = pᵀ g`,
/// `ds = scale · p (g vᵀ - Σ p g vᵀ)`, `dq = ds k`, `dk = dsᵀ q`.
fn gradients(scale: f64, causal: bool, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (q, k, v) = (&x[0], &x[1], &x[2]);
    let p = q.attention_weights(k, scale, causal);
    let dv = needs[2].then(|| p.transpose(-2, -1).matmul(g));
    if !needs[0] && !needs[1] {
        return vec![None, None, dv];
    }
    let r = p.dim() - 1;
    let ds = super::softmax::softmax_vjp(r, false, &p, &g.matmul(&v.transpose(-2, -1))).mul(scale);
    let dq = needs[0].then(|| ds.matmul(k));
    let dk = needs[1].then(|| ds.transpose(-2, -1).matmul(q));
    vec![dq, dk, dv]
}
