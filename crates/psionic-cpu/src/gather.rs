//! Gather and scatter along one dim: the index-driven reads and writes that every
//! indexing op (index_select, take, advanced indexing, index_add, put, ...) lowers to.
//!
//! Both walk the index tensor's positions. At position `p` the index names a coordinate
//! along `dim`; the other coordinates of `p` are used as they are, so the data operand is
//! read (or written) through a layout of the index's shape whose `dim` stride is zero
//! plus `index * stride[dim]`. Strided and broadcast (stride-0) operands are read in
//! place.

use crate::array::CpuArray;
use crate::element::Element;
use crate::storage::Storage;
use psionic_core::ops::ScatterReduce;
use psionic_core::strided::Rows;
use psionic_core::{Error, Layout, Result};

/// `layout`'s strides and offset seen over `shape` (a prefix box of the layout's own
/// shape), with `dim` pinned at coordinate 0. A 0-d layout acts as shape `[1]`.
fn pinned(layout: &Layout, shape: &[usize], dim: usize) -> (Layout, isize) {
    let mut strides = if layout.ndim() == 0 { vec![0] } else { layout.strides.clone() };
    strides.truncate(shape.len().max(1));
    let step = strides.get(dim).copied().unwrap_or(0);
    if let Some(s) = strides.get_mut(dim) {
        *s = 0;
    }
    strides.truncate(shape.len());
    (Layout { shape: shape.to_vec(), strides, offset: layout.offset }, step)
}

/// Refuses an index holding a position outside `0..size` (before anything is written).
fn check_indices(op: &'static str, index: &CpuArray, size: usize) -> Result<()> {
    let idx = index.storage.as_slice::<i64>();
    let mut bad = None;
    psionic_core::strided::for_each_offset(&index.layout, |o| {
        if bad.is_none() && (idx[o] < 0 || idx[o] as usize >= size) {
            bad = Some(idx[o]);
        }
    });
    match bad {
        Some(i) => Err(Error::invalid(op, format!("index {i} is out of bounds for dimension with size {size}"))),
        None => Ok(()),
    }
}

/// `out[p] = x[p with p[dim] = index[p]]`; `out` has the index's shape.
pub fn gather(x: &CpuArray, index: &CpuArray, dim: usize) -> Result<CpuArray> {
    crate::with_dtype!(x.dtype(), T => gather_typed::<T>(x, index, dim))
}

fn gather_typed<T: Element>(x: &CpuArray, index: &CpuArray, dim: usize) -> Result<CpuArray> {
    let shape = index.shape().to_vec();
    if index.numel() == 0 {
        return Ok(CpuArray::new(Storage::uninit::<T>(0), &shape));
    }
    check_indices("gather", index, if x.layout.ndim() == 0 { 1 } else { x.shape()[dim] })?;
    let (xl, step) = pinned(&x.layout, &shape, dim);
    let (src, idx) = (x.storage.as_slice::<T>(), index.storage.as_slice::<i64>());
    let mut out = Storage::uninit::<T>(index.numel());
    let o = out.as_mut_slice::<T>();
    let rows = Rows::<2>::from_layouts(&shape, [&index.layout, &xl]);
    let (len, [si, sx]) = (rows.row_len(), rows.inner_strides());
    rows.for_rows(0..rows.n_rows(), |r, [oi, ox]| {
        for k in 0..len {
            let i = idx[(oi as isize + k as isize * si) as usize] as isize;
            o[r * len + k] = src[(ox as isize + k as isize * sx + i * step) as usize];
        }
    });
    Ok(CpuArray::new(out, &shape))
}

/// A copy of `base` with `src[p]` combined into `base[p with p[dim] = index[p]]` for every
/// position `p` of the index (whose shape fits inside both `base`'s and `src`'s outside
/// `dim`). Without `include_self`, a target that receives values starts from the first of
/// them instead of its own value. Positions are visited in row-major order, so the last
/// duplicate wins for `Assign` and sums are formed in a fixed order.
pub fn scatter(
    base: &CpuArray,
    index: &CpuArray,
    src: &CpuArray,
    dim: usize,
    reduce: ScatterReduce,
    include_self: bool,
) -> Result<CpuArray> {
    crate::with_dtype!(base.dtype(), T => scatter_typed::<T>(base, index, src, dim, reduce, include_self))
}

/// One step of a reduction, in f64 for floats (exact for the four basic operations
/// before the final rounding to `T`) and in wrapping i64 for integers and bools.
fn combine<T: Element>(reduce: ScatterReduce, a: T, b: T) -> T {
    use ScatterReduce::*;
    let is_nan = crate::scan::is_nan::<T>;
    match reduce {
        Assign => b,
        Amax | Amin if is_nan(a) => a,
        Amax | Amin if is_nan(b) => b,
        Amax => {
            if b > a {
                b
            } else {
                a
            }
        }
        Amin => {
            if b < a {
                b
            } else {
                a
            }
        }
        Sum | Mean | Prod if T::DTYPE.is_float() => {
            let (x, y) = (a.to_f64(), b.to_f64());
            T::from_f64(if reduce == Prod { x * y } else { x + y })
        }
        _ if T::DTYPE == psionic_core::DType::Bool => {
            T::from_bool(if reduce == Prod { a.to_bool() && b.to_bool() } else { a.to_bool() || b.to_bool() })
        }
        _ => {
            let (x, y) = (a.to_i64(), b.to_i64());
            T::from_i64(if reduce == Prod { x.wrapping_mul(y) } else { x.wrapping_add(y) })
        }
    }
}

fn scatter_typed<T: Element>(
    base: &CpuArray,
    index: &CpuArray,
    src: &CpuArray,
    dim: usize,
    reduce: ScatterReduce,
    include_self: bool,
) -> Result<CpuArray> {
    check_indices("scatter", index, if base.layout.ndim() == 0 { 1 } else { base.shape()[dim] })?;
    let mut out = crate::elementwise::contiguous::<T>(base);
    if index.numel() == 0 {
        return Ok(out);
    }
    let shape = index.shape().to_vec();
    let (ol, step) = pinned(&out.layout, &shape, dim);
    let sl =
        Layout { shape: shape.clone(), strides: src.layout.strides[..shape.len()].to_vec(), offset: src.layout.offset };
    let storage = std::sync::Arc::get_mut(&mut out.storage).expect("a fresh copy has one owner");
    let dst = storage.as_mut_slice::<T>();
    let (vals, idx) = (src.storage.as_slice::<T>(), index.storage.as_slice::<i64>());
    // How many values each target combined (its own included); only means and
    // `include_self = false` need it.
    let counting = reduce == ScatterReduce::Mean || !include_self;
    let mut count = if counting { vec![u32::from(include_self); dst.len()] } else { vec![] };
    let rows = Rows::<3>::from_layouts(&shape, [&index.layout, &sl, &ol]);
    let (len, [si, ss, so]) = (rows.row_len(), rows.inner_strides());
    rows.for_rows(0..rows.n_rows(), |_, [oi, os, oo]| {
        for k in 0..len {
            let k = k as isize;
            let i = idx[(oi as isize + k * si) as usize] as isize;
            let t = (oo as isize + k * so + i * step) as usize;
            let v = vals[(os as isize + k * ss) as usize];
            dst[t] = if counting && count[t] == 0 { v } else { combine(reduce, dst[t], v) };
            if counting {
                count[t] += 1;
            }
        }
    });
    if reduce == ScatterReduce::Mean {
        for (d, &c) in dst.iter_mut().zip(&count) {
            if c > 1 {
                *d = if T::DTYPE.is_float() {
                    T::from_f64(d.to_f64() / c as f64)
                } else {
                    T::from_i64(d.to_i64().div_euclid(c as i64))
                };
            }
        }
    }
    Ok(out)
}
