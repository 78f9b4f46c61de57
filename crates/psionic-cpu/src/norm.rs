//! layer_norm's forward, and its input gradient, in one pass per row: mean, biased
//! variance, then `(x - mean) * rsqrt(var + eps) * w + b`, with the row in L1
//! throughout. Composed from reductions and broadcast ops the forward takes six passes
//! over memory and the gradient eleven.
//!
//! Each step of the forward rounds as the composite does (the mean and variance are the
//! `Var` reduction's two passes, [`mean_and_squared_deviations`], `rsqrt` is `1 / sqrt`,
//! and the affine step is a product then a sum), so the fused kernel gives the same bits
//! as the ops it replaces. The gradient's row sums are the same blocked sums as the
//! composite's means, though its products may round in another order. Rows never mix,
//! so both give the same bits for any thread count.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::{contiguous, rows_per_chunk};
use crate::parallel::for_out_chunks;
use crate::reduce::{mean_and_squared_deviations, sum_slice};
use crate::simd::dispatch;
use crate::storage::Storage;
use num_traits::Float;
use psionic_core::{DType, Error, Result};

/// `x` normalised over its trailing dims, whose count of elements is `w.numel()`, scaled
/// by `w` and shifted by `b` (both of those trailing dims, any layout); f32 and f64.
pub fn layer_norm(x: &CpuArray, w: &CpuArray, b: &CpuArray, eps: f64) -> Result<CpuArray> {
    match x.dtype() {
        DType::F32 => Ok(rows::<f32>(x, w, b, eps as f32)),
        DType::F64 => Ok(rows::<f64>(x, w, b, eps)),
        d => Err(Error::Unsupported { op: "layer_norm", dtype: d, why: "the fused kernel has f32 and f64".into() }),
    }
}

fn rows<F: Float + Element + Send + Sync + 'static>(x: &CpuArray, w: &CpuArray, b: &CpuArray, eps: F) -> CpuArray {
    let n = w.numel();
    let copy = (!x.layout.is_contiguous()).then(|| contiguous::<F>(x));
    let src = copy.as_ref().unwrap_or(x).contiguous_slice::<F>().expect("contiguous");
    // The affine operands may be broadcast views (a constant one or zero): read them once.
    let (w, b) = (w.to_vec::<F>(), b.to_vec::<F>());
    let mut out = Storage::uninit::<F>(src.len());
    if n > 0 && !src.is_empty() {
        for_out_chunks(out.as_mut_slice::<F>(), rows_per_chunk(n) * n, 8, |start, o| {
            for (r, orow) in o.chunks_mut(n).enumerate() {
                let xrow = &src[start + r * n..][..n];
                dispatch(
                    #[inline(always)]
                    || row(xrow, &w, &b, eps, orow),
                );
            }
        });
    }
    CpuArray::new(out, x.shape())
}

/// One row; `out` holds the squared deviations on the way (no scratch).
#[inline(always)]
fn row<F: Float + Send + Sync + 'static>(x: &[F], w: &[F], b: &[F], eps: F, out: &mut [F]) {
    let n = F::from(x.len()).expect("row length as a float");
    let (mean, squares) = mean_and_squared_deviations(x, out);
    let rstd = F::one() / (squares / n + eps).sqrt();
    for (((o, &v), &wj), &bj) in out.iter_mut().zip(x).zip(w).zip(b) {
        *o = (v - mean) * rstd * wj + bj;
    }
}

/// The input gradient of layer_norm, through the row's mean and variance too: per row,
/// with `xhat = (x - mean) * rstd` and `gw = g * w`,
/// `dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))`. One pass per row with the row
/// in L1, where the composite takes eleven over memory; f32 and f64. `x` and `g` share a
/// shape whose trailing dims are `w`'s.
pub fn layer_norm_grad(x: &CpuArray, w: &CpuArray, g: &CpuArray, eps: f64) -> Result<CpuArray> {
    match x.dtype() {
        DType::F32 => Ok(grad_rows::<f32>(x, w, g, eps as f32)),
        DType::F64 => Ok(grad_rows::<f64>(x, w, g, eps)),
        d => Err(Error::Unsupported {
            op: "layer_norm_backward",
            dtype: d,
            why: "the fused kernel has f32 and f64".into(),
        }),
    }
}

fn grad_rows<F: Float + Element + Send + Sync + 'static>(x: &CpuArray, w: &CpuArray, g: &CpuArray, eps: F) -> CpuArray {
    let n = w.numel();
    let (x, g) = (crate::elementwise::dense::<F>(x), crate::elementwise::dense::<F>(g));
    let (xs, gs) = (x.contiguous_slice::<F>().expect("dense"), g.contiguous_slice::<F>().expect("dense"));
    let w = w.to_vec::<F>();
    let mut out = Storage::uninit::<F>(xs.len());
    if n > 0 && !xs.is_empty() {
        for_out_chunks(out.as_mut_slice::<F>(), rows_per_chunk(n) * n, 16, |start, o| {
            let mut t = vec![F::zero(); n];
            for (r, orow) in o.chunks_mut(n).enumerate() {
                let (xrow, grow) = (&xs[start + r * n..][..n], &gs[start + r * n..][..n]);
                dispatch(
                    #[inline(always)]
                    || grad_row(xrow, &w, grow, eps, &mut t, orow),
                );
            }
        });
    }
    CpuArray::new(out, x.shape())
}

/// One row of [`layer_norm_grad`]; `t` is scratch of the row's length (the squared
/// deviations, then `gw`), and `out` holds `gw * xhat` on the way.
#[inline(always)]
fn grad_row<F: Float + Send + Sync + 'static>(x: &[F], w: &[F], g: &[F], eps: F, t: &mut [F], out: &mut [F]) {
    let n = F::from(x.len()).expect("row length as a float");
    let (mean, squares) = mean_and_squared_deviations(x, t);
    let rstd = F::one() / (squares / n + eps).sqrt();
    for ((gw, &gj), &wj) in t.iter_mut().zip(g).zip(w) {
        *gw = gj * wj;
    }
    for ((o, &gw), &v) in out.iter_mut().zip(t.iter()).zip(x) {
        *o = gw * ((v - mean) * rstd);
    }
    let (m1, m2) = (sum_slice(t) / n, sum_slice(out) / n);
    for ((o, &gw), &v) in out.iter_mut().zip(t.iter()).zip(x) {
        *o = rstd * (gw - m1 - (v - mean) * rstd * m2);
    }
}
