//! Dropout variants beyond elementwise `dropout` (which is psionic-array's): whole
//! feature maps (`dropout1d/2d/3d`, `feature_alpha_dropout`) and SELU-preserving
//! `alpha_dropout`. Masks are drawn with `bernoulli_(1 - p)` in the input's dtype, in
//! PyTorch's order, so seeded runs drop the same elements.

use psionic_array::mode::raise;
use psionic_array::random::Generator;
use psionic_array::Tensor;
use psionic_core::Error;

pub use psionic_array::random::dropout;

/// SELU's negative saturation value, `-scale * alpha`.
const SELU_ALPHA: f64 = 1.7580993408473766;

fn check_p(op: &'static str, p: f64) {
    if !(0.0..=1.0).contains(&p) {
        raise(Error::invalid(op, format!("dropout probability has to be between 0 and 1, but got {p}")));
    }
}

/// The noise shape: the input's, or `[N, C, 1, ...]` to drop whole feature maps.
fn noise(x: &Tensor, feature: bool, keep: f64, g: Option<&Generator>) -> Tensor {
    let shape: Vec<usize> = if feature {
        x.shape().iter().enumerate().map(|(d, &s)| if d < 2 { s } else { 1 }).collect()
    } else {
        x.shape()
    };
    let n = Tensor::empty(&shape, x.dtype());
    n.bernoulli_(keep, g);
    n
}

fn drop(
    op: &'static str,
    x: &Tensor,
    p: f64,
    training: bool,
    feature: bool,
    alpha: bool,
    g: Option<&Generator>,
) -> Tensor {
    check_p(op, p);
    if p == 0.0 || !training || x.numel() == 0 {
        return x.clone();
    }
    if p == 1.0 {
        return x.mul(Tensor::zeros(&[], x.dtype()));
    }
    let mask = noise(x, feature, 1.0 - p, g);
    if alpha {
        let a = 1.0 / ((SELU_ALPHA * SELU_ALPHA * p + 1.0) * (1.0 - p)).sqrt();
        let b = mask.sub(1.0).mul(SELU_ALPHA * a).add(SELU_ALPHA * a * p);
        x.mul(mask.mul(a)).add(&b)
    } else {
        x.mul(mask.div(1.0 - p))
    }
}

/// Drops whole channels of `[N, C, ...]` (or unbatched `[C, ...]`, `batched_dims` being
/// the rank the op expects with a batch).
fn feature_dropout(
    op: &'static str,
    x: &Tensor,
    p: f64,
    training: bool,
    batched_dims: usize,
    g: Option<&Generator>,
) -> Tensor {
    if x.dim() != batched_dims && x.dim() != batched_dims - 1 {
        raise(Error::shape(
            op,
            format!(
                "{op}: Expected {}D or {batched_dims}D input, but received a {}D input.",
                batched_dims - 1,
                x.dim()
            ),
        ));
    }
    if x.dim() == batched_dims - 1 {
        return drop(op, &x.unsqueeze(0), p, training, true, false, g).squeeze_dims(&[0]);
    }
    drop(op, x, p, training, true, false, g)
}

/// `dropout1d`: zeroes whole channels of `[N, C, L]` (or `[C, L]`).
pub fn dropout1d(x: &Tensor, p: f64, training: bool, g: Option<&Generator>) -> Tensor {
    feature_dropout("dropout1d", x, p, training, 3, g)
}

/// `dropout2d`: zeroes whole channels of `[N, C, H, W]` (or `[C, H, W]`).
pub fn dropout2d(x: &Tensor, p: f64, training: bool, g: Option<&Generator>) -> Tensor {
    feature_dropout("dropout2d", x, p, training, 4, g)
}

/// `dropout3d`: zeroes whole channels of `[N, C, D, H, W]` (or `[C, D, H, W]`).
pub fn dropout3d(x: &Tensor, p: f64, training: bool, g: Option<&Generator>) -> Tensor {
    feature_dropout("dropout3d", x, p, training, 5, g)
}

/// `alpha_dropout`: drops to SELU's saturation value and rescales so that mean and
/// variance are kept.
pub fn alpha_dropout(x: &Tensor, p: f64, training: bool, g: Option<&Generator>) -> Tensor {
    drop("alpha_dropout", x, p, training, false, true, g)
}

/// `feature_alpha_dropout`: alpha dropout of whole channels.
pub fn feature_alpha_dropout(x: &Tensor, p: f64, training: bool, g: Option<&Generator>) -> Tensor {
    drop("feature_alpha_dropout", x, p, training, true, true, g)
}
