//! Scaled dot-product attention, `softmax(scale · q kᵀ) v` with an optional causal mask,
//! and its gradient, fused per block of query rows: a block's scores and weights live in
//! a scratch of `BR x S` values (in L1/L2 for the usual lengths), never as an `L x S`
//! tensor, and a causal block multiplies only the keys its rows can see, which skips
//! 37.5% of the products at 128 positions (nearer half at longer ones). The weights are
//! recomputed in the backward rather than saved.
//!
//! Each matrix of the batch runs on one thread, its blocks in order, so the result does
//! not depend on the thread count. The products go to `gemm_into` (the gemm crate) on
//! one thread: sending the scores' products to this crate's AVX-512 kernel instead
//! measured 8% slower on the GPT's shapes. The row softmax and its gradient are
//! softmax's own line kernels.

use crate::array::CpuArray;
use crate::matmul::{gemm_into, split, GemmScalar};
use crate::parallel::for_out_chunks;
use crate::softmax::{grad_line, line};
use crate::storage::Storage;
use crate::unary::FloatMath;
use psionic_core::{DType, Error, Result};

/// Query rows per block: a causal block of 32 at 128 positions multiplies 62.5% of the
/// keys' products. 16 and 64 measured within 4% of it (GPT shapes, one thread).
const BR: usize = 32;

/// The sizes of one attention problem: `[L, S, E, Ev]` (queries, keys, the query/key
/// width and the value width) and the number of matrices in the batch.
struct Dims {
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
    batch: usize,
}

fn dims(q: &CpuArray, k: &CpuArray, v: &CpuArray) -> Dims {
    let r = q.shape().len();
    let (l, e) = (q.shape()[r - 2], q.shape()[r - 1]);
    let (s, ev) = (k.shape()[r - 2], v.shape()[r - 1]);
    Dims { l, s, e, ev, batch: q.shape()[..r - 2].iter().product() }
}

/// `q [..., L, E]`, `k [..., S, E]`, `v [..., S, Ev]` (one dtype, f32 or f64; one
/// leading shape; `L, S, E, Ev > 0`) -> `softmax(scale · q kᵀ) v`, `[..., L, Ev]`; with
/// `causal`, query `i` sees keys `0..=i` (upper-left aligned, PyTorch's `is_causal`).
pub fn attention(q: &CpuArray, k: &CpuArray, v: &CpuArray, scale: f64, causal: bool) -> Result<CpuArray> {
    match q.dtype() {
        DType::F32 => Ok(forward::<f32>(q, k, v, scale as f32, causal)),
        DType::F64 => Ok(forward::<f64>(q, k, v, scale, causal)),
        d => Err(Error::Unsupported {
            op: "scaled_dot_product_attention",
            dtype: d,
            why: "fused for f32 and f64".into(),
        }),
    }
}

/// The gradients of [`attention`] for the output gradient `g [..., L, Ev]`, packed per
/// matrix of the batch: `[..., L*E + S*E + S*Ev]`, each row `dq | dk | dv` row-major.
pub fn attention_grad(
    q: &CpuArray,
    k: &CpuArray,
    v: &CpuArray,
    g: &CpuArray,
    scale: f64,
    causal: bool,
) -> Result<CpuArray> {
    match q.dtype() {
        DType::F32 => Ok(backward::<f32>(q, k, v, g, scale as f32, causal)),
        DType::F64 => Ok(backward::<f64>(q, k, v, g, scale, causal)),
        d => Err(Error::Unsupported {
            op: "scaled_dot_product_attention_backward",
            dtype: d,
            why: "fused for f32 and f64".into(),
        }),
    }
}

/// Element type of the fused kernels.
trait Float: FloatMath + GemmScalar + Send + Sync + 'static {}
impl<F: FloatMath + GemmScalar + Send + Sync + 'static> Float for F {}

/// One operand: its storage from the matrix's start, and the strides of its rows and
/// columns. Negative strides (a flipped view) are made dense first.
struct Mats<'a, F> {
    data: &'a [F],
    offs: Vec<usize>,
    rs: usize,
    cs: usize,
}

impl<'a, F: Float> Mats<'a, F> {
    fn new(x: &'a CpuArray) -> Mats<'a, F> {
        assert!(x.layout.strides.iter().all(|&s| s >= 0), "attention operand with a negative stride");
        let o = split(x);
        Mats { data: x.storage.as_slice::<F>(), offs: o.batch_offs, rs: o.rs as usize, cs: o.cs as usize }
    }

    /// Matrix `b` from row `i0`, as `gemm_into` takes it.
    fn rows(&self, b: usize, i0: usize) -> (&'a [F], usize, usize) {
        (&self.data[self.offs[b] + i0 * self.rs..], self.rs, self.cs)
    }

    /// Matrix `b` transposed.
    fn t(&self, b: usize) -> (&'a [F], usize, usize) {
        (&self.data[self.offs[b]..], self.cs, self.rs)
    }
}

fn no_negative_strides(x: &CpuArray) -> std::borrow::Cow<'_, CpuArray> {
    match x.layout.strides.iter().all(|&s| s >= 0) {
        true => std::borrow::Cow::Borrowed(x),
        false => std::borrow::Cow::Owned(crate::with_dtype!(x.dtype(), T => crate::elementwise::contiguous::<T>(x))),
    }
}

/// Keys query `i` sees.
fn visible(i: usize, s: usize, causal: bool) -> usize {
    if causal {
        (i + 1).min(s)
    } else {
        s
    }
}

/// The softmax weights of queries `i0..i0 + br` over the first `kmax` keys of matrix
/// `b` into `p` (row stride `kmax`, zero past each row's visible keys), its scores made
/// in `s` on the way.
fn weights<F: Float>(
    (q, k): (&Mats<F>, &Mats<F>),
    b: usize,
    (i0, br, kmax, e): (usize, usize, usize, usize),
    (scale, causal): (F, bool),
    s: &mut [F],
    p: &mut [F],
) {
    gemm_into([br, kmax, e], (s, kmax, 1, false), q.rows(b, i0), k.t(b), 1);
    for r in 0..br {
        let n = visible(i0 + r, kmax, causal);
        let (srow, prow) = (&mut s[r * kmax..][..n], &mut p[r * kmax..(r + 1) * kmax]);
        for x in srow.iter_mut() {
            *x = *x * scale;
        }
        crate::simd::dispatch_wide(
            #[inline(always)]
            || line(&*srow, &mut prow[..n], false),
        );
        prow[n..].fill(<F as GemmScalar>::zero());
    }
}

fn forward<F: Float>(q: &CpuArray, k: &CpuArray, v: &CpuArray, scale: F, causal: bool) -> CpuArray {
    let (q, k, v) = (no_negative_strides(q), no_negative_strides(k), no_negative_strides(v));
    let Dims { l, s, e, ev, batch } = dims(&q, &k, &v);
    assert!(l > 0 && s > 0 && e > 0 && ev > 0, "attention on empty matrices");
    let (qo, ko, vo) = (Mats::<F>::new(&q), Mats::<F>::new(&k), Mats::<F>::new(&v));
    let mut out = Storage::uninit::<F>(batch * l * ev);
    for_out_chunks(out.as_mut_slice::<F>(), l * ev, 2 * s * (e + ev) / ev, |start, o| {
        let b = start / (l * ev);
        let mut sc = vec![<F as GemmScalar>::zero(); BR.min(l) * s];
        let mut p = vec![<F as GemmScalar>::zero(); BR.min(l) * s];
        for i0 in (0..l).step_by(BR) {
            let br = BR.min(l - i0);
            let kmax = if causal { (i0 + br).min(s) } else { s };
            weights((&qo, &ko), b, (i0, br, kmax, e), (scale, causal), &mut sc, &mut p);
            gemm_into([br, ev, kmax], (&mut o[i0 * ev..], ev, 1, false), (&p, kmax, 1), vo.rows(b, 0), 1);
        }
    });
    let mut shape = q.shape().to_vec();
    *shape.last_mut().expect("at least 2-d") = ev;
    CpuArray::new(out, &shape)
}

fn backward<F: Float>(q: &CpuArray, k: &CpuArray, v: &CpuArray, g: &CpuArray, scale: F, causal: bool) -> CpuArray {
    let (q, k, v, g) = (no_negative_strides(q), no_negative_strides(k), no_negative_strides(v), no_negative_strides(g));
    let Dims { l, s, e, ev, batch } = dims(&q, &k, &v);
    assert!(l > 0 && s > 0 && e > 0 && ev > 0, "attention on empty matrices");
    let (qo, ko, vo, go) = (Mats::<F>::new(&q), Mats::<F>::new(&k), Mats::<F>::new(&v), Mats::<F>::new(&g));
    let per = l * e + s * e + s * ev;
    let mut out = Storage::uninit::<F>(batch * per);
    for_out_chunks(out.as_mut_slice::<F>(), per, 4 * l * s * (e + ev) / per, |start, o| {
        let b = start / per;
        let (dq, rest) = o.split_at_mut(l * e);
        let (dk, dv) = rest.split_at_mut(s * e);
        dk.fill(<F as GemmScalar>::zero());
        dv.fill(<F as GemmScalar>::zero());
        let rows = BR.min(l) * s;
        let (mut sc, mut p, mut dp) = (
            vec![<F as GemmScalar>::zero(); rows],
            vec![<F as GemmScalar>::zero(); rows],
            vec![<F as GemmScalar>::zero(); rows],
        );
        for i0 in (0..l).step_by(BR) {
            let br = BR.min(l - i0);
            let kmax = if causal { (i0 + br).min(s) } else { s };
            weights((&qo, &ko), b, (i0, br, kmax, e), (scale, causal), &mut sc, &mut p);
            // dv += pᵀ g and dp = g vᵀ, over the keys the block sees.
            gemm_into([kmax, ev, br], (dv, ev, 1, true), (&p, 1, kmax), go.rows(b, i0), 1);
            gemm_into([br, kmax, ev], (&mut dp, kmax, 1, false), go.rows(b, i0), vo.t(b), 1);
            // The scores' gradient, scaled, in place of the scores: ds = scale · p (dp - Σ p dp).
            for r in 0..br {
                let n = visible(i0 + r, kmax, causal);
                let ds = &mut sc[r * kmax..(r + 1) * kmax];
                crate::simd::dispatch_wide(
                    #[inline(always)]
                    || grad_line(&p[r * kmax..][..n], &dp[r * kmax..][..n], &mut ds[..n], false),
                );
                for x in ds[..n].iter_mut() {
                    *x = *x * scale;
                }
                ds[n..].fill(<F as GemmScalar>::zero());
            }
            // dq = ds k and dk += dsᵀ q.
            gemm_into([br, e, kmax], (&mut dq[i0 * e..], e, 1, false), (&sc, kmax, 1), ko.rows(b, 0), 1);
            gemm_into([kmax, e, br], (dk, e, 1, true), (&sc, 1, kmax), qo.rows(b, i0), 1);
        }
    });
    let mut shape = q.shape().to_vec();
    shape.truncate(shape.len() - 2);
    shape.push(per);
    CpuArray::new(out, &shape)
}

#[cfg(test)]
mod tests;
