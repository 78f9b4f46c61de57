//! batch_norm in training, fused: the per-channel statistics (`ChannelMoments`), the
//! normalisation (`BatchNorm`), and its backward's two passes (`ChannelSums`,
//! `ChannelCombine`). Each is a primitive with its own rules; sums are per channel in
//! one fixed order. f32 and f64.

use super::{like_first, BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::ops::batch_norm::channel_shape;
use crate::tensor::Tensor;
use psionic_core::{Error, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// batch_norm in training of input 0 (`[n, c, ...]`), given its per-channel batch mean
/// (input 3) and biased variance (input 4), scaled by input 1 and shifted by input 2
/// (all four `[c]`), in one pass. Inputs 3 and 4 must be input 0's statistics: the vjp
/// rule gives input 0 the whole gradient, through the statistics included, and none to
/// them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    pub eps: f64,
}

/// Per channel of input 1 (dim 1), over every other dim: the sum of input 0 (of input
/// 1's shape) and the sum of input 0 times (input 1 minus input 2, which is `[c]`), as
/// the rows of a `[2, c]` result. Batch norm's backward reads its two big operands once
/// through it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelSums;

/// Per channel of input 0 (dim 1), over every other dim: the mean and the biased
/// variance, as the rows of a `[2, c]` result; batch norm's statistics in one kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelMoments;

/// `(input 4 + input 1 * input 3) + input 0 * input 2`: inputs 0 and 1 of one shape
/// `[n, c, ...]`, inputs 2 to 4 per channel (`[c]`), in one pass; batch norm's input
/// gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelCombine;

/// A per-channel value (`[c]`, or `[batch, 1, c]` once aligned) broadcast against a
/// batched input of per-example rank `rank` whose channels are its dim 1.
fn channel_of(t: Tensor, rank: usize) -> Tensor {
    (2..rank).fold(t, |t, _| t.unsqueeze(-1))
}

/// The dims of a batched input of per-example rank `rank` other than its channels.
fn batched_non_channel_dims(rank: usize) -> Vec<i64> {
    (1..=rank as i64).filter(|&d| d != 2).collect()
}

impl Primitive for BatchNorm {
    fn backward_name(&self) -> Cow<'static, str> {
        "NativeBatchNorm".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let c = inputs[0].shape.get(1).copied();
        if inputs[0].shape.len() < 2
            || inputs[1..].iter().any(|t| Some(t.shape.as_slice()) != c.as_ref().map(std::slice::from_ref))
        {
            return Err(Error::shape(
                "batch_norm",
                format!("weight, bias, mean and var must be [channels] for an input of shape {:?}", inputs[0].shape),
            ));
        }
        super::same_dtype("batch_norm", inputs)?;
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::batch_norm::batch_norm(i[0], i[1], i[2], i[3], i[4], self.eps)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(batch_norm_vjp(self.eps, c.x, c.g, c.needs))
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Transpose)
    }
    /// A batch dim before the channels: the composite, per-channel values broadcast
    /// along the example's dims after the channel (the statistics are batched with x).
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let chan = |i: usize| channel_of(c.aligned(i, 2), c.lrank(0));
        Ok(c.full(0).batch_norm_aligned(&chan(3), &chan(4), Some(&chan(1)), Some(&chan(2)), self.eps))
    }
    /// The input, weight and statistics; the bias only shifts.
    fn saves(&self) -> Saves {
        Saves::of(0b11011, false)
    }
}

impl Primitive for ChannelSums {
    fn backward_name(&self) -> Cow<'static, str> {
        "NativeBatchNormBackward".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let (g, x, m) = (&inputs[0], &inputs[1], &inputs[2]);
        if x.shape.len() < 2 || g.shape != x.shape || m.shape[..] != [x.shape[1]] {
            return Err(Error::shape(
                "batch_norm_backward",
                format!("gradient {:?}, input {:?} and mean {:?} do not match", g.shape, x.shape, m.shape),
            ));
        }
        super::same_dtype("batch_norm_backward", inputs)?;
        Ok(Meta::new(vec![2, x.shape[1]], x.dtype))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::batch_norm::channel_sums(i[0], i[1], i[2])
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(channel_sums_vjp(c.x, c.y, c.g, c.needs))
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Transpose)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let rank = c.lrank(1);
        let dims = batched_non_channel_dims(rank);
        let g = c.full(0);
        let dev = c.full(1).sub(channel_of(c.aligned(2, 2), rank));
        Ok(Tensor::stack(&[&g.sum(&dims[..], false), &g.mul(dev).sum(&dims[..], false)], 1))
    }
    fn saves(&self) -> Saves {
        Saves::of(0b111, true)
    }
}

impl Primitive for ChannelMoments {
    fn backward_name(&self) -> Cow<'static, str> {
        "BatchNormStats".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let x = &inputs[0];
        if x.shape.len() < 2 {
            return Err(Error::shape(
                "batch_norm",
                format!("Expected 2D or more input (got {}D input)", x.shape.len()),
            ));
        }
        Ok(Meta::new(vec![2, x.shape[1]], x.dtype))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::batch_norm::channel_moments(i[0])
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(channel_moments_vjp(&c.x[0], c.y, c.g))])
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Transpose)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let dims = batched_non_channel_dims(c.lrank(0));
        let (var, mean) = c.full(0).var_mean(&dims[..], 0.0, false);
        Ok(Tensor::stack(&[&mean, &var], 1))
    }
    fn saves(&self) -> Saves {
        Saves::of(0b1, true)
    }
}

impl Primitive for ChannelCombine {
    fn backward_name(&self) -> Cow<'static, str> {
        "NativeBatchNormBackward".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let (u, v) = (&inputs[0], &inputs[1]);
        if u.shape.len() < 2 || u.shape != v.shape || inputs[2..].iter().any(|t| t.shape[..] != [u.shape[1]]) {
            return Err(Error::shape(
                "batch_norm_backward",
                format!("operands {:?} and {:?} with per-channel coefficients do not match", u.shape, v.shape),
            ));
        }
        super::same_dtype("batch_norm_backward", inputs)?;
        Ok(like_first(inputs))
    }
    fn eval_cpu(&self, i: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::batch_norm::channel_combine(i[0], i[1], i[2], i[3], i[4])
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(channel_combine_vjp(c.x, c.g, c.needs))
    }
    fn jvp(&self, _: &JvpCtx) -> Result<Jvp> {
        Ok(Jvp::Transpose)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        let chan = |i: usize| channel_of(c.aligned(i, 2), c.lrank(0));
        Ok(chan(4).addcmul(&c.full(1), &chan(3), 1.0).addcmul(&c.full(0), &chan(2), 1.0))
    }
    fn saves(&self) -> Saves {
        Saves::of(0b1111, false)
    }
}

/// Input gradients of training batch norm, `y = (x - mean) * rstd * w + b` per channel
/// with `mean` and `rstd = 1 / sqrt(var + eps)` the batch statistics of `x` (inputs 3
/// and 4). With `s1 = Σ g` and `s2 = Σ g (x - mean)` per channel (one pass over `g` and
/// `x`): `dx = a g + c2 x + c0` for per-channel `a = w rstd`, `c2 = -a rstd² s2 / n`,
/// `c0 = -a s1 / n - c2 mean`, which accounts for the statistics' dependence on `x`, so
/// they get no gradient of their own; `dw = rstd s2` and `db = s1`. The statistics are
/// graph values of `x`, so differentiating this again differentiates through them.
fn batch_norm_vjp(eps: f64, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (input, w, mean, var) = (&x[0], &x[1], &x[3], &x[4]);
    let n = (input.numel() / input.size(1).max(1)) as f64;
    let rstd = var.add(eps).rsqrt();
    let sums = g.channel_sums(input, mean);
    let (s1, s2) = (sums.select(0, 0), sums.select(0, 1));
    let gx = needs[0].then(|| {
        let a = w.mul(&rstd);
        let c2 = a.mul(rstd.square()).mul(&s2).mul(-1.0 / n);
        let c0 = a.mul(&s1).mul(-1.0 / n).sub(c2.mul(mean));
        g.channel_combine(input, &a, &c2, &c0)
    });
    let gw = needs[1].then(|| s2.mul(&rstd));
    let gb = needs[2].then_some(s1);
    vec![gx, gw, gb, None, None]
}

/// Input gradients of `[Σ g, Σ g (x - m)]` per channel given the cotangent `ct`
/// (`[2, c]`): `dg = ct0 + ct1 (x - m)`, `dx = ct1 g`, `dm = -ct1 Σ g` (row 0 of `y`).
fn channel_sums_vjp(x: &[Tensor], y: &Tensor, ct: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (g, input, m) = (&x[0], &x[1], &x[2]);
    let shape = channel_shape(input.dim());
    let (ct0, ct1) = (ct.select(0, 0), ct.select(0, 1));
    let gg = needs[0].then(|| ct0.sub(ct1.mul(m)).reshape(&shape).addcmul(input, &ct1.reshape(&shape), 1.0));
    let gx = needs[1].then(|| g.mul(ct1.reshape(&shape)));
    let gm = needs[2].then(|| ct1.mul(y.select(0, 0)).neg());
    vec![gg, gx, gm]
}

/// Input gradients of `(k + v b) + u a` (per-channel `a`, `b`, `k`) given `ct`:
/// `du = ct a`, `dv = ct b`, and the per-channel sums `da = Σ ct u`, `db = Σ ct v`,
/// `dk = Σ ct`.
fn channel_combine_vjp(x: &[Tensor], ct: &Tensor, needs: &[bool]) -> Vec<Option<Tensor>> {
    let (u, v, a, b) = (&x[0], &x[1], &x[2], &x[3]);
    let shape = channel_shape(u.dim());
    let zero = a.zeros_like();
    let su = (needs[2] || needs[4]).then(|| ct.channel_sums(u, &zero));
    let sv = needs[3].then(|| ct.channel_sums(v, &zero).select(0, 1));
    vec![
        needs[0].then(|| ct.mul(a.reshape(&shape))),
        needs[1].then(|| ct.mul(b.reshape(&shape))),
        needs[2].then(|| su.as_ref().expect("built when needed").select(0, 1)),
        sv,
        needs[4].then(|| su.as_ref().expect("built when needed").select(0, 0)),
    ]
}

/// Input gradient of per-channel `[mean, biased var]` given `ct` (`[2, c]`):
/// `dx = ct0 / n + ct1 2 (x - mean) / n`, one `addcmul` with per-channel operands.
fn channel_moments_vjp(x: &Tensor, y: &Tensor, ct: &Tensor) -> Tensor {
    let shape = channel_shape(x.dim());
    let n = (x.numel() / x.size(1).max(1)) as f64;
    let (ct0, slope) = (ct.select(0, 0), ct.select(0, 1).mul(2.0 / n));
    ct0.mul(1.0 / n).sub(slope.mul(y.select(0, 0))).reshape(&shape).addcmul(x, &slope.reshape(&shape), 1.0)
}
