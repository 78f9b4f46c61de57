//! Batch norm in training, given each channel's batch statistics: the forward applies
//! `scale = w / sqrt(var + eps)` and `shift = b - mean * scale` per channel (dim 1) in
//! one pass, and the backward's per-channel sums `Σ g` and `Σ g (x - mean)` read the
//! gradient and the input once. Composed from broadcast ops and reductions, the
//! backward takes some ten passes over memory per layer.
//!
//! The statistics come from one more kernel: per channel, the mean, then the squared
//! deviations from it, while the channel's planes are still in cache. The backward's
//! input gradient is one pass with per-channel coefficients.
//!
//! The sums accumulate each channel in one fixed order (batch index, then position; short
//! blocks in the element type, the rest in f64), whichever thread takes the channel: the
//! same bits for any thread count.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::dense;
use crate::parallel::{for_chunks, for_out_chunks};
use crate::storage::Storage;
use num_traits::Float;
use psionic_core::{DType, Error, Result};
use std::sync::Mutex;

/// `x` of shape `[n, c, ...]` seen as `n` batches of `c` channels of `inner` positions.
struct Planes {
    channels: usize,
    inner: usize,
}

impl Planes {
    fn of(x: &CpuArray) -> Planes {
        let s = x.shape();
        Planes { channels: s.get(1).copied().unwrap_or(1), inner: s.iter().skip(2).product() }
    }

    /// A per-channel value for each position of a batch's row (`[c * inner]`): how
    /// short planes read their coefficients, so rows vectorise across channels.
    fn spread<F: Copy>(&self, v: &[F]) -> Vec<F> {
        v.iter().flat_map(|&x| std::iter::repeat_n(x, self.inner)).collect()
    }
}

fn unsupported(op: &'static str, d: DType) -> Error {
    Error::Unsupported { op, dtype: d, why: "the fused kernel has f32 and f64".into() }
}

/// `(x - mean) / sqrt(var + eps) * w + b` per channel; `w`, `b`, `mean`, `var` of shape
/// `[c]` (any layout); f32 and f64. The per-channel scale and shift are computed in f64
/// and rounded once; each element is then a product and a sum, as PyTorch's CPU kernel.
pub fn batch_norm(
    x: &CpuArray,
    w: &CpuArray,
    b: &CpuArray,
    mean: &CpuArray,
    var: &CpuArray,
    eps: f64,
) -> Result<CpuArray> {
    match x.dtype() {
        DType::F32 => Ok(apply::<f32>(x, [w, b, mean, var], eps)),
        DType::F64 => Ok(apply::<f64>(x, [w, b, mean, var], eps)),
        d => Err(unsupported("batch_norm", d)),
    }
}

fn apply<F: Float + Element + Send + Sync + 'static>(x: &CpuArray, stats: [&CpuArray; 4], eps: f64) -> CpuArray {
    let [w, b, mean, var] = stats.map(|t| t.to_vec::<F>());
    let f = Element::to_f64;
    let (scale, shift): (Vec<F>, Vec<F>) = (0..w.len())
        .map(|c| {
            let scale = f(w[c]) / (f(var[c]) + eps).sqrt();
            (F::from_f64(scale), F::from_f64(f(b[c]) - f(mean[c]) * scale))
        })
        .unzip();
    let p = Planes::of(x);
    let src = dense::<F>(x);
    let src = src.contiguous_slice::<F>().expect("contiguous");
    let mut out = Storage::uninit::<F>(src.len());
    if p.inner < L {
        let (scale, shift) = (p.spread(&scale), p.spread(&shift));
        for_rows(
            out.as_mut_slice::<F>(),
            &p,
            #[inline(always)]
            |at, o| {
                for (((o, &v), &sc), &sh) in o.iter_mut().zip(&src[at..]).zip(&scale).zip(&shift) {
                    *o = sh + v * sc;
                }
            },
        );
        return CpuArray::new(out, x.shape());
    }
    for_planes(
        out.as_mut_slice::<F>(),
        &p,
        #[inline(always)]
        |at, c, o| {
            let (sc, sh) = (scale[c], shift[c]);
            for (o, &v) in o.iter_mut().zip(&src[at..]) {
                *o = sh + v * sc;
            }
        },
    );
    CpuArray::new(out, x.shape())
}

/// `(k + v * b) + u * a` with `a`, `b`, `k` per channel (dim 1, `[c]`, any layout) and
/// `u`, `v` of one shape: batch norm's input gradient in one pass, rounded as the two
/// `addcmul`s it replaces. f32 and f64.
pub fn channel_combine(u: &CpuArray, v: &CpuArray, a: &CpuArray, b: &CpuArray, k: &CpuArray) -> Result<CpuArray> {
    match u.dtype() {
        DType::F32 => Ok(combine::<f32>(u, v, [a, b, k])),
        DType::F64 => Ok(combine::<f64>(u, v, [a, b, k])),
        d => Err(unsupported("batch_norm_backward", d)),
    }
}

fn combine<F: Float + Element + Send + Sync + 'static>(u: &CpuArray, v: &CpuArray, coef: [&CpuArray; 3]) -> CpuArray {
    let [a, b, k] = coef.map(|t| t.to_vec::<F>());
    let p = Planes::of(u);
    let (ud, vd) = (dense::<F>(u), dense::<F>(v));
    let (us, vs) = (ud.contiguous_slice::<F>().expect("contiguous"), vd.contiguous_slice::<F>().expect("contiguous"));
    let mut out = Storage::uninit::<F>(us.len());
    if p.inner < L {
        let (a, b, k) = (p.spread(&a), p.spread(&b), p.spread(&k));
        for_rows(
            out.as_mut_slice::<F>(),
            &p,
            #[inline(always)]
            |at, o| {
                let coef = a.iter().zip(&b).zip(&k);
                for ((o, (&uv, &vv)), ((&a, &b), &k)) in o.iter_mut().zip(us[at..].iter().zip(&vs[at..])).zip(coef) {
                    *o = (k + vv * b) + uv * a;
                }
            },
        );
        return CpuArray::new(out, u.shape());
    }
    for_planes(
        out.as_mut_slice::<F>(),
        &p,
        #[inline(always)]
        |at, c, o| {
            let (a, b, k) = (a[c], b[c], k[c]);
            for ((o, &uv), &vv) in o.iter_mut().zip(&us[at..]).zip(&vs[at..]) {
                *o = (k + vv * b) + uv * a;
            }
        },
    );
    CpuArray::new(out, u.shape())
}

/// Runs `f(start, row)` over the batches' rows of `out` (`c * inner` elements each),
/// several rows per chunk, each chunk inside one [`crate::simd::dispatch`].
fn for_rows<F: Send>(out: &mut [F], p: &Planes, f: impl Fn(usize, &mut [F]) + Sync + Send) {
    let row = p.channels * p.inner;
    if out.is_empty() || row == 0 {
        return;
    }
    for_out_chunks(out, row * (1usize << 14).div_ceil(row), 2, |start, o| {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                for (k, r) in o.chunks_mut(row).enumerate() {
                    f(start + k * row, r);
                }
            },
        )
    });
}

/// Runs `f(start, channel, plane)` over the planes of `out` (laid out as `p`), whole
/// planes per chunk (several when they are short) so a chunk's channel changes only at
/// plane boundaries; in parallel past the grain size. A chunk's planes run inside one
/// [`crate::simd::dispatch`].
fn for_planes<F: Send>(out: &mut [F], p: &Planes, f: impl Fn(usize, usize, &mut [F]) + Sync + Send) {
    if out.is_empty() || p.inner == 0 {
        return;
    }
    let chunk = p.inner * (1usize << 14).div_ceil(p.inner);
    for_out_chunks(out, chunk, 2, |start, o| {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                let mut c = start / p.inner % p.channels;
                for (k, plane) in o.chunks_mut(p.inner).enumerate() {
                    f(start + k * p.inner, c, plane);
                    c = if c + 1 == p.channels { 0 } else { c + 1 };
                }
            },
        )
    });
}

/// Per channel of `x` (dim 1), over every other dim: `Σ g` in row 0 and
/// `Σ g (x - mean)` in row 1 of a `[2, c]` result. `g` has `x`'s shape and dtype; `mean`
/// is `[c]`. f32 and f64.
pub fn channel_sums(g: &CpuArray, x: &CpuArray, mean: &CpuArray) -> Result<CpuArray> {
    match x.dtype() {
        DType::F32 => Ok(sums::<f32>(g, x, mean)),
        DType::F64 => Ok(sums::<f64>(g, x, mean)),
        d => Err(unsupported("batch_norm_backward", d)),
    }
}

fn sums<F: Float + Element + Send + Sync + 'static>(g: &CpuArray, x: &CpuArray, mean: &CpuArray) -> CpuArray {
    let p = Planes::of(x);
    let (gd, xd) = (dense::<F>(g), dense::<F>(x));
    let (gs, xs) = (gd.contiguous_slice::<F>().expect("contiguous"), xd.contiguous_slice::<F>().expect("contiguous"));
    let mean: Vec<f64> = mean.to_vec::<F>().into_iter().map(Element::to_f64).collect();
    let totals = per_channel(&p, xs.len(), |c0, c1| p.accumulate(gs, xs, (c0, c1), |c| (0.0, mean[c])));
    rows::<F>(&totals)
}

/// Per channel of `x` (dim 1), over every other dim: the mean in row 0 and the biased
/// variance in row 1 of a `[2, c]` result; two passes (the mean, then the squared
/// deviations from it) in f64, a group of channels at a time so the second pass reads
/// them from cache. f32 and f64.
pub fn channel_moments(x: &CpuArray) -> Result<CpuArray> {
    match x.dtype() {
        DType::F32 => Ok(moments::<f32>(x)),
        DType::F64 => Ok(moments::<f64>(x)),
        d => Err(unsupported("batch_norm", d)),
    }
}

fn moments<F: Float + Element + Send + Sync + 'static>(x: &CpuArray) -> CpuArray {
    let p = Planes::of(x);
    let xd = dense::<F>(x);
    let xs = xd.contiguous_slice::<F>().expect("contiguous");
    let count = (xs.len() / p.channels.max(1)) as f64;
    let totals = per_channel(&p, xs.len(), |c0, c1| {
        let means: Vec<f64> = p.accumulate(xs, xs, (c0, c1), |_| (0.0, 0.0)).iter().map(|t| t.0 / count).collect();
        let dev = p.accumulate(xs, xs, (c0, c1), |c| (means[c - c0], means[c - c0]));
        means.iter().zip(dev).map(|(&m, d)| (m, d.1 / count)).collect()
    });
    rows::<F>(&totals)
}

impl Planes {
    /// Per channel `c` in `c0..c1`, `Σ (g - mg)` and `Σ (g - mg) (x - m)` over its planes
    /// with `(mg, m) = centre(c)` (rounded to `F`), batch by batch: one fixed order. A
    /// plane of [`L`] or more elements is summed by [`run_sums`]; shorter ones
    /// (`[batch, channels]` inputs) add each element's terms to a total per position.
    fn accumulate<F: Element + Float>(
        &self,
        g: &[F],
        x: &[F],
        (c0, c1): (usize, usize),
        centre: impl Fn(usize) -> (f64, f64),
    ) -> Vec<(f64, f64)> {
        let batches = x.len().checked_div(self.channels * self.inner).unwrap_or(0);
        let centres: Vec<(F, F)> = (c0..c1).map(centre).map(|(a, b)| (F::from_f64(a), F::from_f64(b))).collect();
        let width = (c1 - c0) * self.inner;
        if self.inner < L {
            // Short planes: one f64 total per position of the row slice, vectorised
            // across the row; each channel's positions added in order at the end.
            let (mut s, mut d) = (vec![0.0; width], vec![0.0; width]);
            let coef = self.spread(&centres);
            for n in 0..batches {
                let row = (n * self.channels + c0) * self.inner;
                let (gr, xr) = (&g[row..][..width], &x[row..][..width]);
                for ((((s, d), &(mg, m)), &gv), &xv) in s.iter_mut().zip(&mut d).zip(&coef).zip(gr).zip(xr) {
                    let gv = gv - mg;
                    *s += gv.to_f64();
                    *d += (gv * (xv - m)).to_f64();
                }
            }
            let fold = |v: &[f64]| v.chunks(self.inner).map(|c| c.iter().sum::<f64>()).collect::<Vec<_>>();
            return fold(&s).into_iter().zip(fold(&d)).collect();
        }
        let mut acc = vec![(0.0, 0.0); c1 - c0];
        for n in 0..batches {
            let row = (n * self.channels + c0) * self.inner;
            let (gr, xr) = (&g[row..][..width], &x[row..][..width]);
            for ((a, &(mg, m)), (gp, xp)) in
                acc.iter_mut().zip(&centres).zip(gr.chunks(self.inner).zip(xr.chunks(self.inner)))
            {
                let (s, d) = run_sums(gp, xp, mg, m);
                a.0 += s;
                a.1 += d;
            }
        }
        acc
    }
}

/// `f(c0, c1)`'s per-channel pairs for every group of channels, in channel order. The
/// groups have a fixed size (threads never change a channel's order); short planes go
/// several channels to a group so each task has work.
fn per_channel(p: &Planes, len: usize, f: impl Fn(usize, usize) -> Vec<(f64, f64)> + Sync + Send) -> Vec<(f64, f64)> {
    let totals = Mutex::new(vec![(0.0, 0.0); p.channels]);
    let group = (4096 / p.inner.max(1)).clamp(1, p.channels.max(1));
    for_chunks(p.channels, group, len.div_ceil(p.channels.max(1)) * 2, |c0, c1| {
        let v = f(c0, c1);
        totals.lock().unwrap()[c0..c1].copy_from_slice(&v);
    });
    totals.into_inner().unwrap()
}

/// Two rows of per-channel values, rounded to `F`: `[2, c]`.
fn rows<F: Element>(t: &[(f64, f64)]) -> CpuArray {
    let out: Vec<F> = t.iter().map(|v| F::from_f64(v.0)).chain(t.iter().map(|v| F::from_f64(v.1))).collect();
    CpuArray::from_vec(out, &[2, t.len()])
}

/// `Σ (g - mg)` and `Σ (g - mg) (x - m)` over one plane (`g - 0` is exact, so `mg = 0`
/// gives the plain sums). In blocks of [`B`] elements from the plane's start, element
/// `k` goes to lane `k % 8` and is summed in the element type (16 terms a lane for a
/// full block); each block's lanes are then added to f64 lanes, which are added in
/// order at the end. f32 on AVX2 takes the same steps in intrinsics
/// ([`run_sums_f32`]): LLVM's vectoriser leaves this loop's lanes scalar.
#[inline(always)]
fn run_sums<F: Element + Float>(g: &[F], x: &[F], mg: F, m: F) -> (f64, f64) {
    if let (Some(g32), Some(x32)) = (crate::element::as_f32(g), crate::element::as_f32(x)) {
        #[cfg(target_arch = "x86_64")]
        if g.len() >= B && std::arch::is_x86_feature_detected!("avx2") {
            let (mg, m) = (mg.to_f64() as f32, m.to_f64() as f32);
            // SAFETY: AVX2 is present (checked above).
            return unsafe { run_sums_f32(g32, x32, mg, m) };
        }
        let _ = (g32, x32);
    }
    lanes(g, x, (mg, m), ([0.0; L], [0.0; L]), 0)
}

const L: usize = 8;
/// Elements per block summed in the element type.
const B: usize = 16 * L;

/// The blocks from element `from` (a multiple of [`B`]) on, added to the f64 lanes
/// `acc`, then the lanes combined.
#[inline(always)]
fn lanes<F: Element + Float>(
    g: &[F],
    x: &[F],
    (mg, m): (F, F),
    mut acc: ([f64; L], [f64; L]),
    from: usize,
) -> (f64, f64) {
    let n = g.len().min(x.len());
    for start in (from..n).step_by(B) {
        let (mut s, mut d) = ([F::zero(); L], [F::zero(); L]);
        for k in start..(start + B).min(n) {
            let gv = g[k] - mg;
            s[k % L] = s[k % L] + gv;
            d[k % L] = d[k % L] + gv * (x[k] - m);
        }
        for l in 0..L {
            acc.0[l] += s[l].to_f64();
            acc.1[l] += d[l].to_f64();
        }
    }
    (acc.0.iter().sum(), acc.1.iter().sum())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_sums_f32(g: &[f32], x: &[f32], mg: f32, m: f32) -> (f64, f64) {
    use std::arch::x86_64::*;
    let blocks = g.len().min(x.len()) / B;
    let (mgv, mv) = (_mm256_set1_ps(mg), _mm256_set1_ps(m));
    let (mut s0, mut s1, mut d0, mut d1) =
        (_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd());
    for b in 0..blocks {
        let (mut s, mut d) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for k in (b * B..(b + 1) * B).step_by(L) {
            // SAFETY: k + 8 <= blocks * B, within both slices.
            let gv = _mm256_sub_ps(_mm256_loadu_ps(g.as_ptr().add(k)), mgv);
            let xv = _mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(k)), mv);
            s = _mm256_add_ps(s, gv);
            d = _mm256_add_ps(d, _mm256_mul_ps(gv, xv));
        }
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(s)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
        d0 = _mm256_add_pd(d0, _mm256_cvtps_pd(_mm256_castps256_ps128(d)));
        d1 = _mm256_add_pd(d1, _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1)));
    }
    let (mut s, mut d) = ([0.0; L], [0.0; L]);
    _mm256_storeu_pd(s.as_mut_ptr(), s0);
    _mm256_storeu_pd(s.as_mut_ptr().add(4), s1);
    _mm256_storeu_pd(d.as_mut_ptr(), d0);
    _mm256_storeu_pd(d.as_mut_ptr().add(4), d1);
    lanes(g, x, (mg, m), (s, d), blocks * B)
}
