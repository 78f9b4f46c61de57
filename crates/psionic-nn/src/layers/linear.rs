//! Linear, Bilinear, Identity, Flatten and Unflatten.

use super::{param, reset_linear_like};
use crate::module::Forward;
use crate::Module;
use psionic_array::Tensor;

/// `y = x Wᵀ + b`; weight `[out, in]`.
#[derive(Module)]
#[module(repr = repr_args)]
pub struct Linear {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub in_features: usize,
    pub out_features: usize,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        Linear::with_bias(in_features, out_features, true)
    }

    pub fn with_bias(in_features: usize, out_features: usize, bias: bool) -> Linear {
        let weight = param(&[out_features, in_features]);
        let bias = bias.then(|| param(&[out_features]));
        reset_linear_like(&weight, bias.as_ref());
        Linear { weight, bias, in_features, out_features }
    }
}

impl Linear {
    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("in_features={}, out_features={}, bias={}", self.in_features, self.out_features, self.bias.is_some())
    }
}

impl Forward for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// `y = x1ᵀ W x2 + b`; weight `[out, in1, in2]`.
#[derive(Module)]
pub struct Bilinear {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
}

impl Bilinear {
    pub fn new(in1: usize, in2: usize, out: usize, bias: bool) -> Bilinear {
        let weight = param(&[out, in1, in2]);
        let bias = bias.then(|| param(&[out]));
        let bound = 1.0 / (in1 as f64).sqrt();
        crate::init::uniform_(&weight, -bound, bound, None);
        if let Some(b) = &bias {
            crate::init::uniform_(b, -bound, bound, None);
        }
        Bilinear { weight, bias }
    }

    pub fn forward(&self, x1: &Tensor, x2: &Tensor) -> Tensor {
        crate::functional::bilinear(x1, x2, &self.weight, self.bias.as_ref())
    }
}

/// Returns its input.
#[derive(Default, Module)]
pub struct Identity;

impl Forward for Identity {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
}

/// Flattens dims `start_dim..=end_dim` (PyTorch's defaults 1 and -1).
#[derive(Module)]
#[module(repr = repr_args)]
pub struct Flatten {
    pub start_dim: i64,
    pub end_dim: i64,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1, end_dim: -1 }
    }
}

impl Flatten {
    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
}

impl Forward for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(self.start_dim, self.end_dim)
    }
}

/// Splits dim `dim` into `sizes`.
#[derive(Module)]
#[module(repr = repr_args)]
pub struct Unflatten {
    pub dim: i64,
    pub sizes: Vec<i64>,
}

impl Unflatten {
    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        format!("dim={}, unflattened_size={:?}", self.dim, self.sizes)
    }
}

impl Forward for Unflatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.unflatten(self.dim, &self.sizes)
    }
}
