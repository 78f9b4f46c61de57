//! Elementwise ops and activations built from primitives rather than given kernels of
//! their own: their derivatives, jvps and batching rules come from the pieces. Each is
//! written in the numerically stable form PyTorch uses, and where a naive formula would
//! give a NaN gradient (sinc at 0) the input is made safe before the division.

use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};
use std::f64::consts::PI;

impl Tensor {
    /// `sin(pi x) / (pi x)`, 1 at 0 (where its derivative is 0).
    #[track_caller]
    pub fn sinc(&self) -> Tensor {
        let x = self.to_float();
        let zero = x.eq(0.0);
        let pix = Tensor::where_(&zero, 1.0, &x).mul(PI);
        Tensor::where_(&zero, 1.0, pix.sin().div(&pix))
    }

    /// Degrees to radians.
    #[track_caller]
    pub fn deg2rad(&self) -> Tensor {
        self.to_float().mul(PI / 180.0)
    }

    /// Radians to degrees.
    #[track_caller]
    pub fn rad2deg(&self) -> Tensor {
        self.to_float().mul(180.0 / PI)
    }

    /// True where the sign bit is set (so for -0.0 and negative NaNs too).
    #[track_caller]
    pub fn signbit(&self) -> Tensor {
        match self.dtype() {
            DType::Bool => self.zeros_like().to_dtype(DType::Bool),
            d if d.is_float() => self.ones_like().copysign(self).lt(0.0),
            _ => self.lt(0),
        }
    }

    /// `+x`: the same values (refused on bool, as PyTorch does).
    #[track_caller]
    pub fn positive(&self) -> Tensor {
        if self.dtype() == DType::Bool {
            raise(Error::dtype("positive", "The `+` operator, on a bool tensor is not supported."));
        }
        self.clone()
    }

    /// `self ** exponent` computed in float64 (`torch.float_power`).
    #[track_caller]
    pub fn float_power(&self, exponent: impl Into<crate::Arg>) -> Tensor {
        let e = match exponent.into() {
            crate::Arg::T(t) => crate::Arg::T(t.to_dtype(DType::F64)),
            s => s,
        };
        self.to_dtype(DType::F64).pow(e)
    }

    /// `log(sigmoid(x))` as `min(x, 0) - log1p(exp(-|x|))`, exact for large `|x|`.
    #[track_caller]
    pub fn logsigmoid(&self) -> Tensor {
        let x = self.to_float();
        x.minimum(0.0).sub(x.abs().neg().exp().log1p())
    }

    /// `x / (1 + |x|)`.
    #[track_caller]
    pub fn softsign(&self) -> Tensor {
        let x = self.to_float();
        x.div(x.abs().add(1.0))
    }

    /// `x - tanh(x)`.
    #[track_caller]
    pub fn tanhshrink(&self) -> Tensor {
        let x = self.to_float();
        x.sub(x.tanh())
    }

    /// `x` where `|x| > lambd`, else 0.
    #[track_caller]
    pub fn hardshrink(&self, lambd: f64) -> Tensor {
        Tensor::where_(&self.abs().gt(lambd), self, 0.0)
    }

    /// `x - lambd` above `lambd`, `x + lambd` below `-lambd`, else 0.
    #[track_caller]
    pub fn softshrink(&self, lambd: f64) -> Tensor {
        if lambd < 0.0 {
            raise(Error::invalid(
                "softshrink",
                format!("lambda must be greater or equal to 0, but found to be {lambd}."),
            ));
        }
        let shrunk = Tensor::where_(&self.lt(-lambd), self.add(lambd), 0.0);
        Tensor::where_(&self.gt(lambd), self.sub(lambd), &shrunk)
    }

    /// `sgn`: the sign (for real tensors the same as `sign`).
    #[track_caller]
    pub fn sgn(&self) -> Tensor {
        self.sign()
    }

    /// `rsub(other, alpha)`: `other - alpha * self`.
    #[track_caller]
    pub fn rsub(&self, other: impl Into<crate::Arg>, alpha: f64) -> Tensor {
        let scaled = if alpha == 1.0 { self.clone() } else { self.mul(alpha) };
        match other.into() {
            crate::Arg::T(t) => t.sub(&scaled),
            crate::Arg::S(s) => scaled.neg().add(s),
        }
    }

    /// `log2(2^a + 2^b)` as `max + log1p(2^-|a-b|) / ln 2` (equal infinities give
    /// themselves).
    #[track_caller]
    pub fn logaddexp2(&self, other: &Tensor) -> Tensor {
        let (a, b) = (self.to_float(), other.to_float());
        let m = a.maximum(&b);
        let d = a.sub(&b).abs().neg();
        let v = m.add(d.exp2().log1p().mul(std::f64::consts::LOG2_E));
        Tensor::where_(&a.isinf().logical_and(a.eq(&b)), &a, &v)
    }

    /// The Heaviside step: 0 below zero, 1 above, `values` at zero.
    #[track_caller]
    pub fn heaviside(&self, values: &Tensor) -> Tensor {
        if self.dtype() != values.dtype() {
            raise(Error::dtype("heaviside", "heaviside is not yet implemented for tensors with different dtypes"));
        }
        Tensor::where_(&self.eq(0), values, self.gt(0).to_dtype(self.dtype()))
    }

    /// `self * 2^other`, in the promoted floating dtype.
    #[track_caller]
    pub fn ldexp(&self, other: &Tensor) -> Tensor {
        let dt = psionic_core::promote_types(self.dtype(), other.dtype());
        let dt = if dt.is_float() { dt } else { DType::F32 };
        self.to_dtype(dt).mul(other.to_dtype(dt).exp2())
    }

    /// `softmax(-x)` along `dim`.
    #[track_caller]
    pub fn softmin(&self, dim: i64) -> Tensor {
        self.neg().softmax(dim)
    }

    /// Gated linear unit: the first half of `dim` times the sigmoid of the second.
    #[track_caller]
    pub fn glu(&self, dim: i64) -> Tensor {
        let nd = self.dim() as i64;
        let d = if dim < 0 { dim + nd } else { dim };
        let n = self.shape().get(d as usize).copied().unwrap_or(0);
        if self.dim() == 0 || n % 2 != 0 {
            raise(Error::shape("glu", format!("Halving dimension must be even, but dimension {d} is size {n}")));
        }
        let h = (n / 2) as i64;
        self.narrow(d, 0, h as usize).mul(self.narrow(d, h, h as usize).sigmoid())
    }

    /// `x` where `x > threshold`, else `value`.
    #[track_caller]
    pub fn threshold(&self, threshold: f64, value: f64) -> Tensor {
        Tensor::where_(&self.gt(threshold), self, Tensor::full(&[], value, self.dtype()))
    }
}
