//! Normalisation layers as functions (`torch.nn.functional` names): statistics over the
//! dims each layer normalises, biased variance in the normaliser, unbiased in running
//! estimates, as PyTorch computes them. Built from tensor ops, so every input, weight and
//! bias is differentiable to any order.

use super::{channel_shape, plus, times};
use psionic_array::autodiff::no_grad;
use psionic_array::Tensor;
use psionic_core::Error;

fn fail(op: &'static str, msg: String) -> ! {
    psionic_array::mode::raise(Error::shape(op, msg))
}

/// `(x - mean) / sqrt(var + eps)` over `dims` (biased variance), with the variance
/// and mean (kept dims) for running estimates.
fn standardize(x: &Tensor, dims: &[i64], eps: f64) -> (Tensor, Tensor, Tensor) {
    let (var, mean) = x.var_mean(dims, 0.0, true);
    (x.sub(&mean).mul(var.add(eps).rsqrt()), var, mean)
}

/// Multiplies by `weight` and adds `bias`, both shaped `[C]`, along dim 1 of `y`.
fn per_channel(y: Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>) -> Tensor {
    let shape = channel_shape(y.dim(), 1);
    plus(times(y, weight.map(|w| w.reshape(&shape)).as_ref()), bias.map(|b| b.reshape(&shape)).as_ref())
}

fn trailing_dims(x: &Tensor, shape: &[usize], op: &'static str) -> Vec<i64> {
    let n = shape.len();
    let xs = x.shape();
    if n == 0 || n > xs.len() || xs[xs.len() - n..] != *shape {
        fail(
            op,
            format!(
                "Given normalized_shape={shape:?}, expected input with shape [*, {}], but got input of size{xs:?}",
                shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    (xs.len() - n..xs.len()).map(|d| d as i64).collect()
}

/// `layer_norm`: standardise over the trailing `normalized_shape`, then scale and shift.
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    trailing_dims(x, normalized_shape, "layer_norm");
    x.layer_norm(normalized_shape.len(), weight, bias, eps)
}

/// `rms_norm`: `x / sqrt(mean(x²) + eps)` over the trailing `normalized_shape`, times
/// `weight`; `eps` defaults to the dtype's machine epsilon.
pub fn rms_norm(x: &Tensor, normalized_shape: &[usize], weight: Option<&Tensor>, eps: Option<f64>) -> Tensor {
    let dims = trailing_dims(x, normalized_shape, "rms_norm");
    let eps = eps.unwrap_or_else(|| x.dtype().eps());
    times(x.mul(x.square().mean(&dims[..], true).add(eps).rsqrt()), weight)
}

/// Running estimates a batch or instance norm updates in training.
pub struct Running<'a> {
    pub mean: &'a Tensor,
    pub var: &'a Tensor,
}

impl Running<'_> {
    /// `x` standardised per channel (dim 1) with the estimates (evaluation).
    fn standardize(&self, x: &Tensor, eps: f64) -> Tensor {
        let shape = channel_shape(x.dim(), 1);
        x.sub(self.mean.reshape(&shape)).mul(self.var.reshape(&shape).add(eps).rsqrt())
    }

    /// Moves the estimates by `momentum` towards per-channel `mean` and biased `var`,
    /// each computed from `count` values (the variance made unbiased).
    fn update(&self, mean: &Tensor, var: &Tensor, count: usize, momentum: f64) {
        no_grad(|| {
            let unbiased = var.mul(count as f64 / (count as f64 - 1.0));
            let step = |r: &Tensor, v: Tensor| {
                r.copy_(&r.mul(1.0 - momentum).add(v.mul(momentum).to_dtype(r.dtype())));
            };
            step(self.mean, mean.detach());
            step(self.var, unbiased.detach());
        });
    }
}

/// `batch_norm`: in training, standardise each channel (dim 1) over the batch and
/// spatial dims and move the running estimates by `momentum` (the variance unbiased);
/// in evaluation, standardise with the running estimates.
pub fn batch_norm(
    x: &Tensor,
    running: Option<Running>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Tensor {
    if x.dim() < 2 {
        fail("batch_norm", format!("Expected 2D or more input (got {}D input)", x.dim()));
    }
    let count = x.numel() / x.size(1).max(1);
    if training && count <= 1 {
        psionic_array::mode::raise(Error::invalid(
            "batch_norm",
            format!("Expected more than 1 value per channel when training, got input size {:?}", x.shape()),
        ));
    }
    if let (Some(r), false) = (&running, training) {
        // Evaluation: the running estimates, constants of the input, standardise it.
        return x.batch_norm_apply(r.mean, r.var, weight, bias, eps);
    }
    let (y, mean, var) = x.batch_norm_train(weight, bias, eps);
    if let Some(r) = &running {
        r.update(&mean, &var, count, momentum);
    }
    y
}

/// `instance_norm`: standardise each (sample, channel) over its spatial dims; with
/// running estimates, training updates them with the batch mean of the per-instance
/// statistics and evaluation uses them (`use_input_stats=False`).
pub fn instance_norm(
    x: &Tensor,
    running: Option<Running>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    use_input_stats: bool,
    momentum: f64,
    eps: f64,
) -> Tensor {
    if x.dim() < 3 {
        fail("instance_norm", format!("Expected 3D or more input (got {}D input)", x.dim()));
    }
    let dims: Vec<i64> = (2..x.dim() as i64).collect();
    let y = match (&running, use_input_stats) {
        (Some(r), false) => r.standardize(x, eps),
        _ => {
            let (y, var, mean) = standardize(x, &dims, eps);
            if let Some(r) = &running {
                let per_instance = |t: &Tensor| t.flatten(1, -1).mean(0, false);
                r.update(&per_instance(&mean), &per_instance(&var), x.shape()[2..].iter().product(), momentum);
            }
            y
        }
    };
    per_channel(y, weight, bias)
}

/// `group_norm`: split the channels into `groups` and standardise each (sample, group)
/// over its channels and spatial dims, then scale and shift per channel.
pub fn group_norm(x: &Tensor, groups: usize, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f64) -> Tensor {
    if x.dim() < 2 {
        fail("group_norm", format!("Expected at least 2 dimensions for input tensor but received {}", x.dim()));
    }
    let (n, c) = (x.size(0) as i64, x.size(1));
    if groups == 0 || c % groups != 0 {
        psionic_array::mode::raise(Error::invalid(
            "group_norm",
            format!("Expected number of channels in input to be divisible by num_groups, but got input of shape {:?} and num_groups={groups}", x.shape()),
        ));
    }
    let grouped = x.reshape(&[n, groups as i64, -1]);
    let y = standardize(&grouped, &[2], eps).0.reshape_as(x);
    per_channel(y, weight, bias)
}

/// `local_response_norm`: `x / (k + alpha * mean of x² over `size` neighbouring
/// channels)^beta`, the window zero-padded (`size / 2` before, `(size - 1) / 2` after).
pub fn local_response_norm(x: &Tensor, size: usize, alpha: f64, beta: f64, k: f64) -> Tensor {
    if x.dim() < 3 {
        fail("local_response_norm", format!("Expected 3D or higher dimensionality input (got {} dimensions)", x.dim()));
    }
    if x.numel() == 0 {
        return x.clone();
    }
    let c = x.size(1);
    let mut pads = vec![0i64; 2 * (x.dim() - 1)];
    let at = 2 * (x.dim() - 2);
    pads[at] = (size / 2) as i64;
    pads[at + 1] = ((size - 1) / 2) as i64;
    let sq = x.square().pad(&pads, psionic_array::PadMode::Constant, 0.0);
    let mut sum = sq.narrow(1, 0, c);
    for j in 1..size as i64 {
        sum = sum.add(sq.narrow(1, j, c));
    }
    x.div(sum.div(size as f64).mul(alpha).add(k).pow(beta))
}
