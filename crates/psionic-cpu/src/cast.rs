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

/// f32 to bf16, rounding to nearest even on the bits (NaN keeps its sign and top
/// payload bits, made quiet): what `convert` gives through f64, in integer ops that
/// vectorize (the f64 route is a software conversion per element).
#[inline(always)]
fn bf16_of(x: f32) -> u16 {
    let b = x.to_bits();
    if b & 0x7FFF_FFFF > 0x7F80_0000 {
        ((b >> 16) | 0x40) as u16
    } else {
        ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
    }
}

/// The casts autocast runs on every matmul's operands, f32 to and from bf16, as plain
/// bit operations over slices; `None` for other pairs.
fn cast_bf16(x: &CpuArray, to: DType) -> Option<CpuArray> {
    use half::bf16;
    match (x.dtype(), to) {
        (DType::F32, DType::BF16) => Some(map1::<f32, bf16>(x, 1, |s, d| {
            crate::simd::dispatch(
                #[inline(always)]
                || {
                    for (o, &v) in d.iter_mut().zip(s) {
                        *o = bf16::from_bits(bf16_of(v));
                    }
                },
            )
        })),
        (DType::BF16, DType::F32) => Some(map1::<bf16, f32>(x, 1, |s, d| {
            crate::simd::dispatch(
                #[inline(always)]
                || {
                    for (o, &v) in d.iter_mut().zip(s) {
                        *o = f32::from_bits((v.to_bits() as u32) << 16);
                    }
                },
            )
        })),
        _ => None,
    }
}

/// A contiguous copy of `x` converted to `to` (a plain copy when the dtype matches).
pub fn cast(x: &CpuArray, to: DType) -> CpuArray {
    if let Some(y) = cast_bf16(x, to) {
        return y;
    }
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

    /// The bit-level f32 <-> bf16 casts agree with the conversion through f64 on every
    /// class of value: ties both ways, the largest finite values (rounding to inf),
    /// subnormals, infinities, NaNs of both signs and several payloads, and a sweep of
    /// bit patterns across the whole range.
    #[test]
    fn bf16_casts_match_the_general_conversion() {
        let mut bits: Vec<u32> =
            (0..1_000_000u64).map(|i| (i * 4294967291 / 1_000_000) as u32 ^ (i as u32 & 0xFFFF)).collect();
        bits.extend([
            0x3F80_8000,
            0x3F81_8000,
            0x3F80_8001,
            0x3F80_7FFF,
            0x7F7F_FFFF,
            0x7F7F_8000,
            0x7F7F_7FFF,
            0x0000_0001,
            0x0000_8000,
            0x0001_8000,
            0x807F_FFFF,
            0x7F80_0000,
            0xFF80_0000,
            0x7FC0_0000,
            0xFFC0_0001,
            0x7F80_0001,
            0x7FBF_FFFF,
            0xFFFF_FFFF,
            0x8000_0000,
            0,
        ]);
        let x = CpuArray::from_vec(bits.iter().map(|&b| f32::from_bits(b)).collect::<Vec<_>>(), &[bits.len()]);
        let fast = cast(&x, DType::BF16).to_vec::<half::bf16>();
        for (&b, h) in bits.iter().zip(&fast) {
            let want = convert::<f32, half::bf16>(f32::from_bits(b));
            assert_eq!(h.to_bits(), want.to_bits(), "{b:#010x}");
            assert_eq!(h.to_bits(), half::bf16::from_f32(f32::from_bits(b)).to_bits(), "{b:#010x}");
        }
        // Just above a tie in the last three bits: rounds up (PyTorch's rounding).
        assert_eq!(bf16_of(f32::from_bits(0x0CDC_8004)), 0x0CDD);
        // A transposed (strided) input casts to the same values in row-major order.
        let m = CpuArray::from_vec((0..600).map(|i| (i as f32 * 0.37).sin() * 1e3).collect::<Vec<_>>(), &[20, 30]);
        let t = m.with_layout(m.layout.permute("t", &[1, 0]).unwrap());
        let rows: Vec<f32> = t.to_vec::<f32>();
        let want: Vec<u16> = rows.iter().map(|&v| half::bf16::from_f32(v).to_bits()).collect();
        let got = cast(&t, DType::BF16);
        assert_eq!(got.to_vec::<half::bf16>().iter().map(|h| h.to_bits()).collect::<Vec<_>>(), want);
        let wide = cast(&got.with_layout(got.layout.permute("t", &[1, 0]).unwrap()), DType::F32).to_vec::<f32>();
        let twice: Vec<f32> = m.to_vec::<f32>().iter().map(|&v| half::bf16::from_f32(v).to_f32()).collect();
        assert_eq!(wide, twice);
        let back = cast(&CpuArray::from_vec(fast.clone(), &[fast.len()]), DType::F32).to_vec::<f32>();
        for (h, y) in fast.iter().zip(&back) {
            assert_eq!(y.to_bits(), convert::<half::bf16, f32>(*h).to_bits());
        }
    }
}
