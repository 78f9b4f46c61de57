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
use crate::parallel::for_out_chunks;
use crate::storage::Storage;
use psionic_core::ops::ScatterReduce;
use psionic_core::strided::Rows;
use psionic_core::{Error, Layout, Result};

/// `layout`'s strides and offset seen over `shape` (a prefix box of the layout's own
/// shape), with `dim` pinned at coordinate 0. A 0-d layout acts as shape `[1]`.
fn pinned(layout: &Layout, shape: &[usize], dim: usize) -> (Layout, isize) {
    let mut strides = if layout.ndim() == 0 { psionic_core::smallvec![0] } else { layout.strides.clone() };
    strides.truncate(shape.len().max(1));
    let step = strides.get(dim).copied().unwrap_or(0);
    if let Some(s) = strides.get_mut(dim) {
        *s = 0;
    }
    strides.truncate(shape.len());
    (Layout { shape: shape.into(), strides, offset: layout.offset }, step)
}

/// Refuses an index holding a position outside `0..size` (before anything is written).
fn check_indices(op: &'static str, index: &CpuArray, size: usize) -> Result<()> {
    if index.numel() == 0 {
        return Ok(());
    }
    let idx = index.storage.as_slice::<i64>();
    // Broadcast dims (stride 0, as index_select's expanded vector has) repeat the same
    // positions: each is checked once.
    let kept: Vec<usize> = (0..index.layout.ndim()).filter(|&d| index.layout.strides[d] != 0).collect();
    let (layout, _) = crate::reduce::split_layout(&index.layout, &kept, &[]);
    let mut bad = None;
    if layout.is_contiguous() {
        // One pass over the slice (vectorised), and the walk below only to name the culprit.
        let run = &idx[layout.offset..][..layout.numel()];
        if !run.iter().fold(false, |bad, &i| bad | (i as u64 >= size as u64)) {
            return Ok(());
        }
    }
    psionic_core::strided::for_each_offset(&layout, |o| {
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
    let rows = Rows::<2>::from_layouts(&shape, [&index.layout, &xl]);
    let (len, [si, sx]) = (rows.row_len(), rows.inner_strides());
    // Each output element is read from one place: whole rows in parallel chunks.
    let chunk = crate::elementwise::rows_per_chunk(len) * len;
    for_out_chunks(out.as_mut_slice::<T>(), chunk, 2, |start, o| {
        rows.for_rows(start / len..(start + o.len()) / len, |r, [oi, ox]| {
            let o = &mut o[r * len - start..][..len];
            if si == 0 && sx == 1 {
                // One index for the whole row (index_select, embedding): a row copy.
                let at = (ox as isize + idx[oi] as isize * step) as usize;
                o.copy_from_slice(&src[at..at + len]);
                return;
            }
            for (k, v) in o.iter_mut().enumerate() {
                let i = idx[(oi as isize + k as isize * si) as usize] as isize;
                *v = src[(ox as isize + k as isize * sx + i * step) as usize];
            }
        });
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

/// What one scatter combines where: shared by the blocks it is cut into.
struct Run<'a, T> {
    reduce: ScatterReduce,
    counting: bool,
    /// The output's stride along the scattered dim.
    step: isize,
    vals: &'a [T],
    idx: &'a [i64],
    /// `(value, block)`: the output starts as `value` everywhere (a broadcast base, such as
    /// a gradient's zeros) and each block of `block` elements is filled when the walk
    /// first reaches it, so it is still in L1 when its values are combined in.
    fill: Option<(T, usize)>,
}

impl<T: Element> Run<'_, T> {
    /// Combines every position of `shape` (index, source and pinned output layouts) into
    /// `dst`, in row-major order.
    fn block(&self, dst: &mut [T], count: &mut [u32], shape: &[usize], layouts: [&Layout; 3]) {
        // The common cases get a loop of their own, free of the per-element choice of
        // reduction (a gather's gradient is a float sum into zeros); the float sum is
        // `combine`'s own (in f64, rounded to `T`), so the bits are the same.
        let float = T::DTYPE.is_float();
        // Both also take whole runs (one index for a row of contiguous targets and values,
        // as index_add and an embedding's gradient have) in a loop the compiler vectorises.
        let sum = |d: T, v: T| T::from_f64(d.to_f64() + v.to_f64());
        match (self.reduce, self.counting) {
            (ScatterReduce::Assign, false) => {
                self.walk(dst, shape, layouts, |d, t, v| d[t] = v, Some(|d: &mut [T], v: &[T]| d.copy_from_slice(v)))
            }
            (ScatterReduce::Sum, false) if float => self.walk(
                dst,
                shape,
                layouts,
                |d, t, v| d[t] = sum(d[t], v),
                Some(|d: &mut [T], v: &[T]| d.iter_mut().zip(v).for_each(|(d, &v)| *d = sum(*d, v))),
            ),
            _ => {
                let put = |d: &mut [T], t: usize, v: T| {
                    d[t] = if self.counting && count[t] == 0 { v } else { combine(self.reduce, d[t], v) };
                    if self.counting {
                        count[t] += 1;
                    }
                };
                self.walk(dst, shape, layouts, put, None::<fn(&mut [T], &[T])>)
            }
        }
    }

    /// Calls `put(dst, target, value)` for every position of `shape`, in row-major order
    /// (filling each block first when the output starts as one value); a row whose
    /// positions share one index and whose targets and values are contiguous goes to
    /// `run(targets, values)` instead, where there is one.
    #[inline(always)]
    fn walk(
        &self,
        dst: &mut [T],
        shape: &[usize],
        layouts: [&Layout; 3],
        mut put: impl FnMut(&mut [T], usize, T),
        mut run: Option<impl FnMut(&mut [T], &[T])>,
    ) {
        let rows = Rows::<3>::from_layouts(shape, layouts);
        let (len, [si, ss, so]) = (rows.row_len(), rows.inner_strides());
        // Positions of one leading coordinate are consecutive in row-major order, so a
        // block is never reached again once the walk has left it.
        let mut filled = None;
        let mut enter = |dst: &mut [T], at: usize| {
            if let Some((v, size)) = self.fill {
                let b0 = at / size * size;
                if filled != Some(b0) {
                    dst[b0..b0 + size].fill(v);
                    filled = Some(b0);
                }
            }
        };
        rows.for_rows(0..rows.n_rows(), |_, [oi, os, oo]| {
            // A row may cross blocks (merged dims: an index one wide along `dim`, as a loss
            // gathering one class per row has): then each position checks its own.
            let last = (oo as isize + (len as isize - 1) * so) as usize;
            let crosses = self.fill.is_some_and(|(_, size)| last / size != oo / size);
            if !crosses {
                enter(dst, oo);
                if let (Some(run), 0, 1, 1) = (run.as_mut(), si, ss, so) {
                    let at = (oo as isize + self.idx[oi] as isize * self.step) as usize;
                    run(&mut dst[at..at + len], &self.vals[os..os + len]);
                    return;
                }
            }
            for k in 0..len as isize {
                let at = oo as isize + k * so;
                if crosses {
                    enter(dst, at as usize);
                }
                let i = self.idx[(oi as isize + k * si) as usize] as isize;
                put(dst, (at + i * self.step) as usize, self.vals[(os as isize + k * ss) as usize]);
            }
        });
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
    let shape = index.shape().to_vec();
    // A base that is one value broadcast, over an output whose every block (leading
    // coordinate) the index reaches, is filled block by block during the walk instead.
    let prefill = base.layout.ndim() > 0
        && index.numel() > 0
        && base.layout.strides.iter().all(|&s| s == 0)
        && shape[..dim] == base.shape()[..dim];
    let mut out = match prefill {
        true => CpuArray::new(Storage::uninit::<T>(base.numel()), base.shape()),
        false => crate::elementwise::contiguous::<T>(base),
    };
    if index.numel() == 0 {
        return Ok(out);
    }
    let (ol, step) = pinned(&out.layout, &shape, dim);
    let sl = Layout {
        shape: shape.clone().into(),
        strides: src.layout.strides[..shape.len()].into(),
        offset: src.layout.offset,
    };
    let storage = std::sync::Arc::get_mut(&mut out.storage).expect("a fresh copy has one owner");
    let dst = storage.as_mut_slice::<T>();
    let (vals, idx) = (src.storage.as_slice::<T>(), index.storage.as_slice::<i64>());
    // How many values each target combined (its own included); only means and
    // `include_self = false` need it.
    let counting = reduce == ScatterReduce::Mean || !include_self;
    let mut count = if counting { vec![u32::from(include_self); dst.len()] } else { vec![] };
    let block: usize = out.layout.shape[dim..].iter().product();
    let fill = prefill.then(|| (base.storage.as_slice::<T>()[base.layout.offset], block));
    let run = Run { reduce, counting, step, vals, idx, fill };
    // Positions that differ before `dim` write disjoint blocks of the (contiguous) output:
    // one block of `out[c, ...]` per leading coordinate `c`, in parallel, each visited in
    // the order of the whole, so sums do not depend on the thread count. (Blocks cost a
    // few allocations each: one thread takes the whole in one walk.)
    let lead: usize = shape[..dim].iter().product();
    let serial = rayon::current_num_threads() == 1 || index.numel() < crate::parallel::GRAIN;
    if dim == 0 || lead < 2 || block == 0 || serial {
        run.block(dst, &mut count, &shape, [&index.layout, &sl, &ol]);
    } else {
        use rayon::prelude::*;
        let inner = &shape[dim..];
        let at = |l: &Layout, c: &[usize], base: isize| Layout {
            shape: inner.into(),
            strides: l.strides[dim..].into(),
            offset: (base + c.iter().zip(&l.strides).map(|(&i, &st)| i as isize * st).sum::<isize>()) as usize,
        };
        // The leading coordinates of the index inside the output's (the index's shape is a
        // box inside it): the output block of each.
        let out_lead = &out.layout.shape[..dim];
        let mut dst_blocks: Vec<Option<&mut [T]>> = dst.chunks_mut(block).map(Some).collect();
        // (No counts at all unless counting.)
        let mut count_blocks: Vec<Option<&mut [u32]>> = count.chunks_mut(block).map(Some).collect();
        let jobs: Vec<_> = (0..lead)
            .map(|flat| {
                let mut c = vec![0; dim];
                let mut rem = flat;
                for d in (0..dim).rev() {
                    (c[d], rem) = (rem % shape[d], rem / shape[d]);
                }
                let o = c.iter().zip(out_lead).fold(0, |acc, (&i, &n)| acc * n + i);
                let cnt = if counting { count_blocks[o].take().unwrap() } else { &mut [][..] };
                (c, dst_blocks[o].take().expect("one block per leading coordinate"), cnt)
            })
            .collect();
        jobs.into_par_iter().for_each(|(c, d, cnt)| {
            let (il, sl, ol) =
                (at(&index.layout, &c, index.layout.offset as isize), at(&sl, &c, sl.offset as isize), at(&ol, &[], 0));
            run.block(d, cnt, inner, [&il, &sl, &ol]);
        });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Index, source and base sizes with a leading box of the index (3 x 4) inside the
    /// base's (3 x 5), a source wider than the index, and enough positions to run the
    /// leading blocks in parallel.
    fn operands() -> (CpuArray, CpuArray, CpuArray, [usize; 4], [usize; 4], [usize; 4]) {
        let (ish, ssh, bsh) = ([3, 4, 50, 60], [3, 4, 50, 61], [3, 5, 40, 60]);
        let n = |s: &[usize]| s.iter().product::<usize>();
        let idx: Vec<i64> = (0..n(&ish)).map(|i| ((i * 7919 + i / 13) % 40) as i64).collect();
        let src: Vec<f32> = (0..n(&ssh)).map(|i| ((i * 104729) % 1999) as f32 / 97.0 - 10.0).collect();
        let base: Vec<f32> = (0..n(&bsh)).map(|i| ((i * 31) % 101) as f32 / 7.0).collect();
        let a = |v: Vec<f32>, s: &[usize]| CpuArray::from_vec(v, s);
        (CpuArray::from_vec(idx, &ish), a(src, &ssh), a(base, &bsh), ish, ssh, bsh)
    }

    fn flat(c: [usize; 4], s: [usize; 4]) -> usize {
        ((c[0] * s[1] + c[1]) * s[2] + c[2]) * s[3] + c[3]
    }

    /// Every index position in row-major order, as the definition reads.
    fn positions(s: [usize; 4]) -> impl Iterator<Item = [usize; 4]> {
        (0..s.iter().product::<usize>()).map(move |mut r| {
            let mut c = [0; 4];
            for d in (0..4).rev() {
                (c[d], r) = (r % s[d], r / s[d]);
            }
            c
        })
    }

    #[test]
    fn blocked_scatter_matches_the_definition() {
        let (index, src, base, ish, ssh, bsh) = operands();
        let (iv, sv, bv) = (index.to_vec::<i64>(), src.to_vec::<f32>(), base.to_vec::<f32>());
        for (reduce, include_self) in [
            (ScatterReduce::Sum, true),
            (ScatterReduce::Assign, true),
            (ScatterReduce::Mean, true),
            (ScatterReduce::Amax, false),
        ] {
            let mut want = bv.clone();
            let mut count = vec![u32::from(include_self); want.len()];
            for p in positions(ish) {
                let t = flat([p[0], p[1], iv[flat(p, ish)] as usize, p[3]], bsh);
                let v = sv[flat(p, ssh)];
                want[t] = if count[t] == 0 { v } else { combine(reduce, want[t], v) };
                count[t] += 1;
            }
            if reduce == ScatterReduce::Mean {
                for (w, &c) in want.iter_mut().zip(&count) {
                    if c > 1 {
                        *w = (*w as f64 / c as f64) as f32;
                    }
                }
            }
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| scatter(&base, &index, &src, 2, reduce, include_self).unwrap());
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got.to_vec::<f32>()), bits(&want), "{reduce:?}, {threads} threads");
            }
        }
    }

    #[test]
    fn a_broadcast_base_filled_block_by_block_matches_a_filled_one() {
        let (index, src, ..) = operands();
        // The index ([3, 4, 50, 60], values below 40) reaches every leading coordinate of
        // these bases: the walk fills them.
        for (dim, bsh) in [(2, [3, 4, 40, 60]), (3, [3, 4, 50, 60])] {
            let one = CpuArray::from_vec(vec![0.75f32], &[1, 1, 1, 1]);
            let broadcast =
                one.with_layout(Layout { shape: bsh[..].into(), strides: psionic_core::smallvec![0; 4], offset: 0 });
            let filled = CpuArray::from_vec(vec![0.75f32; bsh.iter().product()], &bsh);
            for (reduce, include_self) in [
                (ScatterReduce::Sum, true),
                (ScatterReduce::Assign, true),
                (ScatterReduce::Mean, true),
                (ScatterReduce::Amax, false),
            ] {
                let want = scatter(&filled, &index, &src, dim, reduce, include_self).unwrap().to_vec::<f32>();
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let got = pool.install(|| scatter(&broadcast, &index, &src, dim, reduce, include_self).unwrap());
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got.to_vec::<f32>()), bits(&want), "dim {dim} {reduce:?}, {threads} threads");
                }
            }
        }
    }

    /// An index one wide along `dim` (a loss picking one class per row) walks rows that
    /// cross blocks: each block is still filled exactly once, before its first value.
    #[test]
    fn a_broadcast_base_under_rows_that_cross_blocks() {
        let cases: [(&[usize], &[usize], usize); 3] =
            [(&[3000, 7], &[3000, 1], 1), (&[40, 1, 900], &[40, 1, 900], 1), (&[50, 9, 1], &[50, 1, 1], 1)];
        for (bsh, ish, dim) in cases {
            let n = |s: &[usize]| s.iter().product::<usize>();
            let idx: Vec<i64> = (0..n(ish)).map(|i| ((i * 7 + i / 5) % bsh[dim]) as i64).collect();
            let src: Vec<f32> = (0..n(ish)).map(|i| (i % 13) as f32 - 6.5).collect();
            let (index, src) = (CpuArray::from_vec(idx, ish), CpuArray::from_vec(src, ish));
            let one = CpuArray::from_vec(vec![-2.0f32], &vec![1; bsh.len()]);
            let broadcast = one.with_layout(Layout {
                shape: bsh.into(),
                strides: psionic_core::smallvec![0; bsh.len()],
                offset: 0,
            });
            let filled = CpuArray::from_vec(vec![-2.0f32; n(bsh)], bsh);
            let want = scatter(&filled, &index, &src, dim, ScatterReduce::Sum, true).unwrap().to_vec::<f32>();
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| scatter(&broadcast, &index, &src, dim, ScatterReduce::Sum, true).unwrap());
                assert_eq!(got.to_vec::<f32>(), want, "{bsh:?} {ish:?}, {threads} threads");
            }
        }
    }

    #[test]
    fn indices_outside_the_dim_are_refused_whatever_the_layout() {
        let (index, src, base, ..) = operands();
        for bad in [-1i64, 40, i64::MIN, i64::MAX] {
            let mut v = index.to_vec::<i64>();
            let at = v.len() / 2 + 3;
            v[at] = bad;
            let bad_index = CpuArray::from_vec(v, index.shape());
            // Contiguous, and strided (the bad position is at an odd column: every other
            // column from the second keeps it).
            let strided = bad_index.with_layout(bad_index.layout.slice("test", 3, Some(1), None, 2).unwrap());
            for idx in [&bad_index, &strided] {
                let msg = |e: Error| e.to_string();
                let g = gather(&base, idx, 2).map(|_| ()).map_err(msg).unwrap_err();
                assert!(g.contains(&format!("index {bad} is out of bounds")), "{g}");
                let s = scatter(&base, idx, &src, 2, ScatterReduce::Sum, true).map(|_| ()).map_err(msg).unwrap_err();
                assert!(s.contains(&format!("index {bad} is out of bounds")), "{s}");
            }
        }
    }

    /// index_select's shape of index: a vector along `dim` broadcast over the other dims
    /// (stride 0), whose rows each read or write one run.
    #[test]
    fn rows_of_one_index_match_the_definition() {
        let (rows, cols, picks) = (30, 700, 45);
        let table: Vec<f32> = (0..rows * cols).map(|i| ((i * 37) % 1001) as f32 / 13.0 - 30.0).collect();
        let table = CpuArray::from_vec(table.clone(), &[rows, cols]);
        let v: Vec<i64> = (0..picks).map(|i| ((i * 7) % rows) as i64).collect();
        let column = CpuArray::from_vec(v.clone(), &[picks, 1]);
        let index = column.with_layout(Layout {
            shape: psionic_core::smallvec![picks, cols],
            strides: psionic_core::smallvec![1, 0],
            offset: 0,
        });
        let tv = table.to_vec::<f32>();
        let want: Vec<f32> = (0..picks * cols).map(|p| tv[v[p / cols] as usize * cols + p % cols]).collect();
        let src: Vec<f32> = (0..picks * cols).map(|i| ((i * 11) % 97) as f32 - 48.5).collect();
        let srcs = CpuArray::from_vec(src.clone(), &[picks, cols]);
        let zero = CpuArray::from_vec(vec![0f32], &[1, 1]);
        let zeros = zero.with_layout(Layout {
            shape: psionic_core::smallvec![rows, cols],
            strides: psionic_core::smallvec![0, 0],
            offset: 0,
        });
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert_eq!(pool.install(|| gather(&table, &index, 0).unwrap()).to_vec::<f32>(), want);
            for (base, start) in [(&table, tv.clone()), (&zeros, vec![0f32; rows * cols])] {
                for reduce in [ScatterReduce::Sum, ScatterReduce::Assign] {
                    let mut want = start.clone();
                    for p in 0..picks * cols {
                        let t = v[p / cols] as usize * cols + p % cols;
                        want[t] = if reduce == ScatterReduce::Sum { want[t] + src[p] } else { src[p] };
                    }
                    let got = pool.install(|| scatter(base, &index, &srcs, 0, reduce, true).unwrap());
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got.to_vec::<f32>()), bits(&want), "{reduce:?}, {threads} threads");
                }
            }
        }
        // The bounds are still checked (once per distinct position), and a broadcast over
        // nothing checks nothing.
        let bad = CpuArray::from_vec(vec![3i64, rows as i64], &[2, 1]);
        let bad = bad.with_layout(Layout {
            shape: psionic_core::smallvec![2, cols],
            strides: psionic_core::smallvec![1, 0],
            offset: 0,
        });
        let e = gather(&table, &bad, 0).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(&format!("index {rows} is out of bounds")), "{e}");
        let none = bad.with_layout(Layout {
            shape: psionic_core::smallvec![2, 0],
            strides: psionic_core::smallvec![1, 0],
            offset: 0,
        });
        assert_eq!(gather(&table, &none, 0).unwrap().numel(), 0);
    }

    #[test]
    fn chunked_gather_matches_the_definition() {
        let (index, _, base, ish, _, bsh) = operands();
        let (iv, bv) = (index.to_vec::<i64>(), base.to_vec::<f32>());
        let want: Vec<f32> =
            positions(ish).map(|p| bv[flat([p[0], p[1], iv[flat(p, ish)] as usize, p[3]], bsh)]).collect();
        // A strided index too (every other column): rows then read it at a stride.
        let it = index.with_layout(index.layout.slice("test", 3, None, None, 2).unwrap());
        let want_t: Vec<f32> = positions([3, 4, 50, 30])
            .map(|p| bv[flat([p[0], p[1], iv[flat([p[0], p[1], p[2], 2 * p[3]], ish)] as usize, p[3]], bsh)])
            .collect();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert_eq!(pool.install(|| gather(&base, &index, 2).unwrap()).to_vec::<f32>(), want, "{threads} threads");
            assert_eq!(pool.install(|| gather(&base, &it, 2).unwrap()).to_vec::<f32>(), want_t, "{threads} threads");
        }
    }
}
