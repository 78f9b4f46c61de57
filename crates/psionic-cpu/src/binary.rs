//! Kernels for [`BinaryOp`]. Both inputs arrive in one (promoted) dtype; layouts may be
//! anything broadcastable to the output shape. f16/bf16 are computed in f32.

use crate::array::CpuArray;
use crate::cast::cast;
use crate::element::Element;
use crate::elementwise::{broadcast, map2, Src};
use crate::zip2;
use num_traits::{Float, PrimInt, WrappingAdd, WrappingMul, WrappingSub};
use psionic_core::ops::BinaryOp;
use psionic_core::{DType, Error, Result};

pub fn binary(op: BinaryOp, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> Result<CpuArray> {
    assert_eq!(a.dtype(), b.dtype(), "binary kernel inputs must share a dtype");
    let (a, b) = (broadcast(a, shape), broadcast(b, shape));
    if op.out_is_bool() {
        return Ok(crate::with_dtype!(a.dtype(), T => compare::<T>(op, &a, &b, shape)));
    }
    match a.dtype() {
        DType::F32 => float_binary::<f32>(op, &a, &b, shape),
        DType::F64 => float_binary::<f64>(op, &a, &b, shape),
        d @ (DType::F16 | DType::BF16) => {
            let r = float_binary::<f32>(op, &cast(&a, DType::F32), &cast(&b, DType::F32), shape)?;
            Ok(cast(&r, d))
        }
        DType::U8 => int_binary::<u8>(op, &a, &b, shape),
        DType::I8 => int_binary::<i8>(op, &a, &b, shape),
        DType::I16 => int_binary::<i16>(op, &a, &b, shape),
        DType::I32 => int_binary::<i32>(op, &a, &b, shape),
        DType::I64 => int_binary::<i64>(op, &a, &b, shape),
        DType::Bool => bool_binary(op, &a, &b, shape),
    }
}

fn compare<T: Element>(op: BinaryOp, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> CpuArray {
    use BinaryOp::*;
    macro_rules! m {
        (|$x:ident, $y:ident| $e:expr) => {
            map2::<T, bool>(a, b, shape, 1, |sa, sb, o| zip2!(sa, sb, o, |$x, $y| $e))
        };
    }
    match op {
        Eq => m!(|x, y| x == y),
        Ne => m!(|x, y| x != y),
        Lt => m!(|x, y| x < y),
        Le => m!(|x, y| x <= y),
        Gt => m!(|x, y| x > y),
        Ge => m!(|x, y| x >= y),
        LogicalAnd => m!(|x, y| x.to_bool() && y.to_bool()),
        LogicalOr => m!(|x, y| x.to_bool() || y.to_bool()),
        LogicalXor => m!(|x, y| x.to_bool() != y.to_bool()),
        _ => unreachable!("{op:?} is not a comparison"),
    }
}

/// Python's floor division for floats (what `torch.floor_divide` computes).
#[inline(always)]
fn div_floor<F: Float>(a: F, b: F) -> F {
    if b == F::zero() {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != F::zero() && (b < F::zero()) != (m < F::zero()) {
        div = div - F::one();
    }
    if div == F::zero() {
        return F::zero().copysign(a / b);
    }
    let f = div.floor();
    if div - f > F::from(0.5).unwrap() {
        f + F::one()
    } else {
        f
    }
}

#[inline(always)]
fn remainder<F: Float>(a: F, b: F) -> F {
    let m = a % b;
    if m != F::zero() && (b < F::zero()) != (m < F::zero()) {
        m + b
    } else {
        m
    }
}

fn float_binary<F: Float + Element>(op: BinaryOp, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> Result<CpuArray> {
    let (work, kernel) = float_binary_kernel::<F>(op)?;
    Ok(map2::<F, F>(a, b, shape, work, |sa, sb, o| kernel(sa, sb, o)))
}

/// A slice kernel of two operands: `o[i] = f(a[i], b[i])`, vectorised.
pub type SliceKernel2<F> = Box<dyn Fn(Src<F>, Src<F>, &mut [F]) + Send + Sync>;

/// The slice kernel of a float binary op (not a comparison or logical op) and its work
/// per element; an error for the bitwise ops. Eager ops and compile's fused chains both
/// run it, so they agree to the bit.
pub fn float_binary_kernel<F: Float + Element>(op: BinaryOp) -> Result<(usize, SliceKernel2<F>)> {
    use BinaryOp::*;
    macro_rules! m {
        ($w:expr, |$x:ident, $y:ident| $e:expr) => {
            Ok((
                $w,
                Box::new(move |sa: Src<F>, sb: Src<F>, o: &mut [F]| zip2!(sa, sb, o, |$x, $y| $e)) as SliceKernel2<F>,
            ))
        };
    }
    match op {
        Add => m!(1, |x, y| x + y),
        Sub => m!(1, |x, y| x - y),
        Mul => m!(1, |x, y| x * y),
        Div => m!(1, |x, y| x / y),
        DivTrunc => m!(1, |x, y| (x / y).trunc()),
        DivFloor => m!(4, |x, y| div_floor(x, y)),
        Remainder => m!(4, |x, y| remainder(x, y)),
        Fmod => m!(4, |x, y| x % y),
        Pow => m!(8, |x, y| x.powf(y)),
        Atan2 => m!(8, |x, y| x.atan2(y)),
        Maximum => m!(1, |x, y| if x.is_nan() || y.is_nan() { F::nan() } else { x.max(y) }),
        Minimum => m!(1, |x, y| if x.is_nan() || y.is_nan() { F::nan() } else { x.min(y) }),
        Fmax => m!(1, |x, y| x.max(y)),
        Fmin => m!(1, |x, y| x.min(y)),
        Hypot => m!(4, |x, y| x.hypot(y)),
        Copysign => m!(1, |x, y| x.copysign(y)),
        LogAddExp => {
            m!(8, |x, y| if x.is_infinite() && x == y { x } else { x.max(y) + (-(x - y).abs()).exp().ln_1p() })
        }
        Xlogy => m!(8, |x, y| if y.is_nan() {
            y
        } else if x == F::zero() {
            F::zero()
        } else {
            x * y.ln()
        }),
        Xlog1py => m!(8, |x, y| if y.is_nan() {
            y
        } else if x == F::zero() {
            F::zero()
        } else {
            x * y.ln_1p()
        }),
        // Computed in f64 (f32 rounds once at the end).
        Zeta => m!(16, |x, q| {
            let z = crate::gamma::zeta(Element::to_f64(x), Element::to_f64(q));
            <F as num_traits::NumCast>::from(z).unwrap_or(F::nan())
        }),
        ReluGrad => m!(1, |g, y| if y > F::zero() { g } else { F::zero() }),
        BitAnd | BitOr | BitXor | Shl | Shr => Err(Error::Unsupported {
            op: op.name(),
            dtype: F::DTYPE,
            why: "bitwise ops need integer or bool inputs".into(),
        }),
        Eq | Ne | Lt | Le | Gt | Ge | LogicalAnd | LogicalOr | LogicalXor => unreachable!("routed to compare"),
    }
}

fn has_zero<T: Element + PrimInt>(s: Src<T>) -> bool {
    match s {
        Src::Slice(v) => v.contains(&T::zero()),
        Src::Scalar(v) => v == T::zero(),
    }
}

#[inline(always)]
fn int_pow<T: PrimInt + WrappingMul>(mut base: T, exp: T) -> T {
    // Negative exponents were refused before the loop; square-and-multiply wraps like C.
    let mut e = exp.to_u64().unwrap_or(0);
    let mut acc = T::one();
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(&base);
        }
        base = base.wrapping_mul(&base);
        e >>= 1;
    }
    acc
}

fn int_binary<T>(op: BinaryOp, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> Result<CpuArray>
where
    T: Element + PrimInt + WrappingAdd + WrappingSub + WrappingMul,
{
    use BinaryOp::*;
    let bits = (T::DTYPE.size() * 8) as u32;
    let zero = T::zero();
    let div_checked = |f: fn(T, T) -> T| -> Result<CpuArray> {
        let bad = std::sync::atomic::AtomicBool::new(false);
        let r = map2::<T, T>(a, b, shape, 2, |sa, sb, o| {
            if has_zero(sb) {
                bad.store(true, std::sync::atomic::Ordering::Relaxed);
                o.fill(zero);
                return;
            }
            zip2!(sa, sb, o, |x, y| f(x, y))
        });
        if bad.into_inner() {
            return Err(Error::invalid(op.name(), "ZeroDivisionError: integer division by zero"));
        }
        Ok(r)
    };
    macro_rules! m {
        (|$x:ident, $y:ident| $e:expr) => {
            Ok(map2::<T, T>(a, b, shape, 1, |sa, sb, o| zip2!(sa, sb, o, |$x, $y| $e)))
        };
    }
    match op {
        Add => m!(|x, y| x.wrapping_add(&y)),
        Sub => m!(|x, y| x.wrapping_sub(&y)),
        Mul => m!(|x, y| x.wrapping_mul(&y)),
        DivTrunc => {
            div_checked(
                |x, y| if y == !T::zero() && T::min_value() < T::zero() { T::zero().wrapping_sub(&x) } else { x / y },
            )
        }
        DivFloor => div_checked(|x, y| {
            let q = if y == !T::zero() && T::min_value() < T::zero() { T::zero().wrapping_sub(&x) } else { x / y };
            if (x % y != T::zero()) && ((x < T::zero()) != (y < T::zero())) {
                q - T::one()
            } else {
                q
            }
        }),
        Remainder => div_checked(|x, y| {
            if y == !T::zero() && T::min_value() < T::zero() {
                return T::zero();
            }
            let m = x % y;
            if m != T::zero() && ((m < T::zero()) != (y < T::zero())) {
                m + y
            } else {
                m
            }
        }),
        Fmod => div_checked(|x, y| if y == !T::zero() && T::min_value() < T::zero() { T::zero() } else { x % y }),
        Pow => {
            let neg = T::min_value() < zero && b.to_vec::<T>().iter().any(|&e| e < zero);
            if neg {
                return Err(Error::invalid("pow", "Integers to negative integer powers are not allowed."));
            }
            m!(|x, y| int_pow(x, y))
        }
        Maximum | Fmax => m!(|x, y| x.max(y)),
        Minimum | Fmin => m!(|x, y| x.min(y)),
        BitAnd => m!(|x, y| x & y),
        BitOr => m!(|x, y| x | y),
        BitXor => m!(|x, y| x ^ y),
        // Shifts past the width give 0 (left) or the sign fill (right), as PyTorch.
        Shl => m!(|x, y| {
            let s = y.to_u64().unwrap_or(u64::MAX);
            if s >= bits as u64 {
                T::zero()
            } else {
                x << s as usize
            }
        }),
        Shr => m!(|x, y| {
            let s = y.to_u64().unwrap_or(u64::MAX).min(bits as u64 - 1);
            x >> s as usize
        }),
        Div | Atan2 | Hypot | Copysign | LogAddExp | Xlogy | Xlog1py | Zeta | ReluGrad => {
            Err(Error::Unsupported { op: op.name(), dtype: T::DTYPE, why: "needs float inputs".into() })
        }
        Eq | Ne | Lt | Le | Gt | Ge | LogicalAnd | LogicalOr | LogicalXor => unreachable!("routed to compare"),
    }
}

fn bool_binary(op: BinaryOp, a: &CpuArray, b: &CpuArray, shape: &[usize]) -> Result<CpuArray> {
    use BinaryOp::*;
    macro_rules! m {
        (|$x:ident, $y:ident| $e:expr) => {
            Ok(map2::<bool, bool>(a, b, shape, 1, |sa, sb, o| zip2!(sa, sb, o, |$x, $y| $e)))
        };
    }
    match op {
        Add | BitOr | Maximum | Fmax => m!(|x, y| x | y),
        Mul | BitAnd | Minimum | Fmin => m!(|x, y| x & y),
        BitXor => m!(|x, y| x ^ y),
        _ => Err(Error::Unsupported {
            op: op.name(),
            dtype: DType::Bool,
            why: "not defined for two bool tensors".into(),
        }),
    }
}
