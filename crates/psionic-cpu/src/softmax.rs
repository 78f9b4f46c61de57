//! softmax and log_softmax along one dim, in one kernel: per line the maximum, then
//! `e^(x - max)` and its sum, then the scaling (or, for log_softmax, `x - max - ln sum`).
//! Lines along the last, unit-stride dim are processed in parallel, whole; others are
//! gathered into a scratch line first.

use crate::array::CpuArray;
use crate::cast::cast;
use crate::parallel::for_out_chunks;
use crate::reduce::sum_slice;
use crate::simd::dispatch_wide;
use crate::storage::Storage;
use crate::unary::FloatMath;
use psionic_core::{DType, Error, Result};

/// `softmax` (or `log_softmax` when `log`) of `x` along `dim`; f16/bf16 are computed in
/// f32 and rounded once, as PyTorch does.
pub fn softmax(x: &CpuArray, dim: usize, log: bool) -> Result<CpuArray> {
    match x.dtype() {
        DType::F32 => Ok(along::<f32>(x, dim, log)),
        DType::F64 => Ok(along::<f64>(x, dim, log)),
        d @ (DType::F16 | DType::BF16) => Ok(cast(&along::<f32>(&cast(x, DType::F32), dim, log), d)),
        d => Err(Error::Unsupported { op: "softmax", dtype: d, why: "needs a floating-point input".into() }),
    }
}

/// One line: `out = softmax(x)` or `log_softmax(x)`.
#[inline(always)]
fn line<F: FloatMath + Send + Sync + 'static>(x: &[F], out: &mut [F], log: bool) {
    let mut lanes = [F::neg_infinity(); 8];
    let chunks = x.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
        }
    }
    // NaN never wins a comparison; it reaches the output through the sum instead.
    let max = lanes.iter().chain(rem).fold(F::neg_infinity(), |m, &v| if v > m { v } else { m });
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - max).exp_v();
    }
    let sum = sum_slice(out);
    if log {
        let shift = max + sum.ln();
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v - shift;
        }
    } else {
        let r = F::one() / sum;
        for o in out.iter_mut() {
            *o = *o * r;
        }
    }
}

fn along<F: FloatMath + Send + Sync + 'static>(x: &CpuArray, dim: usize, log: bool) -> CpuArray {
    let l = &x.layout;
    let n = l.shape[dim];
    let src = x.storage.as_slice::<F>();
    let mut out = Storage::uninit::<F>(l.numel());
    if dim + 1 == l.ndim() && l.is_contiguous() {
        let src = &src[l.offset..l.offset + l.numel()];
        for_out_chunks(out.as_mut_slice::<F>(), crate::elementwise::rows_per_chunk(n) * n, 16, |start, o| {
            for (r, orow) in o.chunks_mut(n).enumerate() {
                let xrow = &src[start + r * n..start + (r + 1) * n];
                dispatch_wide(
                    #[inline(always)]
                    || line(xrow, orow, log),
                );
            }
        });
    } else {
        let o = out.as_mut_slice::<F>();
        let (mut xs, mut os) = (Vec::with_capacity(n), vec![F::zero(); n]);
        crate::scan::lines(x, dim, |it, base, so| {
            xs.clear();
            xs.extend(it.map(|off| src[off]));
            dispatch_wide(
                #[inline(always)]
                || line(&xs, &mut os, log),
            );
            for (i, &v) in os.iter().enumerate() {
                o[(base as isize + i as isize * so) as usize] = v;
            }
        });
    }
    CpuArray::new(out, &l.shape)
}
