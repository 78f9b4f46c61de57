//! Three-input float elementwise kernels (lerp, addcmul, addcdiv): one pass over the
//! operands with the arithmetic of PyTorch's CPU kernels.

use crate::elementwise::{broadcast, map3};
use crate::{CpuArray, Element};
use num_traits::Float;
use psionic_core::ops::TernaryOp;
use psionic_core::{DType, Error, Result};

/// `op(a, b, c)` over `shape` (each operand broadcast to it), for f32 and f64.
pub fn ternary(op: TernaryOp, a: &CpuArray, b: &CpuArray, c: &CpuArray, shape: &[usize]) -> Result<CpuArray> {
    let (a, b, c) = (broadcast(a, shape), broadcast(b, shape), broadcast(c, shape));
    match a.dtype() {
        DType::F32 => Ok(float::<f32>(op, &a, &b, &c, shape)),
        DType::F64 => Ok(float::<f64>(op, &a, &b, &c, shape)),
        dtype => Err(Error::Unsupported { op: op.name(), dtype, why: "the fused kernel takes f32 or f64".into() }),
    }
}

fn float<F: Float + Element>(op: TernaryOp, a: &CpuArray, b: &CpuArray, c: &CpuArray, shape: &[usize]) -> CpuArray {
    macro_rules! zip3 {
        (|$x:ident, $y:ident, $z:ident| $e:expr) => {
            map3::<F, F, F, F>(a, b, c, shape, |a, b, c, o| {
                crate::simd::dispatch(
                    #[inline(always)]
                    || {
                        crate::stream::lines(
                            o,
                            #[inline(always)]
                            |s, o| {
                                let n = o.len();
                                for (((o, &$x), &$y), &$z) in
                                    o.iter_mut().zip(&a[s..s + n]).zip(&b[s..s + n]).zip(&c[s..s + n])
                                {
                                    *o = $e;
                                }
                            },
                        )
                    },
                )
            })
        };
    }
    let half = F::from(0.5).unwrap();
    match op {
        // PyTorch's vectorised lerp: the weight (or weight - 1) times the difference,
        // added to the nearer end in one fused multiply-add.
        TernaryOp::Lerp => {
            zip3!(|s, e, w| if w.abs() < half { w.mul_add(e - s, s) } else { (w - F::one()).mul_add(e - s, e) })
        }
        TernaryOp::Addcmul(v) => {
            let v = F::from(v).unwrap();
            zip3!(|x, t1, t2| x + v * t1 * t2)
        }
        TernaryOp::Addcdiv(v) => {
            let v = F::from(v).unwrap();
            zip3!(|x, t1, t2| x + v * t1 / t2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(v: &[f32], shape: &[usize]) -> CpuArray {
        CpuArray::from_vec(v.to_vec(), shape)
    }

    /// Each kernel against its formula evaluated in f64 on the same f32 inputs, with a
    /// broadcast scalar operand and both lerp branches.
    #[test]
    fn kernels_match_their_formulas() {
        let a = arr(&[1.0, -2.0, 3.5, 0.25, 8.0, -1.0], &[2, 3]);
        let b = arr(&[0.5, 4.0, -1.0, 2.0, 3.0, 7.0], &[2, 3]);
        let w = arr(&[0.1, 0.9, -0.3, 0.5, 1.5, -0.625], &[2, 3]);
        let s = arr(&[0.75], &[]);
        let get = |x: &CpuArray| x.to_vec::<f32>().iter().map(|&v| v as f64).collect::<Vec<_>>();
        let (av, bv, wv) = (get(&a), get(&b), get(&w));
        let close = |got: &CpuArray, want: &dyn Fn(usize) -> f64| {
            for (i, g) in got.to_vec::<f32>().iter().enumerate() {
                let w = want(i);
                assert!((*g as f64 - w).abs() <= 1e-6 * (1.0 + w.abs()), "element {i}: {g} vs {w}");
            }
        };
        close(&ternary(TernaryOp::Lerp, &a, &b, &w, &[2, 3]).unwrap(), &|i| av[i] + wv[i] * (bv[i] - av[i]));
        close(&ternary(TernaryOp::Lerp, &a, &b, &s, &[2, 3]).unwrap(), &|i| av[i] + 0.75 * (bv[i] - av[i]));
        close(&ternary(TernaryOp::Addcmul(-0.5), &a, &b, &w, &[2, 3]).unwrap(), &|i| av[i] - 0.5 * bv[i] * wv[i]);
        close(&ternary(TernaryOp::Addcdiv(2.0), &a, &b, &w, &[2, 3]).unwrap(), &|i| av[i] + 2.0 * bv[i] / wv[i]);
    }

    /// Long rows with per-row constants (a per-channel scale and shift over [N, C, H, W])
    /// take the in-place row path: every row must see its own channel's constants, also
    /// when one chunk of work spans several rows, and a strided operand must still be
    /// gathered right.
    #[test]
    fn per_channel_operands_over_long_rows() {
        let (n, c, hw) = (3, 5, 70);
        let x: Vec<f32> = (0..n * c * hw).map(|i| ((i * 37) % 101) as f32 * 0.25 - 12.0).collect();
        let scale: Vec<f32> = (0..c).map(|i| 0.5 + i as f32).collect();
        let shift: Vec<f32> = (0..c).map(|i| i as f32 * -3.0 + 1.0).collect();
        let xa = arr(&x, &[n, c, hw]);
        let (sa, ta) = (arr(&scale, &[1, c, 1]), arr(&shift, &[1, c, 1]));
        let want = |i: usize| shift[(i / hw) % c] + x[i] * scale[(i / hw) % c];
        let got = ternary(TernaryOp::Addcmul(1.0), &ta, &xa, &sa, &[n, c, hw]).unwrap().to_vec::<f32>();
        for (i, g) in got.iter().enumerate() {
            assert_eq!(*g, want(i), "element {i}");
        }
        // The same with x read transposed (rows of stride > 1): the gathering path.
        let xt = arr(&x, &[hw, c, n]);
        let xt = xt.with_layout(psionic_core::Layout {
            shape: psionic_core::smallvec![n, c, hw],
            strides: psionic_core::smallvec![1, n as isize, (n * c) as isize],
            offset: 0,
        });
        let got = ternary(TernaryOp::Addcmul(1.0), &ta, &xt, &sa, &[n, c, hw]).unwrap().to_vec::<f32>();
        for (i, g) in got.iter().enumerate() {
            let (b, ch, p) = (i / (c * hw), (i / hw) % c, i % hw);
            assert_eq!(*g, shift[ch] + x[p * c * n + ch * n + b] * scale[ch], "element {i}");
        }
    }

    /// The end points are exact, as in PyTorch: weight 0 gives start, weight 1 gives end.
    #[test]
    fn lerp_hits_its_ends_exactly() {
        let a = arr(&[0.1, 1e30, -3.3], &[3]);
        let b = arr(&[7.7, -1e-30, 2.2], &[3]);
        for (w, want) in [(0.0, &a), (1.0, &b)] {
            let got = ternary(TernaryOp::Lerp, &a, &b, &arr(&[w], &[]), &[3]).unwrap();
            assert_eq!(got.to_vec::<f32>(), want.to_vec::<f32>());
        }
    }

    #[test]
    fn other_dtypes_are_refused() {
        let x = CpuArray::from_vec(vec![1i64, 2], &[2]);
        assert!(ternary(TernaryOp::Lerp, &x, &x, &x, &[2]).is_err());
    }
}
