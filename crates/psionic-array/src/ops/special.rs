//! `torch.special` functions composed from other ops (the gamma, Bessel and normal
//! functions have kernels of their own, in `ops/unary.rs`, and xlog1py and zeta in
//! `ops/binary.rs`): written in PyTorch's forms, with inputs made safe where an
//! unselected branch would otherwise send a NaN into the gradient.

use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

impl Tensor {
    /// The multivariate log-gamma function of dimension `p`,
    /// `p (p - 1) / 4 ln π + Σᵢ lgamma(x - i / 2)` for `i` in `0..p`
    /// (`torch.mvlgamma`, `torch.special.multigammaln`); every element must exceed
    /// `(p - 1) / 2`.
    #[track_caller]
    pub fn mvlgamma(&self, p: u32) -> Tensor {
        if p == 0 {
            raise(Error::invalid("mvlgamma", "p has to be greater than or equal to 1"));
        }
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::default_float()) };
        if !crate::interp::hides_values(&x.node()) && x.le((p as f64 - 1.0) / 2.0).any().item::<bool>() {
            raise(Error::invalid(
                "mvlgamma",
                format!("All elements must be greater than (p-1)/2 = {}", (p as f64 - 1.0) / 2.0),
            ));
        }
        let offsets: Vec<f64> = (0..p).map(|i| -(i as f64) / 2.0).collect();
        let shifted = x.unsqueeze(-1).add(Tensor::from_vec(offsets, &[p as usize]).to_dtype(x.dtype()));
        shifted.lgamma().sum(-1, false).add(f64::from(p * (p - 1)) / 4.0 * PI.ln())
    }

    /// `-x ln x` (`torch.special.entr`): 0 at 0, `-inf` below 0.
    #[track_caller]
    pub fn entr(&self) -> Tensor {
        let x = self.to_float();
        let pos = x.gt(0.0);
        // ln of 1, not of a negative or zero, where the branch is not taken.
        let safe = Tensor::where_(&pos, &x, 1.0);
        let body = safe.mul(safe.log()).neg();
        let rest = Tensor::where_(&x.eq(0.0), 0.0, Tensor::where_(&x.lt(0.0), f64::NEG_INFINITY, &x));
        Tensor::where_(&pos, &body, &rest)
    }

    /// The standard normal CDF, `(1 + erf(x / sqrt 2)) / 2`, as `erfc(-x / sqrt 2) / 2`
    /// (`torch.special.ndtr`), which keeps the lower tail's digits.
    #[track_caller]
    pub fn ndtr(&self) -> Tensor {
        self.to_float().mul(-FRAC_1_SQRT_2).erfc().mul(0.5)
    }
}
