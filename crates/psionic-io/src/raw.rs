//! Element bytes to tensors and back. Files hold element types Psionic lacks (unsigned
//! 16/32/64-bit): they are widened to the next signed type that holds every value, and a
//! u64 value beyond i64 is refused rather than wrapped.

use crate::error::{IoError, Result};
use half::{bf16, f16};
use psionic_array::Tensor;
use psionic_core::DType;

/// An element type as files store it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    U16,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::Bool | Elem::U8 | Elem::I8 => 1,
            Elem::I16 | Elem::U16 | Elem::F16 | Elem::BF16 => 2,
            Elem::I32 | Elem::U32 | Elem::F32 => 4,
            Elem::I64 | Elem::U64 | Elem::F64 => 8,
        }
    }

    /// The element type that holds a tensor of `dtype` exactly.
    pub fn of(dtype: DType) -> Elem {
        match dtype {
            DType::Bool => Elem::Bool,
            DType::U8 => Elem::U8,
            DType::I8 => Elem::I8,
            DType::I16 => Elem::I16,
            DType::I32 => Elem::I32,
            DType::I64 => Elem::I64,
            DType::F16 => Elem::F16,
            DType::BF16 => Elem::BF16,
            DType::F32 => Elem::F32,
            DType::F64 => Elem::F64,
        }
    }
}

/// Fixed-size words of `data`, in little-endian order whatever the file's order.
fn words<const N: usize>(data: &[u8], big_endian: bool) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N).map(move |c| {
        let mut w: [u8; N] = c.try_into().expect("chunks_exact gives N bytes");
        if big_endian {
            w.reverse();
        }
        w
    })
}

/// The tensor of `shape` whose elements are `data` (row-major). The byte count must be
/// exactly what the shape needs.
pub fn decode(format: &'static str, elem: Elem, big_endian: bool, shape: &[usize], data: &[u8]) -> Result<Tensor> {
    let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let want = numel.and_then(|n| n.checked_mul(elem.size()));
    if want != Some(data.len()) {
        return Err(IoError::format(
            format,
            format!("shape {shape:?} of {elem:?} needs {want:?} bytes, the file has {}", data.len()),
        ));
    }
    let be = big_endian;
    let t = match elem {
        Elem::Bool => Tensor::try_from_vec(data.iter().map(|&b| b != 0).collect::<Vec<_>>(), shape),
        Elem::U8 => Tensor::try_from_vec(data.to_vec(), shape),
        Elem::I8 => Tensor::try_from_vec(data.iter().map(|&b| b as i8).collect::<Vec<_>>(), shape),
        Elem::I16 => Tensor::try_from_vec(words(data, be).map(i16::from_le_bytes).collect::<Vec<_>>(), shape),
        Elem::I32 => Tensor::try_from_vec(words(data, be).map(i32::from_le_bytes).collect::<Vec<_>>(), shape),
        Elem::I64 => Tensor::try_from_vec(words(data, be).map(i64::from_le_bytes).collect::<Vec<_>>(), shape),
        Elem::U16 => {
            Tensor::try_from_vec(words(data, be).map(|w| u16::from_le_bytes(w) as i32).collect::<Vec<_>>(), shape)
        }
        Elem::U32 => {
            Tensor::try_from_vec(words(data, be).map(|w| u32::from_le_bytes(w) as i64).collect::<Vec<_>>(), shape)
        }
        Elem::U64 => {
            let v: Option<Vec<i64>> = words(data, be).map(|w| i64::try_from(u64::from_le_bytes(w)).ok()).collect();
            let v =
                v.ok_or_else(|| IoError::unsupported(format, "u64", "a value exceeds i64, Psionic's widest integer"))?;
            Tensor::try_from_vec(v, shape)
        }
        Elem::F16 => Tensor::try_from_vec(words(data, be).map(f16::from_le_bytes).collect::<Vec<_>>(), shape),
        Elem::BF16 => Tensor::try_from_vec(words(data, be).map(bf16::from_le_bytes).collect::<Vec<_>>(), shape),
        Elem::F32 => Tensor::try_from_vec(words(data, be).map(f32::from_le_bytes).collect::<Vec<_>>(), shape),
        Elem::F64 => Tensor::try_from_vec(words(data, be).map(f64::from_le_bytes).collect::<Vec<_>>(), shape),
    };
    t.map_err(|e| IoError::format(format, e.to_string()))
}

/// `t`'s elements, row-major, little-endian, with the element type that holds them.
pub fn encode(t: &Tensor) -> (Elem, Vec<u8>) {
    fn le<T: psionic_array::Element, const N: usize>(t: &Tensor, f: fn(T) -> [u8; N]) -> Vec<u8> {
        t.to_vec::<T>().into_iter().flat_map(f).collect()
    }
    let bytes = match t.dtype() {
        DType::Bool => t.to_vec::<bool>().into_iter().map(u8::from).collect(),
        DType::U8 => t.to_vec::<u8>(),
        DType::I8 => le(t, i8::to_le_bytes),
        DType::I16 => le(t, i16::to_le_bytes),
        DType::I32 => le(t, i32::to_le_bytes),
        DType::I64 => le(t, i64::to_le_bytes),
        DType::F16 => le(t, f16::to_le_bytes),
        DType::BF16 => le(t, bf16::to_le_bytes),
        DType::F32 => le(t, f32::to_le_bytes),
        DType::F64 => le(t, f64::to_le_bytes),
    };
    (Elem::of(t.dtype()), bytes)
}
