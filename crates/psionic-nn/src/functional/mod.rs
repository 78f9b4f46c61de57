//! `torch.nn.functional` for what `Tensor` does not already carry as a method: norms,
//! attention, losses, dropout variants and a few layers' maths. Activations, convolution,
//! pooling, padding, interpolation and the regression losses are `Tensor` methods.

mod attention;
mod ctc;
mod dropout;
mod loss;
mod norm;

pub use attention::{causal_bias, scaled_dot_product_attention, Sdpa};
pub use ctc::ctc_loss;
pub use dropout::{alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout};
pub use loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss, cosine_similarity, cross_entropy,
    gaussian_nll_loss, hinge_embedding_loss, kl_div, margin_ranking_loss, multi_margin_loss, multilabel_margin_loss,
    multilabel_soft_margin_loss, nll_loss, pairwise_distance, poisson_nll_loss, soft_margin_loss, triplet_margin_loss,
    triplet_margin_with_distance_loss, ClassLoss, KlReduction,
};
pub use norm::{batch_norm, group_norm, instance_norm, layer_norm, local_response_norm, rms_norm, Running};
pub use psionic_array::Reduction;

use psionic_array::autocast;
use psionic_array::Tensor;

/// Shape `[1, .., -1, .., 1]` of `ndim` dims that lays a per-channel vector along `dim`.
pub(crate) fn channel_shape(ndim: usize, dim: usize) -> Vec<i64> {
    (0..ndim).map(|d| if d == dim { -1 } else { 1 }).collect()
}

/// `t * w`, or `t` when there is no `w` (optional weights and scales).
pub(crate) fn times(t: Tensor, w: Option<&Tensor>) -> Tensor {
    match w {
        Some(w) => t.mul(w),
        None => t,
    }
}

/// `t + b`, or `t` when there is no `b` (optional biases).
pub(crate) fn plus(t: Tensor, b: Option<&Tensor>) -> Tensor {
    match b {
        Some(b) => t.add(b),
        None => t,
    }
}

/// `prelu`: `max(0, x) + weight * min(0, x)`, one slope or one per channel (dim 1).
pub fn prelu(x: &Tensor, weight: &Tensor) -> Tensor {
    let (xa, wa) = (autocast::lower(x), autocast::lower(weight));
    if let Some(y) = autocast::casting(|| prelu(&xa, &wa)) {
        return y;
    }
    let w = if weight.numel() > 1 && x.dim() >= 2 {
        weight.reshape(&channel_shape(x.dim(), 1))
    } else {
        weight.reshape(&[])
    };
    x.relu().add(w.mul(x.neg().relu().neg()))
}

/// `bilinear`: `y[..., o] = x1[..., i] W[o, i, j] x2[..., j] + b[o]`.
pub fn bilinear(x1: &Tensor, x2: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
    // On neither autocast list: its products run in the inputs' dtypes.
    if let Some(y) = autocast::casting(|| bilinear(x1, x2, weight, bias)) {
        return y;
    }
    plus(Tensor::einsum("...i,oij,...j->...o", &[x1, weight, x2]), bias)
}
