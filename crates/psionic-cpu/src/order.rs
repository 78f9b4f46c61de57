//! Index-valued selections: sorting permutations, the mode's position, and binary search
//! into sorted sequences. Values are compared as their own type (never through f64, which
//! would merge large i64s); NaN orders above every number, as in PyTorch.

use crate::array::CpuArray;
use crate::element::Element;
use crate::scan::{is_nan, lines};
use crate::storage::Storage;
use psionic_core::ops::OrderOp;
use psionic_core::strided::OffsetIter;
use psionic_core::{Layout, Result};
use std::cmp::Ordering;

/// Total order with NaN largest (and NaNs equal to each other).
fn cmp<T: Element>(a: &T, b: &T) -> Ordering {
    match (is_nan(*a), is_nan(*b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// Runs `op` along `dim` of `x`, giving i64 indices (`Mode` keeps `dim` at size 1).
pub fn order(op: OrderOp, x: &CpuArray, dim: usize) -> Result<CpuArray> {
    Ok(crate::with_dtype!(x.dtype(), T => order_typed::<T>(op, x, dim)))
}

fn order_typed<T: Element>(op: OrderOp, x: &CpuArray, dim: usize) -> CpuArray {
    let src = x.storage.as_slice::<T>();
    let mut shape = x.shape().to_vec();
    if op == OrderOp::Mode && !shape.is_empty() {
        shape[dim] = 1;
    }
    let mut out = Storage::uninit::<i64>(psionic_core::numel(&shape));
    let o = out.as_mut_slice::<i64>();
    if x.layout.ndim() == 0 {
        o[0] = 0;
        return CpuArray::new(out, &shape);
    }
    let n = x.shape()[dim];
    let mut line: Vec<(T, i64)> = Vec::with_capacity(n);
    let mut out_line = 0usize;
    lines(x, dim, |it, base, so| {
        line.clear();
        line.extend(it.enumerate().map(|(i, off)| (src[off], i as i64)));
        // `lines` hands out bases in the input's contiguous layout. Mode's output has `dim`
        // of size 1, so its k-th line (row-major over the other dims) is element k.
        match op {
            OrderOp::Argsort { descending } => {
                if descending {
                    line.sort_by(|a, b| cmp(&b.0, &a.0));
                } else {
                    line.sort_by(|a, b| cmp(&a.0, &b.0));
                }
                for (k, &(_, i)) in line.iter().enumerate() {
                    o[(base as isize + k as isize * so) as usize] = i;
                }
            }
            OrderOp::Mode => {
                o[out_line] = mode(&mut line);
                out_line += 1;
            }
        }
    });
    CpuArray::new(out, &shape)
}

/// Position of the most frequent value of `line` (the smallest such value, its last
/// occurrence); an empty line gives 0.
fn mode<T: Element>(line: &mut [(T, i64)]) -> i64 {
    line.sort_by(|a, b| cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let (mut best, mut best_len, mut start) = (0i64, 0usize, 0usize);
    for k in 0..line.len() {
        let run_ends = k + 1 == line.len() || cmp(&line[k + 1].0, &line[k].0) != Ordering::Equal;
        if run_ends {
            if k + 1 - start > best_len {
                best_len = k + 1 - start;
                best = line[k].1;
            }
            start = k + 1;
        }
    }
    best
}

/// For each value, the number of entries of its sorted sequence that are `< v` (left)
/// or `<= v` (right). `seq` is 1-d, or has the values' leading dims and its own last dim.
pub fn searchsorted(seq: &CpuArray, values: &CpuArray, right: bool) -> Result<CpuArray> {
    Ok(crate::with_dtype!(seq.dtype(), T => searchsorted_typed::<T>(seq, values, right)))
}

fn searchsorted_typed<T: Element>(seq: &CpuArray, values: &CpuArray, right: bool) -> CpuArray {
    let (s, v) = (seq.storage.as_slice::<T>(), values.storage.as_slice::<T>());
    let n = *seq.shape().last().unwrap_or(&1);
    let stride = *seq.layout.strides.last().unwrap_or(&0);
    let inner = *values.shape().last().unwrap_or(&1);
    let shared = seq.layout.ndim() <= 1;
    // Row starts of `seq`: one row for a 1-d sequence, else one per values row.
    let rows = Layout {
        shape: seq.shape()[..seq.layout.ndim().saturating_sub(1)].into(),
        strides: seq.layout.strides[..seq.layout.ndim().saturating_sub(1)].into(),
        offset: seq.layout.offset,
    };
    let mut row_starts = OffsetIter::new(&rows, 0);
    let mut out = Storage::uninit::<i64>(values.numel());
    let o = out.as_mut_slice::<i64>();
    let mut row = seq.layout.offset;
    for (k, off) in OffsetIter::new(&values.layout, 0).enumerate() {
        if !shared && k % inner.max(1) == 0 {
            row = row_starts.next().unwrap_or(seq.layout.offset);
        }
        let x = v[off];
        let at = |j: usize| &s[(row as isize + j as isize * stride) as usize];
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let c = cmp(at(mid), &x);
            if c == Ordering::Less || (right && c == Ordering::Equal) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        o[k] = lo as i64;
    }
    CpuArray::new(out, values.shape())
}
