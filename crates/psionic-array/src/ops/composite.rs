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
}
