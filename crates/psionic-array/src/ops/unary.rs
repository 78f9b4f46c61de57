//! Unary elementwise ops and activations. Float-only ops promote integer and bool inputs
//! to the default float dtype, as PyTorch does.

use super::args::Arg;
use super::binary::result_type;
use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::UnaryOp;
use psionic_core::{DType, Error, Scalar};

#[track_caller]
pub(crate) fn unary(x: &Tensor, op: UnaryOp) -> Tensor {
    let dt = x.dtype();
    let input = if op.float_only() {
        x.to_float()
    } else if dt == DType::Bool && op == UnaryOp::Square {
        // PyTorch squares bools as int64 (`x * x` with integer promotion).
        x.to_dtype(DType::I64)
    } else {
        x.clone()
    };
    if dt == DType::Bool && matches!(op, UnaryOp::Neg) {
        raise(Error::dtype(
            "neg",
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.",
        ));
    }
    if dt.is_float() && op == UnaryOp::BitwiseNot {
        raise(Error::dtype("bitwise_not", format!("\"bitwise_not_cpu\" not implemented for '{}'", dt.name())));
    }
    check(Tensor::make(Prim::Unary(op), &[&input]))
}

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self) -> Tensor {
                unary(self, $op)
            }
        )*}
    };
}

unary_methods! {
    neg => UnaryOp::Neg;
    abs => UnaryOp::Abs;
    sign => UnaryOp::Sign;
    sqrt => UnaryOp::Sqrt;
    rsqrt => UnaryOp::Rsqrt;
    square => UnaryOp::Square;
    reciprocal => UnaryOp::Reciprocal;
    exp => UnaryOp::Exp;
    exp2 => UnaryOp::Exp2;
    expm1 => UnaryOp::Expm1;
    log => UnaryOp::Log;
    log2 => UnaryOp::Log2;
    log10 => UnaryOp::Log10;
    log1p => UnaryOp::Log1p;
    sin => UnaryOp::Sin;
    cos => UnaryOp::Cos;
    tan => UnaryOp::Tan;
    asin => UnaryOp::Asin;
    acos => UnaryOp::Acos;
    atan => UnaryOp::Atan;
    sinh => UnaryOp::Sinh;
    cosh => UnaryOp::Cosh;
    tanh => UnaryOp::Tanh;
    asinh => UnaryOp::Asinh;
    acosh => UnaryOp::Acosh;
    atanh => UnaryOp::Atanh;
    erf => UnaryOp::Erf;
    erfc => UnaryOp::Erfc;
    erfinv => UnaryOp::Erfinv;
    /// `ln |Γ(x)|` (`torch.lgamma`, `torch.special.gammaln`).
    lgamma => UnaryOp::Lgamma;
    /// `ψ(x)`, the logarithmic derivative of Γ (`torch.digamma`, `torch.special.psi`).
    digamma => UnaryOp::Digamma;
    /// `I₀(x)`, the modified Bessel function of the first kind of order 0 (`torch.i0`,
    /// `torch.special.i0`).
    i0 => UnaryOp::I0;
    /// `e^{-|x|} I₀(x)` (`torch.special.i0e`): finite where `I₀` overflows.
    i0e => UnaryOp::I0e;
    /// `I₁(x)` (`torch.special.i1`).
    i1 => UnaryOp::I1;
    /// `e^{-|x|} I₁(x)` (`torch.special.i1e`).
    i1e => UnaryOp::I1e;
    /// `exp(x²) erfc(x)` (`torch.special.erfcx`), finite far into the upper tail.
    erfcx => UnaryOp::Erfcx;
    /// The inverse of the standard normal CDF (`torch.special.ndtri`): NaN outside
    /// `[0, 1]`, `∓inf` at 0 and 1.
    ndtri => UnaryOp::Ndtri;
    /// `ln Φ(x)` (`torch.special.log_ndtr`), accurate in both tails.
    log_ndtr => UnaryOp::LogNdtr;
    sigmoid => UnaryOp::Sigmoid;
    relu => UnaryOp::Relu;
    /// `min(max(x, 0), 6)`.
    relu6 => UnaryOp::Hardtanh { min: 0.0, max: 6.0 };
    silu => UnaryOp::Silu;
    mish => UnaryOp::Mish;
    /// `x * 1.0507 * (x > 0 ? x : 1.6733 * (exp(x) - 1))`.
    selu => UnaryOp::Elu { alpha: 1.673_263_242_354_377_3, scale: 1.050_700_987_355_480_5, input_scale: 1.0 };
    hardsigmoid => UnaryOp::Hardsigmoid;
    hardswish => UnaryOp::Hardswish;
    floor => UnaryOp::Floor;
    ceil => UnaryOp::Ceil;
    /// Round half to even.
    round => UnaryOp::Round;
    trunc => UnaryOp::Trunc;
    frac => UnaryOp::Frac;
    isnan => UnaryOp::IsNan;
    isinf => UnaryOp::IsInf;
    isposinf => UnaryOp::IsPosInf;
    isneginf => UnaryOp::IsNegInf;
    isfinite => UnaryOp::IsFinite;
    logical_not => UnaryOp::LogicalNot;
    bitwise_not => UnaryOp::BitwiseNot;
}

impl Tensor {
    /// `ψ⁽ⁿ⁾(x)`, the n-th derivative of digamma (`torch.polygamma(n, x)`).
    #[track_caller]
    pub fn polygamma(&self, n: u32) -> Tensor {
        unary(self, if n == 0 { UnaryOp::Digamma } else { UnaryOp::Polygamma(n) })
    }

    /// `log(p / (1 - p))`, with `p` clamped to `[eps, 1 - eps]` when `eps` is given.
    #[track_caller]
    pub fn logit(&self, eps: Option<f64>) -> Tensor {
        unary(self, UnaryOp::Logit(eps))
    }

    /// GELU; `approximate` is `"none"` (erf) or `"tanh"`.
    #[track_caller]
    pub fn gelu(&self, approximate: &str) -> Tensor {
        match approximate {
            "none" => unary(self, UnaryOp::Gelu),
            "tanh" => unary(self, UnaryOp::GeluTanh),
            a => raise(Error::invalid("gelu", format!("approximate argument must be either none or tanh, got '{a}'"))),
        }
    }

    #[track_caller]
    pub fn softplus(&self, beta: f64, threshold: f64) -> Tensor {
        unary(self, UnaryOp::Softplus { beta, threshold })
    }

    #[track_caller]
    pub fn elu(&self, alpha: f64) -> Tensor {
        unary(self, UnaryOp::Elu { alpha, scale: 1.0, input_scale: 1.0 })
    }

    #[track_caller]
    pub fn celu(&self, alpha: f64) -> Tensor {
        if alpha == 0.0 {
            raise(Error::invalid("celu", "ZeroDivisionError: alpha cannot be 0 for CELU"));
        }
        unary(self, UnaryOp::Elu { alpha, scale: 1.0, input_scale: 1.0 / alpha })
    }

    #[track_caller]
    pub fn leaky_relu(&self, negative_slope: f64) -> Tensor {
        if !self.dtype().is_float() {
            raise(Error::dtype(
                "leaky_relu",
                format!("\"leaky_relu_cpu\" not implemented for '{}'", self.dtype().name()),
            ));
        }
        unary(self, UnaryOp::LeakyRelu(negative_slope))
    }

    #[track_caller]
    pub fn hardtanh(&self, min_val: f64, max_val: f64) -> Tensor {
        unary(self, UnaryOp::Hardtanh { min: min_val, max: max_val })
    }

    /// Rounds to `decimals` places (half to even), as `torch.round(x, decimals=d)`.
    #[track_caller]
    pub fn round_decimals(&self, decimals: i64) -> Tensor {
        if decimals == 0 {
            return self.round();
        }
        let scale = 10f64.powi(decimals as i32);
        if decimals > 0 {
            self.mul(scale).round().div(scale)
        } else {
            self.div(1.0 / scale).round().mul(1.0 / scale)
        }
    }

    /// Replaces NaN and infinities; `posinf`/`neginf` default to the dtype's extremes.
    #[track_caller]
    pub fn nan_to_num(&self, nan: f64, posinf: Option<f64>, neginf: Option<f64>) -> Tensor {
        let (lo, hi) = match self.dtype() {
            DType::F16 => (-65504.0, 65504.0),
            DType::BF16 => (-(half::bf16::MAX.to_f64()), half::bf16::MAX.to_f64()),
            DType::F32 => (f32::MIN as f64, f32::MAX as f64),
            _ => (f64::MIN, f64::MAX),
        };
        unary(self, UnaryOp::NanToNum { nan, posinf: posinf.unwrap_or(hi), neginf: neginf.unwrap_or(lo) })
    }

    /// `clamp(min, max)` with scalar bounds (either may be absent). The result dtype
    /// promotes with the bounds as PyTorch does (`int_tensor.clamp(0.5)` is float).
    #[track_caller]
    pub fn clamp(&self, min: Option<impl Into<Scalar>>, max: Option<impl Into<Scalar>>) -> Tensor {
        let (lo, hi): (Option<Scalar>, Option<Scalar>) = (min.map(Into::into), max.map(Into::into));
        if lo.is_none() && hi.is_none() {
            raise(Error::invalid("clamp", "At least one of 'min' or 'max' must not be None"));
        }
        let mut args = vec![Arg::T(self.clone())];
        args.extend(lo.iter().chain(hi.iter()).map(|s| Arg::S(*s)));
        let dt = result_type(&args.iter().collect::<Vec<_>>());
        let x = self.to_dtype(dt);
        unary(&x, UnaryOp::Clamp { min: lo.map(|s| s.to_f64()), max: hi.map(|s| s.to_f64()) })
    }

    /// `clamp` with tensor bounds (broadcast).
    #[track_caller]
    pub fn clamp_tensor(&self, min: Option<&Tensor>, max: Option<&Tensor>) -> Tensor {
        let mut r = self.clone();
        if let Some(lo) = min {
            r = r.maximum(lo);
        }
        if let Some(hi) = max {
            r = r.minimum(hi);
        }
        r
    }

    /// Alias of [`Tensor::clamp`].
    #[track_caller]
    pub fn clip(&self, min: Option<impl Into<Scalar>>, max: Option<impl Into<Scalar>>) -> Tensor {
        self.clamp(min, max)
    }
}

impl std::ops::Not for &Tensor {
    type Output = Tensor;
    /// `~x`: logical not on bool, bitwise not on integers.
    fn not(self) -> Tensor {
        if self.dtype() == DType::Bool {
            self.logical_not()
        } else {
            self.bitwise_not()
        }
    }
}
