//! Binary elementwise ops with broadcasting and PyTorch's type promotion, `where`, the
//! composite ops built on them (lerp, addcmul, isclose, ...), and Rust operators.

use super::args::Arg;
use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::{BinaryOp, TernaryOp};
use psionic_core::{DType, Error, Result, ResultTypeState, Scalar};

/// Result dtype of a set of operands (`torch.result_type`).
pub fn result_type(args: &[&Arg]) -> DType {
    args.iter()
        .fold(ResultTypeState::new(), |s, a| match a {
            Arg::T(t) => s.tensor(t.dtype(), t.dim()),
            Arg::S(v) => s.scalar(v.dtype()),
        })
        .result()
}

/// The tensors cast to their joint result type: ops over several tensors (addcmul,
/// isclose, ...) compute in it, as PyTorch does, not pairwise in narrower types.
fn promoted<const N: usize>(ts: [&Tensor; N]) -> [Tensor; N] {
    let args: Vec<Arg> = ts.iter().map(|t| Arg::T((*t).clone())).collect();
    let dt = result_type(&args.iter().collect::<Vec<_>>());
    ts.map(|t| t.to_dtype(dt))
}

/// An operand materialised as a tensor of `dtype` (scalars become 0-d constants).
pub(crate) fn as_tensor(a: &Arg, dtype: DType) -> Tensor {
    match a {
        Arg::T(t) => t.to_dtype(dtype),
        Arg::S(s) => Tensor::full(&[], *s, dtype),
    }
}

pub(crate) fn try_binary(op: BinaryOp, a: &Arg, b: &Arg) -> Result<Tensor> {
    let rt = result_type(&[a, b]);
    let dt = if op.float_only() { rt.to_float() } else { rt };
    if op.int_only() && dt.is_float() {
        return Err(Error::dtype(op.name(), format!("\"{}_cpu\" not implemented for '{}'", op.name(), dt.name())));
    }
    if op == BinaryOp::Sub && dt == DType::Bool {
        return Err(Error::dtype(
            "sub",
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.",
        ));
    }
    Tensor::make(Prim::Binary(op), &[&as_tensor(a, dt), &as_tensor(b, dt)])
}

/// A three-input op as one kernel when its operands promote to f32 or f64 (the dtypes
/// the kernel has); `None` sends other dtypes to the composite of binary ops.
fn fused(op: TernaryOp, args: [&Arg; 3]) -> Option<Tensor> {
    let dt = result_type(&args);
    if !matches!(dt, DType::F32 | DType::F64) {
        return None;
    }
    let [a, b, c] = args.map(|a| as_tensor(a, dt));
    Some(check(Tensor::make(Prim::Ternary(op), &[&a, &b, &c])))
}

#[track_caller]
pub(crate) fn binary(op: BinaryOp, a: impl Into<Arg>, b: impl Into<Arg>) -> Tensor {
    check(try_binary(op, &a.into(), &b.into()))
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self, other: impl Into<Arg>) -> Tensor {
                binary(BinaryOp::$op, self, other)
            }
        )*}
    };
}

binary_methods! {
    mul => Mul;
    /// True division: integer inputs give the default float dtype.
    div => Div;
    floor_divide => DivFloor;
    /// Python-style modulus (result has the divisor's sign).
    remainder => Remainder;
    /// C-style modulus (result has the dividend's sign).
    fmod => Fmod;
    pow => Pow;
    atan2 => Atan2;
    /// Elementwise max; NaN propagates.
    maximum => Maximum;
    minimum => Minimum;
    /// Elementwise max ignoring NaN.
    fmax => Fmax;
    fmin => Fmin;
    hypot => Hypot;
    copysign => Copysign;
    logaddexp => LogAddExp;
    xlogy => Xlogy;
    /// `x * log1p(y)`, 0 where `x` is 0 and `y` is not NaN (`torch.special.xlog1py`).
    xlog1py => Xlog1py;
    /// The Hurwitz zeta function `ζ(self, other)` (`torch.special.zeta`); `other` is `q`.
    zeta => Zeta;
    logical_and => LogicalAnd;
    logical_or => LogicalOr;
    logical_xor => LogicalXor;
    bitwise_and => BitAnd;
    bitwise_or => BitOr;
    bitwise_xor => BitXor;
    bitwise_left_shift => Shl;
    bitwise_right_shift => Shr;
    eq => Eq;
    ne => Ne;
    lt => Lt;
    le => Le;
    gt => Gt;
    ge => Ge;
}

impl Tensor {
    #[track_caller]
    pub fn add(&self, other: impl Into<Arg>) -> Tensor {
        binary(BinaryOp::Add, self, other)
    }

    #[track_caller]
    pub fn sub(&self, other: impl Into<Arg>) -> Tensor {
        binary(BinaryOp::Sub, self, other)
    }

    /// `self + alpha * other` (`torch.add(..., alpha=)`).
    #[track_caller]
    pub fn add_alpha(&self, other: impl Into<Arg>, alpha: impl Into<Scalar>) -> Tensor {
        let o: Arg = other.into();
        let rt = result_type(&[&Arg::T(self.clone()), &o]);
        self.add(as_tensor(&o, rt).mul(alpha.into()))
    }

    #[track_caller]
    pub fn sub_alpha(&self, other: impl Into<Arg>, alpha: impl Into<Scalar>) -> Tensor {
        let o: Arg = other.into();
        let rt = result_type(&[&Arg::T(self.clone()), &o]);
        self.sub(as_tensor(&o, rt).mul(alpha.into()))
    }

    /// Division with `rounding_mode`: `None` (true division), `"trunc"` or `"floor"`.
    #[track_caller]
    pub fn div_mode(&self, other: impl Into<Arg>, rounding_mode: Option<&str>) -> Tensor {
        match rounding_mode {
            None => self.div(other),
            Some("trunc") => binary(BinaryOp::DivTrunc, self, other),
            Some("floor") => binary(BinaryOp::DivFloor, self, other),
            Some(m) => raise(Error::invalid(
                "div",
                format!("div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{m}'"),
            )),
        }
    }

    /// `torch.where(cond, a, b)`: `a` where `cond` is true, else `b`.
    #[track_caller]
    pub fn where_(cond: &Tensor, a: impl Into<Arg>, b: impl Into<Arg>) -> Tensor {
        let (a, b) = (a.into(), b.into());
        let dt = result_type(&[&a, &b]);
        let c = cond.to_dtype(DType::Bool);
        check(Tensor::make(Prim::Where(crate::prim::Where), &[&c, &as_tensor(&a, dt), &as_tensor(&b, dt)]))
    }

    /// `self + weight * (end - self)` (for `|weight| >= 0.5` computed from `end`, as
    /// PyTorch does, so weight 1 gives `end` exactly).
    #[track_caller]
    pub fn lerp(&self, end: impl Into<Arg>, weight: impl Into<Arg>) -> Tensor {
        let (end, weight): (Arg, Arg) = (end.into(), weight.into());
        let start = Arg::T(self.clone());
        if let Some(t) = fused(TernaryOp::Lerp, [&start, &end, &weight]) {
            return t;
        }
        self.add(binary(BinaryOp::Sub, end, self).mul(weight))
    }

    /// `self + value * t1 * t2`.
    #[track_caller]
    pub fn addcmul(&self, t1: &Tensor, t2: &Tensor, value: impl Into<Scalar>) -> Tensor {
        let value = value.into();
        let args = [self, t1, t2].map(|t| Arg::T(t.clone()));
        if let Some(t) = fused(TernaryOp::Addcmul(value.to_f64()), [&args[0], &args[1], &args[2]]) {
            return t;
        }
        let [s, t1, t2] = promoted([self, t1, t2]);
        let p = t1.mul(&t2);
        s.add(if value.to_f64() == 1.0 { p } else { p.mul(value) })
    }

    /// `self + value * t1 / t2`.
    #[track_caller]
    pub fn addcdiv(&self, t1: &Tensor, t2: &Tensor, value: impl Into<Scalar>) -> Tensor {
        let value = value.into();
        let args = [self, t1, t2].map(|t| Arg::T(t.clone()));
        if let Some(t) = fused(TernaryOp::Addcdiv(value.to_f64()), [&args[0], &args[1], &args[2]]) {
            return t;
        }
        let [s, t1, t2] = promoted([self, t1, t2]);
        s.add(t1.div(&t2).mul(value))
    }

    /// `|self - other| <= atol + rtol * |other|`, with NaN equal to NaN only if `equal_nan`.
    #[track_caller]
    pub fn isclose(&self, other: &Tensor, rtol: f64, atol: f64, equal_nan: bool) -> Tensor {
        let [a, b] = promoted([self, other]);
        let dt = a.dtype();
        let exact = a.eq(&b);
        if !dt.is_float() {
            return exact;
        }
        let close = a.sub(&b).abs().le(b.abs().mul(rtol).add(atol));
        let mut r = exact.logical_or(close.logical_and(a.isfinite()).logical_and(b.isfinite()));
        if equal_nan {
            r = r.logical_or(a.isnan().logical_and(b.isnan()));
        }
        r
    }

    #[track_caller]
    pub fn allclose(&self, other: &Tensor, rtol: f64, atol: f64, equal_nan: bool) -> bool {
        self.isclose(other, rtol, atol, equal_nan).all().item::<bool>()
    }

    /// Same shape and same values (`torch.equal`).
    pub fn equal(&self, other: &Tensor) -> bool {
        self.shape() == other.shape() && self.eq(other).all().item::<bool>()
    }
}

macro_rules! std_ops {
    ($tr:ident, $m:ident, $op:ident) => {
        impl std::ops::$tr<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: &Tensor) -> Tensor {
                binary(BinaryOp::$op, self, rhs)
            }
        }
        impl std::ops::$tr<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: Tensor) -> Tensor {
                binary(BinaryOp::$op, &self, &rhs)
            }
        }
        impl std::ops::$tr<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: &Tensor) -> Tensor {
                binary(BinaryOp::$op, &self, rhs)
            }
        }
        impl std::ops::$tr<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: Tensor) -> Tensor {
                binary(BinaryOp::$op, self, &rhs)
            }
        }
        std_ops!(@scalars $tr, $m, $op; f64, i64);
    };
    (@scalars $tr:ident, $m:ident, $op:ident; $($s:ty),*) => {$(
        impl std::ops::$tr<$s> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: $s) -> Tensor {
                binary(BinaryOp::$op, self, rhs)
            }
        }
        impl std::ops::$tr<$s> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: $s) -> Tensor {
                binary(BinaryOp::$op, &self, rhs)
            }
        }
        impl std::ops::$tr<&Tensor> for $s {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: &Tensor) -> Tensor {
                binary(BinaryOp::$op, self, rhs)
            }
        }
        impl std::ops::$tr<Tensor> for $s {
            type Output = Tensor;
            #[track_caller]
            fn $m(self, rhs: Tensor) -> Tensor {
                binary(BinaryOp::$op, self, &rhs)
            }
        }
    )*};
}
std_ops!(Add, add, Add);
std_ops!(Sub, sub, Sub);
std_ops!(Mul, mul, Mul);
std_ops!(Div, div, Div);
std_ops!(Rem, rem, Remainder);

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}
impl std::ops::Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
