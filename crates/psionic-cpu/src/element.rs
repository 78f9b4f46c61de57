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
float_element!(f16, F16, |x: f16| x.to_f64(), f16::from_f64);
float_element!(bf16, BF16, |x: bf16| x.to_f64(), bf16::from_f64);

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
