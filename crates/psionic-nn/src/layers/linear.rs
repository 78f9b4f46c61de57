//! Linear, Bilinear, Identity, Flatten and Unflatten.

use super::{param, reset_linear_like};
use crate::module::{Forward, Member, Module};
use psionic_array::Tensor;

/// `y = x Wᵀ + b`; weight `[out, in]`.
pub struct Linear {
    pub weight: Tensor,
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

impl Module for Linear {
    fn type_name(&self) -> &'static str {
        "Linear"
    }
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        f("weight", Member::Param(Some(&self.weight)));
        f("bias", Member::Param(self.bias.as_ref()));
    }
    fn extra_repr(&self) -> String {
        format!("in_features={}, out_features={}, bias={}", self.in_features, self.out_features, self.bias.is_some())
    }
}

impl Forward for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// `y = x1ᵀ W x2 + b`; weight `[out, in1, in2]`.
pub struct Bilinear {
    pub weight: Tensor,
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

impl Module for Bilinear {
    fn type_name(&self) -> &'static str {
        "Bilinear"
    }
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        f("weight", Member::Param(Some(&self.weight)));
        f("bias", Member::Param(self.bias.as_ref()));
    }
}

/// Returns its input.
#[derive(Default)]
pub struct Identity;

impl Module for Identity {
    fn type_name(&self) -> &'static str {
        "Identity"
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Member<'a>)) {}
}

impl Forward for Identity {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
}

/// Flattens dims `start_dim..=end_dim` (PyTorch's defaults 1 and -1).
pub struct Flatten {
    pub start_dim: i64,
    pub end_dim: i64,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1, end_dim: -1 }
    }
}

impl Module for Flatten {
    fn type_name(&self) -> &'static str {
        "Flatten"
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Member<'a>)) {}
    fn extra_repr(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
}

impl Forward for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(self.start_dim, self.end_dim)
    }
}

/// Splits dim `dim` into `sizes`.
pub struct Unflatten {
    pub dim: i64,
    pub sizes: Vec<i64>,
}

impl Module for Unflatten {
    fn type_name(&self) -> &'static str {
        "Unflatten"
    }
    fn visit<'a>(&'a self, _: &mut dyn FnMut(&str, Member<'a>)) {}
    fn extra_repr(&self) -> String {
        format!("dim={}, unflattened_size={:?}", self.dim, self.sizes)
    }
}

impl Forward for Unflatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.unflatten(self.dim, &self.sizes)
    }
}
