//! Dtype conversion with C-cast semantics (what PyTorch's `.to(dtype)` does on the CPU).

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::map1;
use psionic_core::DType;

#[inline(always)]
pub fn convert<S: Element, D: Element>(v: S) -> D {
    if D::DTYPE == DType::Bool {
        D::from_bool(v.to_bool())
    } else if S::DTYPE.is_float() {
        D::from_f64(v.to_f64())
    } else {
        D::from_i64(v.to_i64())
    }
}

/// A contiguous copy of `x` converted to `to` (a plain copy when the dtype matches).
pub fn cast(x: &CpuArray, to: DType) -> CpuArray {
    crate::with_dtype!(x.dtype(), S => crate::with_dtype!(to, D => {
        map1::<S, D>(x, 1, |s, d| {
            crate::stream::lines(d, |st, d| {
                let s = &s[st..st + d.len()];
                for (o, &v) in d.iter_mut().zip(s) {
                    *o = convert::<S, D>(v);
                }
            })
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_cast_semantics() {
        let x = CpuArray::from_vec(vec![-1.7f32, 2.5, 300.0, f32::NAN], &[4]);
        assert_eq!(cast(&x, DType::I32).to_vec::<i32>(), vec![-1, 2, 300, 0]);
        assert_eq!(cast(&x, DType::U8).to_vec::<u8>(), vec![255, 2, 44, 0]);
        assert_eq!(cast(&x, DType::Bool).to_vec::<bool>(), vec![true, true, true, true]);
        let i = CpuArray::from_vec(vec![300i64, -129], &[2]);
        assert_eq!(cast(&i, DType::I8).to_vec::<i8>(), vec![44, 127]);
    }
}
