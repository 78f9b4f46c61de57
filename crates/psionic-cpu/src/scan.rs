//! Inclusive scans along one dim (cumsum, cumprod, cummax, cummin, logcumsumexp).

use crate::array::CpuArray;
use crate::element::Element;
use crate::storage::Storage;
use num_traits::Float;
use psionic_core::ops::ScanOp;
use psionic_core::strided::OffsetIter;
use psionic_core::{DType, Error, Layout, Result};

/// Walks every line along `dim`, calling `f(input offsets, output offsets)`.
pub(crate) fn lines(x: &CpuArray, dim: usize, mut f: impl FnMut(&mut dyn Iterator<Item = usize>, usize, isize)) {
    let l = &x.layout;
    let out = Layout::contiguous(&l.shape);
    let keep: Vec<usize> = (0..l.ndim()).filter(|&d| d != dim).collect();
    let pick = |lay: &Layout| Layout {
        shape: keep.iter().map(|&d| lay.shape[d]).collect(),
        strides: keep.iter().map(|&d| lay.strides[d]).collect(),
        offset: lay.offset,
    };
    let (oi, oo) = (pick(l), pick(&out));
    let (n, si, so) = (l.shape[dim], l.strides[dim], out.strides[dim]);
    for (bi, bo) in OffsetIter::new(&oi, 0).zip(OffsetIter::new(&oo, 0)) {
        let mut it = (0..n).map(move |i| (bi as isize + i as isize * si) as usize);
        f(&mut it, bo, so);
    }
}

fn scan_with<T: Element, U: Element>(
    x: &CpuArray,
    dim: usize,
    init: impl Fn() -> (T, i64),
    step: impl Fn((T, i64), T, i64) -> (T, i64),
    emit: impl Fn((T, i64)) -> U,
) -> CpuArray {
    let src = x.storage.as_slice::<T>();
    let mut out = Storage::uninit::<U>(x.numel());
    let o = out.as_mut_slice::<U>();
    if x.layout.ndim() == 0 {
        o[0] = emit(step(init(), src[x.layout.offset], 0));
    } else {
        lines(x, dim, |it, base, so| {
            let mut acc = init();
            for (i, off) in it.enumerate() {
                acc = step(acc, src[off], i as i64);
                o[(base as isize + i as isize * so) as usize] = emit(acc);
            }
        });
    }
    CpuArray::new(out, &x.layout.shape)
}

pub(crate) fn is_nan<T: PartialOrd>(v: T) -> bool {
    #[allow(clippy::eq_op)]
    let r = v != v;
    r
}

/// `indices` selects cummax/cummin's index output instead of the values.
pub fn scan(op: ScanOp, x: &CpuArray, dim: usize, indices: bool) -> Result<CpuArray> {
    let dt = x.dtype();
    match op {
        ScanOp::CumSum | ScanOp::CumProd => {
            let prod = op == ScanOp::CumProd;
            match dt {
                DType::F32 => Ok(arith::<f32>(x, dim, prod)),
                DType::F64 => Ok(arith::<f64>(x, dim, prod)),
                DType::I64 => Ok(scan_with::<i64, i64>(
                    x,
                    dim,
                    || (if prod { 1 } else { 0 }, 0),
                    |(a, _), v, _| (if prod { a.wrapping_mul(v) } else { a.wrapping_add(v) }, 0),
                    |(a, _)| a,
                )),
                _ => Err(Error::Unsupported {
                    op: "cumsum",
                    dtype: dt,
                    why: "the graph casts to an accumulation dtype first".into(),
                }),
            }
        }
        ScanOp::CumMax | ScanOp::CumMin => {
            let is_max = op == ScanOp::CumMax;
            Ok(crate::with_dtype!(dt, T => {
                // PyTorch keeps the latest index among ties (>=), and NaN sticks once seen.
                let step = move |(a, ai): (T, i64), v: T, i: i64| {
                    if i == 0 || is_nan(v) || (!is_nan(a) && if is_max { v >= a } else { v <= a }) {
                        (v, i)
                    } else {
                        (a, ai)
                    }
                };
                if indices {
                    scan_with::<T, i64>(x, dim, || (T::default(), 0), step, |(_, i)| i)
                } else {
                    scan_with::<T, T>(x, dim, || (T::default(), 0), step, |(a, _)| a)
                }
            }))
        }
        ScanOp::LogCumSumExp => match dt {
            DType::F32 => Ok(logcumsumexp::<f32>(x, dim)),
            DType::F64 => Ok(logcumsumexp::<f64>(x, dim)),
            _ => Err(Error::Unsupported { op: "logcumsumexp", dtype: dt, why: "needs f32 or f64".into() }),
        },
    }
}

fn arith<F: Float + Element>(x: &CpuArray, dim: usize, prod: bool) -> CpuArray {
    scan_with::<F, F>(
        x,
        dim,
        || (if prod { F::one() } else { F::zero() }, 0),
        |(a, _), v, _| (if prod { a * v } else { a + v }, 0),
        |(a, _)| a,
    )
}

fn logcumsumexp<F: Float + Element>(x: &CpuArray, dim: usize) -> CpuArray {
    scan_with::<F, F>(
        x,
        dim,
        || (F::neg_infinity(), 0),
        |(a, _), v, _| {
            let m = a.max(v);
            if m == F::neg_infinity() || (m.is_infinite() && a == v) {
                (m, 0)
            } else {
                (m + ((a - m).exp() + (v - m).exp()).ln(), 0)
            }
        },
        |(a, _)| a,
    )
}
