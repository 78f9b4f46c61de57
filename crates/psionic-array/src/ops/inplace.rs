//! In-place ops. Each computes the new value functionally and re-points the tensor (or,
//! for a view, its base) at it via `Tensor::assign`; see `tensor.rs` for the aliasing
//! model. Results are cast back to the tensor's dtype only when PyTorch allows the cast
//! (`int_tensor.add_(1.5)` is an error, as in PyTorch).

use super::args::Arg;
use crate::mode::{check, raise};
use crate::tensor::Tensor;
use psionic_core::{Error, Scalar};

impl Tensor {
    /// Writes `value` (broadcast to this shape, cast to this dtype) into this tensor.
    #[track_caller]
    pub(crate) fn write(&self, value: &Tensor, op: &'static str, allow_any_cast: bool) -> &Self {
        let (sd, vd) = (self.dtype(), value.dtype());
        if !allow_any_cast && sd != vd && psionic_core::promote_types(sd, vd) != sd {
            raise(Error::dtype(
                op,
                format!("result type {} can't be cast to the desired output type {}", vd.name(), sd.name()),
            ));
        }
        let shape = self.shape();
        if value.shape() != shape {
            let b = check(psionic_core::broadcast_shapes(op, &value.shape(), &shape));
            if b[..] != shape[..] {
                raise(Error::shape(
                    op,
                    format!("output with shape {:?} doesn't match the broadcast shape {:?}", shape, b),
                ));
            }
        }
        // A value from another device is copied here first (`copy_` across devices);
        // into a meta tensor, that copies nothing.
        let v = check(value.try_to_device(self.device())).to_dtype(sd);
        let v = if v.shape() == shape { v } else { v.broadcast_to(&shape) };
        check(self.assign(&v));
        self
    }

    /// Copies `src` (broadcast, any dtype) into this tensor: `self.copy_(src)`.
    #[track_caller]
    pub fn copy_(&self, src: &Tensor) -> &Self {
        self.write(src, "copy_", true)
    }

    #[track_caller]
    pub fn fill_(&self, value: impl Into<Scalar>) -> &Self {
        let t = Tensor::full(&[], value, self.dtype());
        self.write(&t, "fill_", true)
    }

    #[track_caller]
    pub fn zero_(&self) -> &Self {
        self.fill_(0)
    }

    #[track_caller]
    pub fn clamp_(&self, min: Option<impl Into<Scalar>>, max: Option<impl Into<Scalar>>) -> &Self {
        let v = self.clamp(min, max);
        self.write(&v, "clamp_", false)
    }
}

macro_rules! inplace_unary {
    ($($name:ident => $f:ident),* $(,)?) => {
        impl Tensor {$(
            #[track_caller]
            pub fn $name(&self) -> &Self {
                let v = self.$f();
                self.write(&v, stringify!($name), false)
            }
        )*}
    };
}
inplace_unary!(
    neg_ => neg, abs_ => abs, sign_ => sign, sqrt_ => sqrt, rsqrt_ => rsqrt, square_ => square,
    reciprocal_ => reciprocal, exp_ => exp, exp2_ => exp2, expm1_ => expm1, log_ => log,
    log2_ => log2, log10_ => log10, log1p_ => log1p, sin_ => sin, cos_ => cos, tan_ => tan,
    asin_ => asin, acos_ => acos, atan_ => atan, sinh_ => sinh, cosh_ => cosh, tanh_ => tanh,
    asinh_ => asinh, acosh_ => acosh, atanh_ => atanh, erf_ => erf, erfc_ => erfc,
    erfinv_ => erfinv, sigmoid_ => sigmoid, relu_ => relu, relu6_ => relu6, silu_ => silu,
    mish_ => mish, selu_ => selu, hardsigmoid_ => hardsigmoid, hardswish_ => hardswish,
    floor_ => floor, ceil_ => ceil, round_ => round, trunc_ => trunc, frac_ => frac,
    logical_not_ => logical_not, bitwise_not_ => bitwise_not,
);

macro_rules! inplace_binary {
    ($($name:ident => $f:ident),* $(,)?) => {
        impl Tensor {$(
            #[track_caller]
            pub fn $name(&self, other: impl Into<Arg>) -> &Self {
                let v = self.$f(other);
                self.write(&v, stringify!($name), false)
            }
        )*}
    };
}
inplace_binary!(
    add_ => add, sub_ => sub, mul_ => mul, div_ => div, floor_divide_ => floor_divide,
    remainder_ => remainder, fmod_ => fmod, pow_ => pow, atan2_ => atan2, hypot_ => hypot,
    copysign_ => copysign, xlogy_ => xlogy, logical_and_ => logical_and,
    logical_or_ => logical_or, logical_xor_ => logical_xor, bitwise_and_ => bitwise_and,
    bitwise_or_ => bitwise_or, bitwise_xor_ => bitwise_xor,
    bitwise_left_shift_ => bitwise_left_shift, bitwise_right_shift_ => bitwise_right_shift,
    maximum_ => maximum, minimum_ => minimum, eq_ => eq, ne_ => ne, lt_ => lt, le_ => le,
    gt_ => gt, ge_ => ge,
);

impl std::ops::AddAssign<&Tensor> for Tensor {
    #[track_caller]
    fn add_assign(&mut self, rhs: &Tensor) {
        self.add_(rhs);
    }
}
impl std::ops::SubAssign<&Tensor> for Tensor {
    #[track_caller]
    fn sub_assign(&mut self, rhs: &Tensor) {
        self.sub_(rhs);
    }
}
impl std::ops::MulAssign<&Tensor> for Tensor {
    #[track_caller]
    fn mul_assign(&mut self, rhs: &Tensor) {
        self.mul_(rhs);
    }
}
impl std::ops::DivAssign<&Tensor> for Tensor {
    #[track_caller]
    fn div_assign(&mut self, rhs: &Tensor) {
        self.div_(rhs);
    }
}
impl std::ops::AddAssign<f64> for Tensor {
    #[track_caller]
    fn add_assign(&mut self, rhs: f64) {
        self.add_(rhs);
    }
}
impl std::ops::MulAssign<f64> for Tensor {
    #[track_caller]
    fn mul_assign(&mut self, rhs: f64) {
        self.mul_(rhs);
    }
}

/// In-place twins of the index ops (`ops/index.rs`): same arguments, result written back.
macro_rules! inplace_index {
    ($($name:ident => $f:ident ( $($a:ident : $t:ty),* )),* $(,)?) => {
        impl Tensor {$(
            #[track_caller]
            pub fn $name(&self, $($a: $t),*) -> &Self {
                let v = self.$f($($a),*);
                self.write(&v, stringify!($name), false)
            }
        )*}
    };
}
inplace_index!(
    scatter_ => scatter(dim: i64, index: &Tensor, src: impl Into<Arg>),
    scatter_add_ => scatter_add(dim: i64, index: &Tensor, src: &Tensor),
    scatter_reduce_ => scatter_reduce(dim: i64, index: &Tensor, src: &Tensor, reduce: &str, include_self: bool),
    index_add_ => index_add(dim: i64, index: &Tensor, source: &Tensor, alpha: impl Into<Scalar>),
    index_copy_ => index_copy(dim: i64, index: &Tensor, source: &Tensor),
    index_fill_ => index_fill(dim: i64, index: &Tensor, value: impl Into<Arg>),
    index_reduce_ => index_reduce(dim: i64, index: &Tensor, source: &Tensor, reduce: &str, include_self: bool),
    masked_fill_ => masked_fill(mask: &Tensor, value: impl Into<Arg>),
    masked_scatter_ => masked_scatter(mask: &Tensor, source: &Tensor),
    put_ => put(index: &Tensor, source: &Tensor, accumulate: bool),
);
