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
pub(crate) fn line<F: FloatMath + Send + Sync + 'static>(x: &[F], out: &mut [F], log: bool) {
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

/// The gradient of softmax (log_softmax when `log`) along `dim` from its output `y` and
/// the output's gradient `g` (same shape): `y (g - sum(g y))`, or `g - e^y sum(g)`, one
/// pass per line instead of four full-size ops. f16/bf16 are computed in f32 and rounded
/// once.
pub fn softmax_grad(y: &CpuArray, g: &CpuArray, dim: usize, log: bool) -> Result<CpuArray> {
    let half = |d| Ok(cast(&grad_along::<f32>(&cast(y, DType::F32), &cast(g, DType::F32), dim, log), d));
    match (y.dtype(), g.dtype()) {
        (DType::F32, DType::F32) => Ok(grad_along::<f32>(y, g, dim, log)),
        (DType::F64, DType::F64) => Ok(grad_along::<f64>(y, g, dim, log)),
        (d @ (DType::F16 | DType::BF16), e) if d == e => half(d),
        (d, _) => Err(Error::Unsupported {
            op: "softmax_backward",
            dtype: d,
            why: "needs floating-point output and gradient of one dtype".into(),
        }),
    }
}

/// One line of the gradient; `out` doubles as the scratch of the products.
#[inline(always)]
pub(crate) fn grad_line<F: FloatMath + Send + Sync + 'static>(y: &[F], g: &[F], out: &mut [F], log: bool) {
    if log {
        let s = sum_slice(g);
        for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
            *o = g - y.exp_v() * s;
        }
    } else {
        for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
            *o = g * y;
        }
        let s = sum_slice(out);
        for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
            *o = y * (g - s);
        }
    }
}

fn grad_along<F: FloatMath + Send + Sync + 'static>(y: &CpuArray, g: &CpuArray, dim: usize, log: bool) -> CpuArray {
    let shape = &y.layout.shape;
    let (yd, gd) = (crate::elementwise::dense::<F>(y), crate::elementwise::dense::<F>(g));
    let (ys, gs) = (yd.contiguous_slice::<F>().unwrap(), gd.contiguous_slice::<F>().unwrap());
    let (n, inner) = (shape[dim], shape[dim + 1..].iter().product::<usize>());
    let mut out = Storage::uninit::<F>(y.layout.numel());
    if inner == 1 {
        // Lines are rows: each chunk of whole rows in place.
        for_out_chunks(out.as_mut_slice::<F>(), crate::elementwise::rows_per_chunk(n) * n, 8, |start, o| {
            for (r, orow) in o.chunks_mut(n).enumerate() {
                let at = start + r * n..start + (r + 1) * n;
                dispatch_wide(
                    #[inline(always)]
                    || grad_line(&ys[at.clone()], &gs[at.clone()], orow, log),
                );
            }
        });
    } else {
        // Lines at stride `inner`: gathered per slab of `n * inner` into scratch lines.
        for_out_chunks(out.as_mut_slice::<F>(), n * inner, 8, |start, slab| {
            let (mut yl, mut gl, mut ol) = (vec![F::zero(); n], vec![F::zero(); n], vec![F::zero(); n]);
            for i in 0..inner {
                for k in 0..n {
                    (yl[k], gl[k]) = (ys[start + k * inner + i], gs[start + k * inner + i]);
                }
                dispatch_wide(
                    #[inline(always)]
                    || grad_line(&yl, &gl, &mut ol, log),
                );
                for (k, &v) in ol.iter().enumerate() {
                    slab[k * inner + i] = v;
                }
            }
        });
    }
    CpuArray::new(out, shape)
}
