//! Batch normalisation in training: one fused primitive for f32 and f64
//! (`Prim::BatchNorm`), whose backward reads the input and its gradient once for the
//! per-channel sums (`Prim::ChannelSums`) and once more for the input's gradient
//! (`Prim::ChannelCombine`), its statistics in one kernel (`Prim::ChannelMoments`); the
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
        let fused = matches!(dt, DType::F32 | DType::F64) && [weight, bias].iter().flatten().all(|t| t.dtype() == dt);
        let (mean, var) = if matches!(dt, DType::F32 | DType::F64) {
            let m = self.channel_moments();
            (m.select(0, 0), m.select(0, 1))
        } else {
            let dims: Vec<i64> = (0..self.dim() as i64).filter(|&d| d != 1).collect();
            let (var, mean) = self.var_mean(&dims[..], 0.0, false);
            (mean, var)
        };
        if !fused {
            // `x * scale + shift` with per-channel `scale = weight / sqrt(var + eps)` and
            // `shift = bias - mean * scale`, as PyTorch's CPU kernel computes it.
            let shape = channel_shape(self.dim());
            let scale = var.add(eps).rsqrt();
            let scale = weight.map_or(scale.clone(), |w| scale.mul(w));
            let shift = mean.mul(&scale).neg();
            let shift = bias.map_or(shift.clone(), |b| shift.add(b));
            let y = shift.reshape(&shape).addcmul(self, &scale.reshape(&shape), 1.0);
            return (y, mean, var);
        }
        let (one, zero);
        let w = match weight {
            Some(w) => w,
            None => {
                one = Tensor::full(&[], 1.0, dt).broadcast_to(&[c]);
                &one
            }
        };
        let b = match bias {
            Some(b) => b,
            None => {
                zero = Tensor::full(&[], 0.0, dt).broadcast_to(&[c]);
                &zero
            }
        };
        let y = check(Tensor::make(Prim::BatchNorm { eps }, &[self, w, b, &mean, &var]));
        (y, mean, var)
    }

    /// Per channel (dim 1), over every other dim: `[mean, biased variance]`, a
    /// `[2, channels]` tensor.
    pub(crate) fn channel_moments(&self) -> Tensor {
        check(Tensor::make(Prim::ChannelMoments, &[self]))
    }

    /// Per channel of `x` (dim 1): `[Σ self, Σ self * (x - mean)]` over every other dim,
    /// a `[2, channels]` tensor; `self` is a gradient of `x`'s shape.
    pub(crate) fn channel_sums(&self, x: &Tensor, mean: &Tensor) -> Tensor {
        check(Tensor::make(Prim::ChannelSums, &[self, x, mean]))
    }
}

impl Tensor {
    /// `(k + v * b) + self * a` with `a`, `b`, `k` per channel (`[channels]`) and `v` of
    /// `self`'s shape: batch norm's input gradient in one pass.
    pub(crate) fn channel_combine(&self, v: &Tensor, a: &Tensor, b: &Tensor, k: &Tensor) -> Tensor {
        check(Tensor::make(Prim::ChannelCombine, &[self, v, a, b, k]))
    }
}

/// `[1, -1, 1, ...]` for a rank-`rank` input: a per-channel value broadcast along dim 1.
pub(crate) fn channel_shape(rank: usize) -> Vec<i64> {
    (0..rank).map(|d| if d == 1 { -1 } else { 1 }).collect()
}
