//! Kernels for [`UnaryOp`]. The graph has already picked the dtype: float-only kinds see
//! float inputs; f16/bf16 are computed in f32 and rounded once at the end.

use crate::array::CpuArray;
use crate::cast::cast;
use crate::element::Element;
use crate::elementwise::map1;
use num_traits::{Float, NumCast};
use psionic_core::ops::UnaryOp;
use psionic_core::{DType, Error, Result};

/// Float math that std's `Float` lacks.
pub trait FloatMath: Float + Element {
    /// `e^x`; for f32 the branch-free [`crate::vmath::exp`], so loops over it vectorise.
    fn exp_v(self) -> Self;
    /// `tanh`; for f32 [`crate::vmath::tanh`].
    fn tanh_v(self) -> Self;
    fn erf(self) -> Self;
    /// `erf`, given [`FloatMath::erf_takes_mid`]: for f32 [`crate::vmath::erf_mid`].
    fn erf_mid(self) -> Self;
    fn erf_takes_mid(self) -> bool;
    fn erfc(self) -> Self;
    fn erfinv(self) -> Self;
    fn round_even(self) -> Self;
}

impl FloatMath for f32 {
    #[inline(always)]
    fn exp_v(self) -> Self {
        crate::vmath::exp(self)
    }
    #[inline(always)]
    fn tanh_v(self) -> Self {
        crate::vmath::tanh(self)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        crate::vmath::erf(self)
    }
    #[inline(always)]
    fn erf_mid(self) -> Self {
        crate::vmath::erf_mid(self)
    }
    #[inline(always)]
    fn erf_takes_mid(self) -> bool {
        crate::vmath::erf_takes_mid(self)
    }
    fn erfc(self) -> Self {
        libm::erfcf(self)
    }
    fn erfinv(self) -> Self {
        crate::special::erfinv(self as f64) as f32
    }
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
}

impl FloatMath for f64 {
    #[inline(always)]
    fn exp_v(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn tanh_v(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    #[inline(always)]
    fn erf_mid(self) -> Self {
        libm::erf(self)
    }
    #[inline(always)]
    fn erf_takes_mid(self) -> bool {
        true
    }
    fn erfc(self) -> Self {
        libm::erfc(self)
    }
    fn erfinv(self) -> Self {
        crate::special::erfinv(self)
    }
    fn round_even(self) -> Self {
        self.round_ties_even()
    }
}

#[inline(always)]
fn c<F: Float>(v: f64) -> F {
    <F as NumCast>::from(v).unwrap()
}

/// A float element as f64 (exact for f32 and f64).
fn f64_of<F: Float>(v: F) -> f64 {
    v.to_f64().unwrap_or(f64::NAN)
}

#[inline(always)]
fn sigmoid<F: FloatMath>(x: F) -> F {
    F::one() / (F::one() + (-x).exp_v())
}

#[inline(always)]
fn softplus<F: Float>(x: F, beta: F, threshold: F) -> F {
    if x * beta > threshold {
        x
    } else {
        (x * beta).exp().ln_1p() / beta
    }
}

/// Runs one unary op on any input dtype the graph allows for it.
pub fn unary(op: UnaryOp, x: &CpuArray) -> Result<CpuArray> {
    if op.out_is_bool() {
        return Ok(crate::with_dtype!(x.dtype(), T => predicate::<T>(op, x)));
    }
    match x.dtype() {
        DType::F32 => Ok(float_unary::<f32>(op, x)),
        DType::F64 => Ok(float_unary::<f64>(op, x)),
        d @ (DType::F16 | DType::BF16) => Ok(cast(&float_unary::<f32>(op, &cast(x, DType::F32)), d)),
        DType::U8 => int_unary::<u8>(op, x),
        DType::I8 => int_unary::<i8>(op, x),
        DType::I16 => int_unary::<i16>(op, x),
        DType::I32 => int_unary::<i32>(op, x),
        DType::I64 => int_unary::<i64>(op, x),
        DType::Bool => match op {
            UnaryOp::BitwiseNot => Ok(map1::<bool, bool>(x, 1, |s, d| {
                for (o, &v) in d.iter_mut().zip(s) {
                    *o = !v;
                }
            })),
            UnaryOp::Floor
            | UnaryOp::Ceil
            | UnaryOp::Trunc
            | UnaryOp::Round
            | UnaryOp::Sign
            | UnaryOp::NanToNum { .. } => Ok(crate::elementwise::contiguous::<bool>(x)),
            _ => Err(Error::Unsupported {
                op: "unary",
                dtype: DType::Bool,
                why: format!("{op:?} is not defined for bool"),
            }),
        },
    }
}

fn predicate<T: Element>(op: UnaryOp, x: &CpuArray) -> CpuArray {
    let f: fn(f64) -> bool = match op {
        UnaryOp::IsNan => |v| v.is_nan(),
        UnaryOp::IsInf => |v| v.is_infinite(),
        UnaryOp::IsPosInf => |v| v == f64::INFINITY,
        UnaryOp::IsNegInf => |v| v == f64::NEG_INFINITY,
        UnaryOp::IsFinite => |v| v.is_finite(),
        UnaryOp::LogicalNot => |v| v == 0.0,
        _ => unreachable!("not a predicate: {op:?}"),
    };
    map1::<T, bool>(x, 1, |s, d| {
        for (o, &v) in d.iter_mut().zip(s) {
            *o = f(v.to_f64());
        }
    })
}

fn float_unary<F: FloatMath>(op: UnaryOp, x: &CpuArray) -> CpuArray {
    let (work, kernel) = float_unary_kernel::<F>(op);
    map1::<F, F>(x, work, |s, d| kernel(s, d))
}

/// A slice kernel: `d[i] = f(s[i])`, vectorised, for slices of equal length.
pub type SliceKernel<F> = Box<dyn Fn(&[F], &mut [F]) + Send + Sync>;

/// The slice kernel of a float unary op (not a predicate or `bitwise_not`) and its
/// work per element (1: a streaming op; 8 and more: transcendentals, which run on the
/// widest vectors). Eager ops and compile's fused chains both run it, so they agree to
/// the bit.
pub fn float_unary_kernel<F: FloatMath>(op: UnaryOp) -> (usize, SliceKernel<F>) {
    use UnaryOp::*;
    macro_rules! m {
        ($w:expr, |$v:ident| $e:expr) => {
            (
                $w,
                Box::new(move |s: &[F], d: &mut [F]| {
                    macro_rules! run {
                        ($dispatch:path) => {
                            $dispatch(
                                #[inline(always)]
                                || {
                                    crate::stream::lines(
                                        d,
                                        #[inline(always)]
                                        |st, d| {
                                            let s = &s[st..st + d.len()];
                                            for (o, &$v) in d.iter_mut().zip(s) {
                                                *o = $e;
                                            }
                                        },
                                    )
                                },
                            )
                        };
                    }
                    // Costly kernels (work >= 8: transcendentals) are bound by arithmetic.
                    if $w >= 8 {
                        run!(crate::simd::dispatch_wide)
                    } else {
                        run!(crate::simd::dispatch)
                    }
                }) as SliceKernel<F>,
            )
        };
    }
    // Kernels over erf, in blocks of 16 (one AVX-512 vector of f32): a block whose
    // inputs all lie in erf's first polynomial (nearly every block of normal inputs)
    // evaluates that one alone, with the same bits. `$fast` is `$full` with `erf_mid`.
    macro_rules! m_erf {
        ($w:expr, |$v:ident| $full:expr, $fast:expr, $arg:expr) => {
            (
                $w,
                Box::new(move |s: &[F], d: &mut [F]| {
                    crate::simd::dispatch_wide(
                        #[inline(always)]
                        || {
                            crate::stream::lines(
                                d,
                                #[inline(always)]
                                |st, d| {
                                    let s = &s[st..st + d.len()];
                                    let (mut dc, sc) = (d.chunks_exact_mut(16), s.chunks_exact(16));
                                    let rest = sc.remainder();
                                    for (o16, s16) in (&mut dc).zip(sc) {
                                        if s16.iter().fold(true, |a, &$v| a & $arg.erf_takes_mid()) {
                                            for (o, &$v) in o16.iter_mut().zip(s16) {
                                                *o = $fast;
                                            }
                                        } else {
                                            for (o, &$v) in o16.iter_mut().zip(s16) {
                                                *o = $full;
                                            }
                                        }
                                    }
                                    for (o, &$v) in dc.into_remainder().iter_mut().zip(rest) {
                                        *o = $full;
                                    }
                                },
                            )
                        },
                    )
                }) as SliceKernel<F>,
            )
        };
    }
    let (zero, one, half) = (F::zero(), F::one(), c::<F>(0.5));
    match op {
        Neg => m!(1, |v| -v),
        Abs => m!(1, |v| v.abs()),
        Sign => m!(1, |v| if v > zero {
            one
        } else if v < zero {
            -one
        } else {
            zero
        }),
        Square => m!(1, |v| v * v),
        Sqrt => m!(2, |v| v.sqrt()),
        Rsqrt => m!(2, |v| one / v.sqrt()),
        Reciprocal => m!(1, |v| one / v),
        Exp => m!(8, |v| v.exp_v()),
        Exp2 => m!(8, |v| v.exp2()),
        Expm1 => m!(8, |v| v.exp_m1()),
        Log => m!(8, |v| v.ln()),
        Log2 => m!(8, |v| v.log2()),
        Log10 => m!(8, |v| v.log10()),
        Log1p => m!(8, |v| v.ln_1p()),
        Sin => m!(8, |v| v.sin()),
        Cos => m!(8, |v| v.cos()),
        Tan => m!(8, |v| v.tan()),
        Asin => m!(8, |v| v.asin()),
        Acos => m!(8, |v| v.acos()),
        Atan => m!(8, |v| v.atan()),
        Sinh => m!(8, |v| v.sinh()),
        Cosh => m!(8, |v| v.cosh()),
        Tanh => m!(8, |v| v.tanh_v()),
        Asinh => m!(8, |v| v.asinh()),
        Acosh => m!(8, |v| v.acosh()),
        Atanh => m!(8, |v| v.atanh()),
        Erf => m_erf!(8, |v| v.erf(), v.erf_mid(), v),
        Erfc => m!(8, |v| v.erfc()),
        Erfinv => m!(16, |v| v.erfinv()),
        // The gamma, Bessel and normal-distribution families are computed in f64 (f32
        // rounds once at the end).
        Lgamma => m!(16, |v| c::<F>(crate::gamma::lgamma(f64_of(v)))),
        Digamma => m!(16, |v| c::<F>(crate::gamma::digamma(f64_of(v)))),
        // Trigamma in the element's precision, as PyTorch computes it (see `trigamma`).
        Polygamma(1) => m!(16, |v| crate::gamma::trigamma(v)),
        Polygamma(n) => m!(16, |v| c::<F>(crate::gamma::polygamma(n, f64_of(v)))),
        I0 => m!(16, |v| c::<F>(crate::bessel::i0(f64_of(v)))),
        I0e => m!(16, |v| c::<F>(crate::bessel::i0e(f64_of(v)))),
        I1 => m!(16, |v| c::<F>(crate::bessel::i1(f64_of(v)))),
        I1e => m!(16, |v| c::<F>(crate::bessel::i1e(f64_of(v)))),
        Erfcx => m!(16, |v| c::<F>(crate::special::erfcx(f64_of(v)))),
        Ndtri => m!(16, |v| c::<F>(crate::special::ndtri(f64_of(v)))),
        LogNdtr => m!(16, |v| c::<F>(crate::special::log_ndtr(f64_of(v)))),
        Sigmoid => m!(8, |v| sigmoid(v)),
        Logit(eps) => match eps {
            None => m!(8, |v| (v / (one - v)).ln()),
            Some(e) => {
                let (lo, hi) = (c::<F>(e), one - c::<F>(e));
                m!(8, |v| {
                    let z = if v < lo {
                        lo
                    } else if v > hi {
                        hi
                    } else {
                        v
                    };
                    (z / (one - z)).ln()
                })
            }
        },
        Relu => m!(1, |v| if v <= zero { zero } else { v }),
        Gelu => {
            let r = c::<F>(std::f64::consts::FRAC_1_SQRT_2);
            m_erf!(8, |v| half * v * (one + (v * r).erf()), half * v * (one + (v * r).erf_mid()), (v * r))
        }
        GeluGrad => {
            let k = c::<F>(1.0 / (2.0 * std::f64::consts::PI).sqrt());
            let (r, mh) = (c::<F>(std::f64::consts::FRAC_1_SQRT_2), c::<F>(-0.5));
            m_erf!(
                16,
                |v| ((v * r).erf() + one) * half + v * (((v * v) * mh).exp_v() * k),
                ((v * r).erf_mid() + one) * half + v * (((v * v) * mh).exp_v() * k),
                (v * r)
            )
        }
        GeluTanh => {
            let (k, a) = (c::<F>((2.0 / std::f64::consts::PI).sqrt()), c::<F>(0.044715));
            m!(8, |v| half * v * (one + (k * (v + a * v * v * v)).tanh_v()))
        }
        Silu => m!(8, |v| v / (one + (-v).exp_v())),
        Mish => {
            let t = c::<F>(20.0);
            m!(8, |v| v * softplus(v, one, t).tanh())
        }
        Softplus { beta, threshold } => {
            let (b, t) = (c::<F>(beta), c::<F>(threshold));
            m!(8, |v| softplus(v, b, t))
        }
        Elu { alpha, scale, input_scale } => {
            let (a, s, i) = (c::<F>(alpha), c::<F>(scale), c::<F>(input_scale));
            m!(8, |v| if v <= zero { ((v * i).exp_m1()) * a * s } else { v * s })
        }
        LeakyRelu(slope) => {
            let sl = c::<F>(slope);
            m!(1, |v| if v > zero { v } else { v * sl })
        }
        Hardtanh { min, max } => {
            let (lo, hi) = (c::<F>(min), c::<F>(max));
            m!(1, |v| if v < lo {
                lo
            } else if v > hi {
                hi
            } else {
                v
            })
        }
        Hardsigmoid => {
            let (three, six) = (c::<F>(3.0), c::<F>(6.0));
            m!(1, |v| (v + three).max(zero).min(six) / six)
        }
        Hardswish => {
            let (three, six) = (c::<F>(3.0), c::<F>(6.0));
            m!(1, |v| v * (v + three).max(zero).min(six) / six)
        }
        Floor => m!(1, |v| v.floor()),
        Ceil => m!(1, |v| v.ceil()),
        Round => m!(1, |v| v.round_even()),
        Trunc => m!(1, |v| v.trunc()),
        Frac => m!(1, |v| v - v.trunc()),
        NanToNum { nan, posinf, neginf } => {
            let (n, p, q) = (c::<F>(nan), c::<F>(posinf), c::<F>(neginf));
            m!(1, |v| if v.is_nan() {
                n
            } else if v == F::infinity() {
                p
            } else if v == F::neg_infinity() {
                q
            } else {
                v
            })
        }
        Clamp { min, max } => {
            let lo = min.map_or(F::neg_infinity(), c::<F>);
            let hi = max.map_or(F::infinity(), c::<F>);
            m!(1, |v| {
                let v = if v < lo { lo } else { v };
                if v > hi {
                    hi
                } else {
                    v
                }
            })
        }
        BitwiseNot | IsNan | IsInf | IsPosInf | IsNegInf | IsFinite | LogicalNot => {
            unreachable!("{op:?} is routed before float math")
        }
    }
}

/// Integer kernels use wrapping arithmetic, as C (and so PyTorch) does.
fn int_unary<T>(op: UnaryOp, x: &CpuArray) -> Result<CpuArray>
where
    T: Element + num_traits::PrimInt + num_traits::WrappingNeg + num_traits::WrappingMul + num_traits::WrappingSub,
{
    use UnaryOp::*;
    macro_rules! m {
        (|$v:ident| $e:expr) => {
            Ok(map1::<T, T>(x, 1, |s, d| {
                for (o, &$v) in d.iter_mut().zip(s) {
                    *o = $e;
                }
            }))
        };
    }
    let (zero, one) = (T::zero(), T::one());
    let clampv = |v: Option<f64>, dflt: T| v.map_or(dflt, |b| T::from_f64(b));
    match op {
        Neg => m!(|v| v.wrapping_neg()),
        Abs => m!(|v| if v < zero { v.wrapping_neg() } else { v }),
        Sign => m!(|v| if v > zero {
            one
        } else if v < zero {
            zero.wrapping_sub(&one)
        } else {
            zero
        }),
        Square => m!(|v| v.wrapping_mul(&v)),
        Relu => m!(|v| if v < zero { zero } else { v }),
        Floor | Ceil | Round | Trunc | NanToNum { .. } => Ok(crate::elementwise::contiguous::<T>(x)),
        Frac => m!(|_v| zero),
        BitwiseNot => m!(|v| !v),
        Clamp { min, max } => {
            let (lo, hi) = (clampv(min, T::min_value()), clampv(max, T::max_value()));
            m!(|v| {
                let v = if v < lo { lo } else { v };
                if v > hi {
                    hi
                } else {
                    v
                }
            })
        }
        Hardtanh { min, max } => {
            let (lo, hi) = (T::from_f64(min), T::from_f64(max));
            m!(|v| if v < lo {
                lo
            } else if v > hi {
                hi
            } else {
                v
            })
        }
        _ => Err(Error::Unsupported { op: "unary", dtype: T::DTYPE, why: format!("{op:?} needs a float input") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The erf kernels take a block of 16 through erf's first polynomial alone when all
    /// its inputs allow it: element for element the result is the one the full kernel
    /// gives (each value alone, the tail path). Block 0 takes the shortcut; block 1 holds
    /// an input past the bound and a NaN; the last 8 are the tail.
    #[test]
    fn erf_kernels_agree_whatever_their_block_holds() {
        let mut v: Vec<f32> = (0..40).map(|i| (i as f32 - 20.0) * 0.137).collect();
        v[20] = 5.0;
        v[22] = f32::NAN;
        for op in [UnaryOp::Erf, UnaryOp::Gelu, UnaryOp::GeluGrad] {
            let bulk = unary(op, &CpuArray::from_vec(v.clone(), &[40])).unwrap().to_vec::<f32>();
            for (i, &x) in v.iter().enumerate() {
                let alone = unary(op, &CpuArray::from_vec(vec![x], &[1])).unwrap().to_vec::<f32>()[0];
                let same = alone.to_bits() == bulk[i].to_bits() || (alone.is_nan() && bulk[i].is_nan());
                assert!(same, "{op:?}({x}): {} in bulk, {alone} alone", bulk[i]);
            }
        }
    }
}
