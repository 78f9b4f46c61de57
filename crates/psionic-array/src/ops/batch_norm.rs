//! Batch normalisation in training: one fused primitive for f32 and f64
//! (`Prim::BatchNorm`), whose backward reads the input and its gradient once for the
//! per-channel sums (`Prim::ChannelSums(crate::prim::ChannelSums)`) and once more for the input's gradient
//! (`Prim::ChannelCombine(crate::prim::ChannelCombine)`), its statistics in one kernel (`Prim::ChannelMoments(crate::prim::ChannelMoments)`); the
//! composite of reductions and broadcast ops for the other dtypes.

use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

impl Tensor {
    /// `torch.native_batch_norm` in training: each channel (dim 1) standardised over
    /// every other dim with the batch's mean and biased variance, then scaled by `weight`
    /// and shifted by `bias` (`[channels]` each). Returns the output with the mean and
    /// biased variance (`[channels]`), which a caller keeps for running estimates.
    #[track_caller]
    pub fn batch_norm_train(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> (Tensor, Tensor, Tensor) {
        if self.dim() < 2 {
            raise(Error::shape("batch_norm", format!("Expected 2D or more input (got {}D input)", self.dim())));
        }
        let c = self.size(1);
        for (name, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t.filter(|t| t.shape() != [c]) {
                raise(Error::shape(
                    "batch_norm",
                    format!("{name} should contain {c} elements not {} (shape {:?})", t.numel(), t.shape()),
                ));
            }
        }
        let dt = self.dtype();
        let float = matches!(dt, DType::F32 | DType::F64);
        let (mean, var) = if float {
            let m = self.channel_moments();
            (m.select(0, 0), m.select(0, 1))
        } else {
            let dims: Vec<i64> = (0..self.dim() as i64).filter(|&d| d != 1).collect();
            let (var, mean) = self.var_mean(&dims[..], 0.0, false);
            (mean, var)
        };
        if !(float && [weight, bias].iter().flatten().all(|t| t.dtype() == dt)) {
            let y = self.batch_norm_apply(&mean, &var, weight, bias, eps);
            return (y, mean, var);
        }
        let given_or =
            |t: Option<&Tensor>, v: f64| t.cloned().unwrap_or_else(|| Tensor::full(&[], v, dt).broadcast_to(&[c]));
        let (w, b) = (given_or(weight, 1.0), given_or(bias, 0.0));
        let y = check(Tensor::make(Prim::BatchNorm(crate::prim::BatchNorm { eps }), &[self, &w, &b, &mean, &var]));
        (y, mean, var)
    }

    /// Batch norm with given per-channel statistics and affine parameters (`[c]` each,
    /// `c` the size of dim 1), PyTorch's CPU kernel's arithmetic: `x * scale + shift`
    /// with `scale = weight / sqrt(var + eps)` and `shift = bias - mean * scale`.
    /// Evaluation with running estimates, and the composite behind
    /// [`Tensor::batch_norm_train`] where the fused kernels do not apply.
    #[track_caller]
    pub fn batch_norm_apply(
        &self,
        mean: &Tensor,
        var: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let per_channel = |t: &Tensor| t.reshape(&channel_shape(self.dim()));
        let (w, b) = (weight.map(per_channel), bias.map(per_channel));
        self.batch_norm_aligned(&per_channel(mean), &per_channel(var), w.as_ref(), b.as_ref(), eps)
    }

    /// [`Tensor::batch_norm_apply`] with its operands already shaped to broadcast along
    /// `self`'s channels (`[1, c, 1, ...]`, or batched so by the vmap rule).
    pub(crate) fn batch_norm_aligned(
        &self,
        mean: &Tensor,
        var: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let scale = var.add(eps).rsqrt();
        let scale = weight.map_or(scale.clone(), |w| scale.mul(w));
        let shift = mean.mul(&scale).neg();
        let shift = bias.map_or(shift.clone(), |b| shift.add(b));
        shift.addcmul(self, &scale, 1.0)
    }

    /// Per channel (dim 1), over every other dim: `[mean, biased variance]`, a
    /// `[2, channels]` tensor.
    pub(crate) fn channel_moments(&self) -> Tensor {
        check(Tensor::make(Prim::ChannelMoments(crate::prim::ChannelMoments), &[self]))
    }

    /// Per channel of `x` (dim 1): `[Σ self, Σ self * (x - mean)]` over every other dim,
    /// a `[2, channels]` tensor; `self` is a gradient of `x`'s shape.
    pub(crate) fn channel_sums(&self, x: &Tensor, mean: &Tensor) -> Tensor {
        check(Tensor::make(Prim::ChannelSums(crate::prim::ChannelSums), &[self, x, mean]))
    }

    /// `(k + v * b) + self * a` with `a`, `b`, `k` per channel (`[channels]`) and `v` of
    /// `self`'s shape: batch norm's input gradient in one pass.
    pub(crate) fn channel_combine(&self, v: &Tensor, a: &Tensor, b: &Tensor, k: &Tensor) -> Tensor {
        check(Tensor::make(Prim::ChannelCombine(crate::prim::ChannelCombine), &[self, v, a, b, k]))
    }
}

/// `[1, -1, 1, ...]` for a rank-`rank` input: a per-channel value broadcast along dim 1.
pub(crate) fn channel_shape(rank: usize) -> Vec<i64> {
    (0..rank).map(|d| if d == 1 { -1 } else { 1 }).collect()
}
