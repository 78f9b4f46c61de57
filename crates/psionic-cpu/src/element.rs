//! The host types behind each dtype, and runtime dispatch from a [`DType`] to one of them.

use crate::storage::Buffer;
use half::{bf16, f16};
use psionic_core::DType;
use std::fmt::Debug;

/// A host type that can be stored in a tensor. Conversions follow C casts as PyTorch does:
/// float to integer goes through i64 and wraps; anything to bool is `!= 0`.
pub trait Element: Copy + Send + Sync + 'static + PartialEq + PartialOrd + Default + Debug {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_i64(self) -> i64;
    fn from_i64(v: i64) -> Self;
    fn to_bool(self) -> bool {
        self.to_f64() != 0.0 || self.to_f64().is_nan()
    }
    fn from_bool(b: bool) -> Self {
        Self::from_i64(b as i64)
    }
    fn slice(buf: &Buffer) -> &[Self];
    fn slice_mut(buf: &mut Buffer) -> &mut [Self];
    fn into_buffer(v: Vec<Self>) -> Buffer;
}

macro_rules! int_element {
    ($t:ty, $dt:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                (v as i64) as $t
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn to_bool(self) -> bool {
                self != 0
            }
            fn slice(buf: &Buffer) -> &[Self] {
                match buf {
                    Buffer::$dt(v) => v,
                    _ => panic!("buffer holds {:?}, not {}", buf.dtype(), DType::$dt),
                }
            }
            fn slice_mut(buf: &mut Buffer) -> &mut [Self] {
                match buf {
                    Buffer::$dt(v) => v,
                    _ => panic!("buffer holds {:?}, not {}", buf.dtype(), DType::$dt),
                }
            }
            fn into_buffer(v: Vec<Self>) -> Buffer {
                Buffer::$dt(v)
            }
        }
    };
}
int_element!(u8, U8);
int_element!(i8, I8);
int_element!(i16, I16);
int_element!(i32, I32);
int_element!(i64, I64);

macro_rules! float_element {
    ($t:ty, $dt:ident, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn to_f64(self) -> f64 {
                $to(self)
            }
            fn from_f64(v: f64) -> Self {
                $from(v)
            }
            fn to_i64(self) -> i64 {
                $to(self) as i64
            }
            fn from_i64(v: i64) -> Self {
                $from(v as f64)
            }
            fn to_bool(self) -> bool {
                $to(self) != 0.0
            }
            fn slice(buf: &Buffer) -> &[Self] {
                match buf {
                    Buffer::$dt(v) => v,
                    _ => panic!("buffer holds {:?}, not {}", buf.dtype(), DType::$dt),
                }
            }
            fn slice_mut(buf: &mut Buffer) -> &mut [Self] {
                match buf {
                    Buffer::$dt(v) => v,
                    _ => panic!("buffer holds {:?}, not {}", buf.dtype(), DType::$dt),
                }
            }
            fn into_buffer(v: Vec<Self>) -> Buffer {
                Buffer::$dt(v)
            }
        }
    };
}
float_element!(f32, F32, |x: f32| x as f64, |v: f64| v as f32);
float_element!(f64, F64, |x: f64| x, |v: f64| v);
float_element!(f16, F16, |x: f16| x.to_f64(), |v: f64| f16::from_f32(f32_round_odd(v)));
float_element!(bf16, BF16, |x: bf16| x.to_f64(), |v: f64| bf16::from_f32(f32_round_odd(v)));

/// `v` rounded to f32 toward zero with the last bit set where that dropped anything
/// (round to odd). Rounding that to a narrower float to nearest even gives the correctly
/// rounded narrow value, as long as f32 keeps two more bits than it (f16 and bf16 do);
/// rounding `v` to f32 to nearest first could make a tie that was not one. (The `half`
/// crate's own f64 conversions drop the low 32 bits of the f64 before rounding, so an
/// f32 value just above a tie rounded down.)
pub fn f32_round_odd(v: f64) -> f32 {
    let f = v as f32;
    if v.is_nan() || f as f64 == v {
        return f;
    }
    if f.is_infinite() {
        // Finite beyond the largest f32: the largest, odd, which rounds on to infinity.
        return f32::from_bits((f.to_bits() & 0x8000_0000) | 0x7F7F_FFFF);
    }
    let b = f.to_bits();
    let toward_zero = if (f as f64).abs() > v.abs() { b - 1 } else { b };
    f32::from_bits(toward_zero | 1)
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn to_bool(self) -> bool {
        self
    }
    fn from_bool(b: bool) -> Self {
        b
    }
    fn slice(buf: &Buffer) -> &[Self] {
        match buf {
            Buffer::Bool(v) => v,
            _ => panic!("buffer holds {:?}, not bool", buf.dtype()),
        }
    }
    fn slice_mut(buf: &mut Buffer) -> &mut [Self] {
        match buf {
            Buffer::Bool(v) => v,
            _ => panic!("buffer holds {:?}, not bool", buf.dtype()),
        }
    }
    fn into_buffer(v: Vec<Self>) -> Buffer {
        Buffer::Bool(v)
    }
}

/// Runs `$body` with `$T` bound to the host type of `$dt` (all ten dtypes).
#[macro_export]
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {{
        use $crate::element::__dtype_reexport::*;
        match $dt {
            DType::Bool => {
                type $T = bool;
                $body
            }
            DType::U8 => {
                type $T = u8;
                $body
            }
            DType::I8 => {
                type $T = i8;
                $body
            }
            DType::I16 => {
                type $T = i16;
                $body
            }
            DType::I32 => {
                type $T = i32;
                $body
            }
            DType::I64 => {
                type $T = i64;
                $body
            }
            DType::F16 => {
                type $T = f16;
                $body
            }
            DType::BF16 => {
                type $T = bf16;
                $body
            }
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
        }
    }};
}

#[doc(hidden)]
pub mod __dtype_reexport {
    pub use half::{bf16, f16};
    pub use psionic_core::DType;
}

/// `s` as a slice of f32, when `T` is f32: lets a generic kernel hand its data to an
/// f32-only one.
pub(crate) fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is f32 (same type id), so this is the same slice retyped to itself.
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) })
}

/// [`as_f32`] of a mutable slice.
pub(crate) fn as_f32_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`; the borrow is handed on.
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) })
}

#[cfg(test)]
mod rounding_tests {
    use super::*;

    /// The nearest of the two narrow values around `v` (ties to the even one). The
    /// distances are exact: `v` lies within one narrow step of both.
    fn nearest<T: Copy>(v: f64, down: T, up: T, wide: impl Fn(T) -> f64, even: impl Fn(T) -> bool) -> T {
        let (below, above) = ((v - wide(down)).abs(), (wide(up) - v).abs());
        if below < above || (below == above && even(down)) {
            down
        } else {
            up
        }
    }

    #[test]
    fn f64_to_bf16_and_f16_round_correctly() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..400_000u64 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // f64s near f32 and near bf16/f16 ties, and plain random ones, positive and
            // negative, across the ranges both formats cover (subnormals included).
            let exp = (s >> 56) as i32 % 40 - 20 - if i % 7 == 0 { 110 } else { 0 };
            let m = 1.0 + ((s >> 11) as f64 / (1u64 << 53) as f64);
            let v = m * 2f64.powi(exp) * if s & 1 == 0 { 1.0 } else { -1.0 };
            let v = match i % 3 {
                0 => v,
                1 => v as f32 as f64,
                _ => f64::from_bits((v as f32 as f64).to_bits() ^ ((s >> 20) & 0xFFFF_FFFF)),
            };
            let b = <bf16 as Element>::from_f64(v);
            let trunc = bf16::from_bits(((v as f32).to_bits() >> 16) as u16);
            let lo = if trunc.to_f64().abs() > v.abs() { bf16::from_bits(trunc.to_bits() - 1) } else { trunc };
            let hi = bf16::from_bits(lo.to_bits() + 1);
            let want = if lo.to_f64() == v { lo } else { nearest(v, lo, hi, |x| x.to_f64(), |x| x.to_bits() & 1 == 0) };
            assert_eq!(b.to_bits(), want.to_bits(), "bf16 of {v:e} ({:#018x})", v.to_bits());
            let h = <f16 as Element>::from_f64(v);
            if v.abs() < 65504.0 {
                let cand = f16::from_f64(v);
                let near = [
                    cand,
                    f16::from_bits(cand.to_bits().wrapping_add(1)),
                    f16::from_bits(cand.to_bits().wrapping_sub(1)),
                ];
                let best = near
                    .iter()
                    .filter(|c| c.is_finite())
                    .min_by(|a, b| {
                        let (da, db) = ((a.to_f64() - v).abs(), (b.to_f64() - v).abs());
                        da.partial_cmp(&db).unwrap().then((a.to_bits() & 1).cmp(&(b.to_bits() & 1)))
                    })
                    .unwrap();
                assert_eq!((h.to_f64() - v).abs(), (best.to_f64() - v).abs(), "f16 of {v:e}");
            }
        }
    }
}
