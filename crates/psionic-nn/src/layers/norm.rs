//! Normalisation modules. BatchNorm and InstanceNorm keep running statistics as buffers
//! (`running_mean`, `running_var`, `num_batches_tracked`) and use them in evaluation.

use super::param;
use crate::functional::{self as F, Running};
use crate::module::{Forward, Training};
use crate::Module;
use psionic_array::autodiff::no_grad;
use psionic_array::{DType, Tensor};

/// A parameter of `shape` initialised to ones (norm weights).
fn ones_param(shape: &[usize]) -> Tensor {
    let w = param(shape);
    crate::init::ones_(&w);
    w
}

fn affine(n: usize, on: bool) -> (Option<Tensor>, Option<Tensor>) {
    if !on {
        return (None, None);
    }
    (Some(ones_param(&[n])), Some(param(&[n])))
}

/// Running statistics of a batch or instance norm: buffers of the norm itself.
#[derive(Module)]
pub struct Stats {
    #[buffer]
    pub running_mean: Tensor,
    #[buffer]
    pub running_var: Tensor,
    #[buffer]
    pub num_batches_tracked: Tensor,
}

/// What BatchNorm and InstanceNorm share: optional affine parameters, optional running
/// statistics, `eps`, `momentum` and the train/eval flag; they differ in the dims their
/// statistics span and in how momentum `None` is read.
#[derive(Module)]
pub struct StatNorm {
    #[param]
    pub weight: Option<Tensor>,
    #[param]
    pub bias: Option<Tensor>,
    /// Absent when the norm tracks no running statistics.
    #[child(flatten)]
    pub stats: Option<Stats>,
    pub eps: f64,
    pub momentum: Option<f64>,
    #[training]
    training: Training,
}

impl StatNorm {
    fn new(n: usize, eps: f64, momentum: Option<f64>, affine_: bool, track: bool) -> StatNorm {
        let (weight, bias) = affine(n, affine_);
        let stats = track.then(|| Stats {
            running_mean: Tensor::zeros(&[n], DType::F32),
            running_var: Tensor::ones(&[n], DType::F32),
            num_batches_tracked: Tensor::zeros(&[], DType::I64),
        });
        StatNorm { weight, bias, stats, eps, momentum, training: Training::default() }
    }

    fn running(&self) -> Option<Running<'_>> {
        self.stats.as_ref().map(|s| Running { mean: &s.running_mean, var: &s.running_var })
    }

    /// Whether this call normalises with the input's own statistics: in training, or
    /// whenever there are no running statistics.
    fn uses_input_stats(&self) -> bool {
        self.training.get() || self.stats.is_none()
    }
}

/// BatchNorm1d/2d/3d over channel dim 1.
#[derive(Module)]
#[module(name = kind_name)]
pub struct BatchNorm {
    /// Its members are the module's own.
    #[child(flatten)]
    pub norm: StatNorm,
    pub dims: usize,
}

impl BatchNorm {
    /// `BatchNorm{dims}d(num_features)` with PyTorch's defaults (eps 1e-5, momentum 0.1,
    /// affine, tracking running statistics).
    pub fn new(dims: usize, num_features: usize) -> BatchNorm {
        BatchNorm::with(dims, num_features, 1e-5, Some(0.1), true, true)
    }

    /// `momentum` `None`: a cumulative average of every batch seen.
    pub fn with(dims: usize, n: usize, eps: f64, momentum: Option<f64>, affine_: bool, track: bool) -> BatchNorm {
        assert!((1..=3).contains(&dims), "BatchNorm: 1, 2 or 3 dims");
        BatchNorm { norm: StatNorm::new(n, eps, momentum, affine_, track), dims }
    }
}

impl BatchNorm {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"][self.dims - 1]
    }
}

impl Forward for BatchNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        let ranks: &[usize] = [&[2usize, 3][..], &[4], &[5]][self.dims - 1];
        if !ranks.contains(&x.dim()) {
            let want = ranks.iter().map(|r| format!("{r}D")).collect::<Vec<_>>().join(" or ");
            psionic_array::mode::raise(psionic_core::Error::shape(
                "batch_norm",
                format!("expected {want} input (got {}D input)", x.dim()),
            ));
        }
        let n = &self.norm;
        // Training counts the batch; the averaging factor is `momentum`, or `1 / batches`
        // for a cumulative average when momentum is `None`.
        let factor = match (&n.stats, n.training.get()) {
            (Some(s), true) => {
                no_grad(|| s.num_batches_tracked.add_(1));
                n.momentum.unwrap_or_else(|| 1.0 / s.num_batches_tracked.item::<i64>() as f64)
            }
            _ => 0.0,
        };
        F::batch_norm(x, n.running(), n.weight.as_ref(), n.bias.as_ref(), n.uses_input_stats(), factor, n.eps)
    }
}

/// InstanceNorm1d/2d/3d: per-sample, per-channel statistics; no affine parameters and
/// no running statistics by default.
#[derive(Module)]
#[module(name = kind_name)]
pub struct InstanceNorm {
    /// Its members are the module's own.
    #[child(flatten)]
    pub norm: StatNorm,
    pub dims: usize,
}

impl InstanceNorm {
    pub fn new(dims: usize, n: usize, eps: f64, momentum: Option<f64>, affine_: bool, track: bool) -> InstanceNorm {
        assert!((1..=3).contains(&dims), "InstanceNorm: 1, 2 or 3 dims");
        InstanceNorm { norm: StatNorm::new(n, eps, momentum, affine_, track), dims }
    }
}

impl InstanceNorm {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"][self.dims - 1]
    }
}

impl Forward for InstanceNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        // Unbatched input `[C, ...]` gets a batch of one.
        if x.dim() == self.dims + 1 {
            return self.forward(&x.unsqueeze(0)).squeeze_dims(&[0]);
        }
        // Unlike BatchNorm, InstanceNorm never counts batches: `momentum` None is 0.
        let n = &self.norm;
        let factor = n.momentum.unwrap_or(0.0);
        F::instance_norm(x, n.running(), n.weight.as_ref(), n.bias.as_ref(), n.uses_input_stats(), factor, n.eps)
    }
}

/// LayerNorm over the trailing `normalized_shape`.
#[derive(Module)]
#[module(repr = repr_args)]
pub struct LayerNorm {
    #[param]
    pub weight: Option<Tensor>,
    #[param]
    pub bias: Option<Tensor>,
    pub normalized_shape: Vec<usize>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(normalized_shape: &[usize]) -> LayerNorm {
        LayerNorm::with(normalized_shape, 1e-5, true, true)
    }

    pub fn with(normalized_shape: &[usize], eps: f64, elementwise_affine: bool, bias: bool) -> LayerNorm {
        let weight = elementwise_affine.then(|| ones_param(normalized_shape));
        let bias = (elementwise_affine && bias).then(|| param(normalized_shape));
        LayerNorm { weight, bias, normalized_shape: normalized_shape.to_vec(), eps }
    }
}

impl LayerNorm {
    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("{:?}, eps={}, elementwise_affine={}", self.normalized_shape, self.eps, self.weight.is_some())
    }
}

impl Forward for LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        F::layer_norm(x, &self.normalized_shape, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }
}

/// GroupNorm: `num_groups` groups of channels.
#[derive(Module)]
pub struct GroupNorm {
    #[param]
    pub weight: Option<Tensor>,
    #[param]
    pub bias: Option<Tensor>,
    pub num_groups: usize,
    pub eps: f64,
}

impl GroupNorm {
    pub fn new(num_groups: usize, num_channels: usize, eps: f64, affine_: bool) -> GroupNorm {
        assert!(
            num_groups > 0 && num_channels.is_multiple_of(num_groups),
            "num_channels must be divisible by num_groups"
        );
        let (weight, bias) = affine(num_channels, affine_);
        GroupNorm { weight, bias, num_groups, eps }
    }
}

impl Forward for GroupNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        F::group_norm(x, self.num_groups, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }
}

/// RMSNorm over the trailing `normalized_shape`; `eps` `None` is the dtype's epsilon.
#[derive(Module)]
pub struct RMSNorm {
    #[param]
    pub weight: Option<Tensor>,
    pub normalized_shape: Vec<usize>,
    pub eps: Option<f64>,
}

impl RMSNorm {
    pub fn new(normalized_shape: &[usize], eps: Option<f64>, elementwise_affine: bool) -> RMSNorm {
        let weight = elementwise_affine.then(|| ones_param(normalized_shape));
        RMSNorm { weight, normalized_shape: normalized_shape.to_vec(), eps }
    }
}

impl Forward for RMSNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        F::rms_norm(x, &self.normalized_shape, self.weight.as_ref(), self.eps)
    }
}

/// LocalResponseNorm across neighbouring channels.
#[derive(Module)]
pub struct LocalResponseNorm {
    pub size: usize,
    pub alpha: f64,
    pub beta: f64,
    pub k: f64,
}

impl LocalResponseNorm {
    /// PyTorch's defaults: alpha 1e-4, beta 0.75, k 1.
    pub fn new(size: usize) -> LocalResponseNorm {
        LocalResponseNorm { size, alpha: 1e-4, beta: 0.75, k: 1.0 }
    }
}

impl Forward for LocalResponseNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        F::local_response_norm(x, self.size, self.alpha, self.beta, self.k)
    }
}
