//! `torch.special` functions composed from other ops (the gamma family has kernels of
//! its own, in `ops/unary.rs`): written in PyTorch's forms, with inputs made safe
//! where an unselected branch would otherwise send a NaN into the gradient.

use super::args::Arg;
use super::binary::{as_tensor, result_type};
use crate::tensor::Tensor;
use std::f64::consts::FRAC_1_SQRT_2;

impl Tensor {
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

    /// `x * log1p(y)`, 0 where `x` is 0 and `y` is not NaN (`torch.special.xlog1py`).
    #[track_caller]
    pub fn xlog1py(&self, other: impl Into<Arg>) -> Tensor {
        let other = other.into();
        let dt = result_type(&[&Arg::T(self.clone()), &other]).to_float();
        let (x, y) = (self.to_dtype(dt), as_tensor(&other, dt));
        let zero = x.eq(0.0).logical_and(y.isnan().logical_not());
        // log1p of 0 where the product is replaced, so its gradient stays finite.
        let safe = Tensor::where_(&zero, 0.0, &y);
        Tensor::where_(&zero, 0.0, x.mul(safe.log1p()))
    }
}
