//! Reductions over a set of dims.
//!
//! Every output element reduces its own run of inputs with the same serial algorithm
//! whatever the thread count; a single huge run is cut into fixed blocks of [`BLOCK`]
//! whose partials are combined pairwise in a fixed order. So sums are bit-identical for
//! any number of threads, and their error grows like log(n) rather than n.

use crate::array::CpuArray;
use crate::element::Element;
use crate::parallel::{for_out_chunks, MAX_CHUNKS};
use crate::reduce_columns::sum_columns;
use crate::scan::is_nan;
use crate::storage::Storage;
use num_traits::Float;
use psionic_core::ops::ReduceOp;
use psionic_core::strided::OffsetIter;
use psionic_core::{DType, Error, Layout, Result};

/// Elements per block of a long sum.
pub const BLOCK: usize = 4096;

/// Sum of one block in 32 interleaved partial sums (four 8-wide vectors, enough to keep
/// the adders busy) combined as a fixed tree. f32 on AVX2 takes the same steps in
/// intrinsics ([`crate::simd::sum_f32`]), because LLVM's vectoriser splits this loop badly.
#[inline(always)]
fn block_sum<A: Float + 'static>(s: &[A]) -> A {
    if let Some(t) = crate::element::as_f32(s).and_then(crate::simd::sum_f32) {
        return A::from(t).unwrap();
    }
    crate::simd::sum_lanes(s)
}

fn pairwise<A: Copy>(mut v: Vec<A>, add: impl Fn(A, A) -> A, zero: A) -> A {
    if v.is_empty() {
        return zero;
    }
    while v.len() > 1 {
        let mut next = Vec::with_capacity(v.len().div_ceil(2));
        for p in v.chunks(2) {
            next.push(if p.len() == 2 { add(p[0], p[1]) } else { p[0] });
        }
        v = next;
    }
    v[0]
}

/// Sum of a float slice: blocks (in parallel when long) combined pairwise.
pub fn sum_slice<A: Float + Send + Sync + 'static>(s: &[A]) -> A {
    if s.len() <= BLOCK {
        return block_sum(s);
    }
    let n_blocks = s.len().div_ceil(BLOCK);
    let mut partials = vec![A::zero(); n_blocks];
    for_out_chunks(&mut partials, n_blocks.div_ceil(MAX_CHUNKS), BLOCK, |first, o| {
        for (b, p) in (first..).zip(o) {
            *p = block_sum(&s[b * BLOCK..((b + 1) * BLOCK).min(s.len())]);
        }
    });
    pairwise(partials, |a, b| a + b, A::zero())
}

/// `l` seen as two layouts: over the `kept` dims (carrying the offset: where each output's
/// run starts) and over the reduced `dims` (offset 0: positions within a run).
pub(crate) fn split_layout(l: &Layout, kept: &[usize], dims: &[usize]) -> (Layout, Layout) {
    let pick = |ds: &[usize], offset| Layout {
        shape: ds.iter().map(|&d| l.shape[d]).collect(),
        strides: ds.iter().map(|&d| l.strides[d]).collect(),
        offset,
    };
    (pick(kept, l.offset), pick(dims, 0))
}

/// Reduces `x` over `dims` (sorted, distinct, already normalised), calling `f` on each
/// output's run of inputs (gathered into a contiguous slice when strided).
fn reduce_runs<T: Element, U: Element>(
    x: &CpuArray,
    dims: &[usize],
    work: usize,
    f: impl Fn(&[T]) -> U + Sync + Send,
) -> CpuArray {
    let l = &x.layout;
    let kept: Vec<usize> = (0..l.ndim()).filter(|d| !dims.contains(d)).collect();
    let (outer, inner) = split_layout(l, &kept, dims);
    let (k, r) = (outer.numel(), inner.numel());
    let unit = r <= 1 || {
        let rows = psionic_core::strided::Rows::<1>::from_layouts(&inner.shape, [&inner]);
        rows.n_rows() == 1 && rows.inner_strides()[0] == 1
    };
    // A strided run is gathered row by row (unit-stride rows copied whole): batch
    // norm's sums over [N, H, W] are N rows of H*W.
    let inner_rows = psionic_core::strided::Rows::<1>::from_layouts(&inner.shape, [&inner]);
    let (row_len, [row_stride]) = (inner_rows.row_len(), inner_rows.inner_strides());
    let src = x.storage.as_slice::<T>();
    let mut out = Storage::uninit::<U>(k);
    let per_chunk = crate::elementwise::rows_per_chunk(r).max(k.div_ceil(MAX_CHUNKS));
    for_out_chunks(out.as_mut_slice::<U>(), per_chunk, r.max(1) * work, |start, o| {
        let mut scratch = Vec::with_capacity(if unit { 0 } else { r });
        for (slot, base) in o.iter_mut().zip(OffsetIter::new(&outer, start)) {
            // An empty run reads nothing: its offsets may lie past an empty storage.
            *slot = if r == 0 {
                f(&[])
            } else if unit {
                f(&src[base..base + r])
            } else {
                scratch.clear();
                inner_rows.for_rows(0..inner_rows.n_rows(), |_, [io]| {
                    crate::elementwise::extend_row(&mut scratch, src, base + io, row_len, row_stride)
                });
                f(&scratch)
            };
        }
    });
    CpuArray::new(out, &outer.shape)
}

/// `out_dtype` is the accumulation dtype the graph chose: f32/f64/i64 for sums and
/// products (the input arrives already cast to it), bool for all/any, i64 for arg-reductions,
/// the input's dtype for max/min.
pub fn reduce(op: ReduceOp, x: &CpuArray, dims: &[usize]) -> Result<CpuArray> {
    let dt = x.dtype();
    match op {
        ReduceOp::Sum => match dt {
            DType::F32 => {
                Ok(sum_columns::<f32>(x, dims).unwrap_or_else(|| reduce_runs::<f32, f32>(x, dims, 1, sum_slice)))
            }
            DType::F64 => {
                Ok(sum_columns::<f64>(x, dims).unwrap_or_else(|| reduce_runs::<f64, f64>(x, dims, 1, sum_slice)))
            }
            DType::I64 => Ok(reduce_runs::<i64, i64>(x, dims, 1, |s| s.iter().fold(0i64, |a, &b| a.wrapping_add(b)))),
            _ => Err(unsupported("sum", dt)),
        },
        ReduceOp::Prod => match dt {
            DType::F32 => Ok(reduce_runs::<f32, f32>(x, dims, 1, |s| s.iter().fold(1.0, |a, &b| a * b))),
            DType::F64 => Ok(reduce_runs::<f64, f64>(x, dims, 1, |s| s.iter().fold(1.0, |a, &b| a * b))),
            DType::I64 => Ok(reduce_runs::<i64, i64>(x, dims, 1, |s| s.iter().fold(1i64, |a, &b| a.wrapping_mul(b)))),
            _ => Err(unsupported("prod", dt)),
        },
        ReduceOp::Max | ReduceOp::Min => {
            let is_max = op == ReduceOp::Max;
            if x.numel() == 0 {
                return Err(Error::invalid(
                    if is_max { "max" } else { "min" },
                    "Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.",
                ));
            }
            Ok(crate::with_dtype!(dt, T => reduce_runs::<T, T>(x, dims, 1, |s| extreme(s, is_max))))
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            let is_max = op == ReduceOp::ArgMax;
            Ok(crate::with_dtype!(dt, T => reduce_runs::<T, i64>(x, dims, 1, |s| arg_extreme(s, is_max))))
        }
        ReduceOp::All => {
            Ok(crate::with_dtype!(dt, T => reduce_runs::<T, bool>(x, dims, 1, |s| s.iter().all(|v| v.to_bool()))))
        }
        ReduceOp::Any => {
            Ok(crate::with_dtype!(dt, T => reduce_runs::<T, bool>(x, dims, 1, |s| s.iter().any(|v| v.to_bool()))))
        }
        ReduceOp::NormP(p) => match dt {
            DType::F32 => Ok(reduce_runs::<f32, f32>(x, dims, 4, |s| norm_p(s, p as f32))),
            DType::F64 => Ok(reduce_runs::<f64, f64>(x, dims, 4, |s| norm_p(s, p))),
            _ => Err(unsupported("norm", dt)),
        },
        ReduceOp::Var { correction } => match dt {
            DType::F32 => Ok(reduce_runs::<f32, f32>(x, dims, 3, |s| var(s, correction as f32))),
            DType::F64 => Ok(reduce_runs::<f64, f64>(x, dims, 3, |s| var(s, correction))),
            _ => Err(unsupported("var", dt)),
        },
    }
}

fn unsupported(op: &'static str, dtype: DType) -> Error {
    Error::Unsupported { op, dtype, why: "the graph casts to an accumulation dtype first".into() }
}

/// The max (or min) of `s`, or its first NaN: the first of equal extremes.
pub(crate) fn extreme<T: Element>(s: &[T], is_max: bool) -> T {
    let lanes = if is_max { lane_extreme(s, |a, b| a > b) } else { lane_extreme(s, |a, b| a < b) };
    lanes.unwrap_or_else(|| serial_extreme(s, is_max))
}

/// The first NaN of `s`, else the first of its equal extremes, one element at a time.
fn serial_extreme<T: Element>(s: &[T], is_max: bool) -> T {
    let mut best = s[0];
    for &v in s {
        if is_nan(v) {
            return v;
        }
        if (is_max && v > best) || (!is_max && v < best) {
            best = v;
        }
    }
    best
}

/// [`extreme`] in 16 lanes the vector unit runs side by side, then across them: the same
/// value unless the slice holds a NaN (the first one is the answer) or the extreme is
/// zero (whether `-0` or `+0` is the first of the equal zeros), where it answers `None`
/// for the serial scan. Any other extreme has one bit pattern, whichever lane found it.
/// A 4096-float row: ~9x faster than the serial scan (its NaN test stops LLVM's
/// vectoriser).
#[inline(always)]
fn lane_extreme<T: Element>(s: &[T], better: impl Fn(T, T) -> bool + Copy) -> Option<T> {
    const LANES: usize = 16;
    if s.len() < 4 * LANES {
        return None;
    }
    crate::simd::dispatch(
        #[inline(always)]
        || {
            let (mut m, mut nan) = ([s[0]; LANES], [false; LANES]);
            let chunks = s.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for l in 0..LANES {
                    let v = c[l];
                    // `v != v` only for a NaN.
                    #[allow(clippy::eq_op)]
                    let is_nan = v != v;
                    nan[l] |= is_nan;
                    m[l] = if better(v, m[l]) { v } else { m[l] };
                }
            }
            let mut best = m[0];
            for &v in m[1..].iter().chain(rest) {
                #[allow(clippy::eq_op)]
                let is_nan = v != v;
                nan[0] |= is_nan;
                if better(v, best) {
                    best = v;
                }
            }
            (!nan.contains(&true) && best != T::default()).then_some(best)
        },
    )
}

/// Index of the first extreme; a NaN counts as more extreme than anything.
fn arg_extreme<T: Element>(s: &[T], is_max: bool) -> i64 {
    let mut bi = 0usize;
    for (i, &v) in s.iter().enumerate() {
        if is_nan(v) {
            return i as i64;
        }
        if (is_max && v > s[bi]) || (!is_max && v < s[bi]) {
            bi = i;
        }
    }
    bi as i64
}

fn norm_p<F: Float + Send + Sync + 'static>(s: &[F], p: F) -> F {
    if p == F::infinity() {
        return s.iter().fold(F::zero(), |a, &b| if b.abs() > a || b.is_nan() { b.abs() } else { a });
    }
    if p == F::neg_infinity() {
        return s.iter().fold(F::infinity(), |a, &b| if b.abs() < a || b.is_nan() { b.abs() } else { a });
    }
    if p == F::zero() {
        return F::from(s.iter().filter(|v| **v != F::zero()).count()).unwrap();
    }
    let mapped: Vec<F> = if p == F::one() {
        s.iter().map(|v| v.abs()).collect()
    } else if p == F::from(2.0).unwrap() {
        s.iter().map(|&v| v * v).collect()
    } else {
        s.iter().map(|v| v.abs().powf(p)).collect()
    };
    sum_slice(&mapped)
}

/// The first steps of a two-pass variance: the mean of `s`, and the sum of its squared
/// deviations from it, which are written to `dev` (as long as `s`) on the way. Shared by
/// [`var`] and the fused layer_norm, whose bits must be the same.
#[inline(always)]
pub(crate) fn mean_and_squared_deviations<F: Float + Send + Sync + 'static>(s: &[F], dev: &mut [F]) -> (F, F) {
    let mean = sum_slice(s) / F::from(s.len()).unwrap();
    for (d, &v) in dev.iter_mut().zip(s) {
        *d = (v - mean) * (v - mean);
    }
    (mean, sum_slice(dev))
}

/// Two-pass variance: exact mean first, then squared deviations (no catastrophic
/// cancellation as in the one-pass formula).
fn var<F: Float + Send + Sync + 'static>(s: &[F], correction: F) -> F {
    let n = F::from(s.len()).unwrap();
    let mut dev = vec![F::zero(); s.len()];
    let (_, squares) = mean_and_squared_deviations(s, &mut dev);
    squares / (n - correction).max(F::zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 % 2003) as f32 / 1001.0) - 1.0).collect()
    }

    /// Row sums (many rows per chunk, rows longer than a block) and one long sum (many
    /// blocks per chunk): the same bits on 1, 2 and 3 threads, and within f32 summation
    /// error of f64 sums.
    #[test]
    fn sums_are_the_same_bits_on_any_thread_count() {
        for (rows, len) in [(4096, 40), (300, 9000), (1, 1_000_003), (70, 4096)] {
            let x = CpuArray::from_vec(values(rows * len), &[rows, len]);
            let runs: Vec<Vec<f32>> = [1, 2, 3]
                .map(|threads| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let s = pool.install(|| reduce(ReduceOp::Sum, &x, &[1]).unwrap());
                    s.storage.as_slice::<f32>().to_vec()
                })
                .to_vec();
            for r in &runs[1..] {
                assert!(r.iter().zip(&runs[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "[{rows}, {len}]");
            }
            let data = x.storage.as_slice::<f32>();
            for (i, &got) in runs[0].iter().enumerate() {
                let row = &data[i * len..(i + 1) * len];
                let want: f64 = row.iter().map(|&v| v as f64).sum();
                let scale: f64 = row.iter().map(|&v| (v as f64).abs()).sum();
                assert!((got as f64 - want).abs() <= 1e-6 * scale, "[{rows}, {len}] row {i}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn lane_extremes_are_the_serial_scans_bits() {
        let nan_a = f32::from_bits(0x7fc0_0001);
        let nan_b = f32::from_bits(0xffc0_0002);
        for len in [1, 63, 64, 100, 4096, 4099] {
            let base = values(len);
            let mut cases = vec![base.clone(), base.iter().map(|v| -v.abs()).collect(), vec![0.0; len]];
            // Zeros of both signs as the extreme, in both orders.
            let zeros: Vec<f32> = (0..len).map(|i| if i % 3 == 0 { -0.0 } else { -1.0 - i as f32 }).collect();
            cases.push(zeros.clone());
            cases.push(zeros.iter().enumerate().map(|(i, &v)| if i == len / 2 { 0.0 } else { v }).collect());
            cases.push(zeros.iter().map(|&v| -v).collect());
            // Two different NaNs: the first one wins; infinities.
            let mut with_nan = base.clone();
            with_nan[len - 1] = nan_b;
            with_nan[len / 3] = nan_a;
            cases.push(with_nan);
            let mut inf = base.clone();
            inf[len / 2] = f32::INFINITY;
            inf[0] = f32::NEG_INFINITY;
            cases.push(inf);
            for c in &cases {
                for is_max in [true, false] {
                    let (got, want) = (extreme(c, is_max), serial_extreme(c, is_max));
                    assert_eq!(got.to_bits(), want.to_bits(), "len {len}, max {is_max}: {got} vs {want}");
                    let c64: Vec<f64> = c.iter().map(|&v| v as f64).collect();
                    assert_eq!(extreme(&c64, is_max).to_bits(), serial_extreme(&c64, is_max).to_bits());
                }
            }
        }
        let ints: Vec<i32> = (0..500).map(|i| (i * 7919 % 1009) - 500).collect();
        assert_eq!(
            (extreme(&ints, true), extreme(&ints, false)),
            (serial_extreme(&ints, true), serial_extreme(&ints, false))
        );
    }
}
