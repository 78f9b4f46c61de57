//! Drivers that turn slice kernels into strided, broadcasting, parallel elementwise ops.
//!
//! A kernel only ever sees contiguous slices (or a single broadcast value, [`Src::Scalar`]),
//! so it is a plain loop LLVM can vectorise. The drivers here deal with layouts: a row of
//! unit stride is handed over in place, a stride-0 row becomes a scalar, and anything else
//! is gathered into a per-chunk scratch buffer first. Output is always a fresh contiguous
//! array, split into row-aligned chunks for rayon.

use crate::array::CpuArray;
use crate::element::Element;
use crate::parallel::for_out_chunks;
use crate::storage::Storage;
use psionic_core::strided::Rows;
use psionic_core::Layout;

/// Elements per parallel chunk.
pub const CHUNK: usize = 1 << 14;
/// Rows at least this long are processed in place, shorter ones gathered per chunk.
const LONG_ROW: usize = 64;

/// One operand of a slice kernel: a run of values, or one value broadcast over the run.
#[derive(Clone, Copy, Debug)]
pub enum Src<'a, T> {
    Slice(&'a [T]),
    Scalar(T),
}

/// Zips two [`Src`] operands into `out` with a per-element expression; expands into four
/// monomorphic loops so each one vectorises, compiled for the widest vector unit the CPU
/// has ([`crate::simd::dispatch`]), writing through [`crate::stream::lines`].
#[macro_export]
macro_rules! zip2 {
    ($a:expr, $b:expr, $out:expr, |$x:ident, $y:ident| $e:expr) => {{
        use $crate::elementwise::Src;
        let (a, b, out) = ($a, $b, $out);
        $crate::simd::dispatch(
            #[inline(always)]
            || match (a, b) {
                (Src::Slice(a), Src::Slice(b)) => $crate::stream::lines(
                    out,
                    #[inline(always)]
                    |s, out| {
                        let n = out.len();
                        for ((o, &$x), &$y) in out.iter_mut().zip(&a[s..s + n]).zip(&b[s..s + n]) {
                            *o = $e;
                        }
                    },
                ),
                (Src::Slice(a), Src::Scalar($y)) => $crate::stream::lines(
                    out,
                    #[inline(always)]
                    |s, out| {
                        let n = out.len();
                        for (o, &$x) in out.iter_mut().zip(&a[s..s + n]) {
                            *o = $e;
                        }
                    },
                ),
                (Src::Scalar($x), Src::Slice(b)) => $crate::stream::lines(
                    out,
                    #[inline(always)]
                    |s, out| {
                        let n = out.len();
                        for (o, &$y) in out.iter_mut().zip(&b[s..s + n]) {
                            *o = $e;
                        }
                    },
                ),
                (Src::Scalar($x), Src::Scalar($y)) => {
                    let v = $e;
                    out.fill(v);
                }
            },
        )
    }};
}

/// Rows of `row_len` elements per chunk of work: about [`CHUNK`] elements, at least a row.
pub(crate) fn rows_per_chunk(row_len: usize) -> usize {
    (CHUNK / row_len.max(1)).max(1)
}

/// The bytes a view reads, each distinct element once (a broadcast dim counts once).
pub(crate) fn view_bytes(l: &Layout, size: usize) -> usize {
    l.shape.iter().zip(l.strides.iter()).filter(|&(_, &s)| s != 0).map(|(&d, _)| d).product::<usize>() * size
}

/// [`for_out_chunks`] for an elementwise op reading the views `reads` (layout, element
/// size): each chunk runs in a [`crate::stream::scope`] that streams its writes past the
/// cache when the op's reads and writes together reach the last-level cache's size.
fn for_chunks<U: Send>(
    out: &mut [U],
    chunk: usize,
    work: usize,
    reads: &[(&Layout, usize)],
    f: impl Fn(usize, &mut [U]) + Sync + Send,
) {
    let read: usize = reads.iter().map(|&(l, size)| view_bytes(l, size)).sum();
    let on = crate::stream::worth_streaming(read + std::mem::size_of_val(out));
    for_out_chunks(out, chunk, work, |start, o| crate::stream::scope(on, || f(start, o)));
}

/// Gathers rows `range` of operand `k` into `dst` (cleared first).
fn gather<T: Element, const N: usize>(
    src: &[T],
    rows: &Rows<N>,
    k: usize,
    range: std::ops::Range<usize>,
    dst: &mut Vec<T>,
) {
    dst.clear();
    let (len, s) = (rows.row_len(), rows.inner_strides()[k]);
    rows.for_rows(range, |_, offs| extend_row(dst, src, offs[k], len, s));
}

/// Appends the `len` values of `src` from `off` with stride `s` to `dst` (a unit-stride
/// row as one slice copy).
#[inline]
pub(crate) fn extend_row<T: Copy>(dst: &mut Vec<T>, src: &[T], off: usize, len: usize, s: isize) {
    if s == 1 {
        dst.extend_from_slice(&src[off..off + len]);
    } else {
        dst.extend((0..len as isize).map(|i| src[(off as isize + i * s) as usize]));
    }
}

/// `out = f(x)` elementwise, for any layout of `x`.
pub fn map1<T: Element, U: Element>(x: &CpuArray, work: usize, f: impl Fn(&[T], &mut [U]) + Sync + Send) -> CpuArray {
    let n = x.numel();
    let mut out = Storage::uninit::<U>(n);
    let src = x.storage.as_slice::<T>();
    let reads = [(&x.layout, size_of::<T>())];
    if x.layout.is_contiguous() {
        let src = &src[x.layout.offset..x.layout.offset + n];
        for_chunks(out.as_mut_slice::<U>(), CHUNK, work, &reads, |start, o| f(&src[start..start + o.len()], o));
    } else {
        let rows = Rows::<1>::from_layouts(&x.layout.shape, [&x.layout]);
        let len = rows.row_len();
        let rpc = rows_per_chunk(len);
        let long = len >= LONG_ROW && rows.inner_strides()[0] == 1;
        for_chunks(out.as_mut_slice::<U>(), rpc * len, work, &reads, |start, o| {
            let r0 = start / len;
            let r1 = r0 + o.len() / len;
            if long {
                rows.for_rows(r0..r1, |r, [off]| {
                    let d = (r - r0) * len;
                    f(&src[off..off + len], &mut o[d..d + len]);
                });
            } else {
                let mut scratch = Vec::with_capacity(o.len());
                gather(src, &rows, 0, r0..r1, &mut scratch);
                f(&scratch, o);
            }
        });
    }
    CpuArray::new(out, &x.layout.shape)
}

fn src<T: Copy>(s: &[T], off: usize, stride: isize, base: usize, n: usize) -> Src<'_, T> {
    if stride == 0 {
        Src::Scalar(s[off])
    } else {
        Src::Slice(&s[off + base..off + base + n])
    }
}

/// `out = f(a, b)` elementwise. `a` and `b` must already be laid out over `shape`
/// (broadcast dims have stride 0).
pub fn map2<T: Element, U: Element>(
    a: &CpuArray,
    b: &CpuArray,
    shape: &[usize],
    work: usize,
    f: impl Fn(Src<T>, Src<T>, &mut [U]) + Sync + Send,
) -> CpuArray {
    let n = psionic_core::numel(shape);
    let mut out = Storage::uninit::<U>(n);
    let (sa, sb) = (a.storage.as_slice::<T>(), b.storage.as_slice::<T>());
    let reads = [(&a.layout, size_of::<T>()), (&b.layout, size_of::<T>())];
    let rows = Rows::<2>::from_layouts(shape, [&a.layout, &b.layout]);
    let len = rows.row_len();
    if n > 0 {
        let [ia, ib] = rows.inner_strides();
        let unit = matches!(ia, 0 | 1) && matches!(ib, 0 | 1);
        if rows.n_rows() == 1 && unit {
            // One row covers everything (contiguous or scalar operands): split by element.
            let mut offs = [0; 2];
            rows.for_rows(0..1, |_, o2| offs = o2);
            for_chunks(out.as_mut_slice::<U>(), CHUNK, work, &reads, |start, o| {
                f(src(sa, offs[0], ia, start, o.len()), src(sb, offs[1], ib, start, o.len()), o)
            });
        } else {
            let per_row = len >= LONG_ROW && unit;
            for_chunks(out.as_mut_slice::<U>(), rows_per_chunk(len) * len, work, &reads, |start, o| {
                let r0 = start / len;
                let r1 = r0 + o.len() / len;
                if per_row {
                    rows.for_rows(r0..r1, |r, [oa, ob]| {
                        let d = (r - r0) * len;
                        f(src(sa, oa, ia, 0, len), src(sb, ob, ib, 0, len), &mut o[d..d + len]);
                    });
                } else {
                    let (mut ga, mut gb) = (Vec::with_capacity(o.len()), Vec::with_capacity(o.len()));
                    gather(sa, &rows, 0, r0..r1, &mut ga);
                    gather(sb, &rows, 1, r0..r1, &mut gb);
                    f(Src::Slice(&ga), Src::Slice(&gb), o);
                }
            });
        }
    }
    CpuArray::new(out, shape)
}

/// `out = f(a, b, c)` elementwise over `shape` (operands already broadcast): contiguous
/// operands are handed over in place, otherwise each chunk of every operand is gathered
/// to contiguous scratch.
pub fn map3<A: Element, B: Element, C: Element, U: Element>(
    a: &CpuArray,
    b: &CpuArray,
    c: &CpuArray,
    shape: &[usize],
    f: impl Fn(&[A], &[B], &[C], &mut [U]) + Sync + Send,
) -> CpuArray {
    let n = psionic_core::numel(shape);
    let mut out = Storage::uninit::<U>(n);
    let reads = [(&a.layout, size_of::<A>()), (&b.layout, size_of::<B>()), (&c.layout, size_of::<C>())];
    if n > 0 {
        let rows = Rows::<3>::from_layouts(shape, [&a.layout, &b.layout, &c.layout]);
        let len = rows.row_len();
        let rpc = rows_per_chunk(len);
        let (sa, sb, sc) = (a.storage.as_slice::<A>(), b.storage.as_slice::<B>(), c.storage.as_slice::<C>());
        let [ia, ib, ic] = rows.inner_strides();
        if rows.n_rows() == 1 && [ia, ib, ic].iter().all(|s| matches!(s, 0 | 1)) {
            // Each operand contiguous over the shape (handed over in place) or one value
            // (repeated into scratch): no strided walk.
            let mut offs = [0; 3];
            rows.for_rows(0..1, |_, o3| offs = o3);
            let [oa, ob, oc] = offs;
            for_chunks(out.as_mut_slice::<U>(), CHUNK, 4, &reads, |start, o| {
                let n = o.len();
                let (mut fa, mut fb, mut fc) = (Vec::new(), Vec::new(), Vec::new());
                let a = run(sa, oa, ia, start, n, &mut fa);
                let b = run(sb, ob, ib, start, n, &mut fb);
                let c = run(sc, oc, ic, start, n, &mut fc);
                f(a, b, c, o)
            });
            return CpuArray::new(out, shape);
        }
        // Long rows with each operand contiguous along them or constant (a per-channel
        // scale over [N, C, H, W]): rows handed over in place, constants repeated once per
        // row into scratch; the operands are not gathered.
        let per_row = len >= LONG_ROW && [ia, ib, ic].iter().all(|s| matches!(s, 0 | 1));
        for_chunks(out.as_mut_slice::<U>(), rpc * len, 4, &reads, |start, o| {
            let r0 = start / len;
            let r1 = r0 + o.len() / len;
            let (mut ga, mut gb, mut gc) = (Vec::new(), Vec::new(), Vec::new());
            if per_row {
                rows.for_rows(r0..r1, |r, [oa, ob, oc]| {
                    let d = (r - r0) * len;
                    let a = run(sa, oa, ia, 0, len, &mut ga);
                    let b = run(sb, ob, ib, 0, len, &mut gb);
                    let c = run(sc, oc, ic, 0, len, &mut gc);
                    f(a, b, c, &mut o[d..d + len]);
                });
                return;
            }
            gather(sa, &rows, 0, r0..r1, &mut ga);
            gather(sb, &rows, 1, r0..r1, &mut gb);
            gather(sc, &rows, 2, r0..r1, &mut gc);
            f(&ga, &gb, &gc, o);
        });
    }
    CpuArray::new(out, shape)
}

/// `n` values of a one-row operand from position `start`: a slice of `s` in place when
/// its stride is 1, else its single value repeated into `fill`.
fn run<'a, T: Copy>(s: &'a [T], off: usize, stride: isize, start: usize, n: usize, fill: &'a mut Vec<T>) -> &'a [T] {
    if stride == 0 {
        fill.clear();
        fill.resize(n, s[off]);
        fill
    } else {
        &s[off + start..off + start + n]
    }
}

/// `x` itself when its layout is row-major already, else a row-major copy: for kernels
/// that read their operands as plain slices.
pub(crate) fn dense<T: Element>(x: &CpuArray) -> std::borrow::Cow<'_, CpuArray> {
    match x.layout.is_contiguous() {
        true => std::borrow::Cow::Borrowed(x),
        false => std::borrow::Cow::Owned(contiguous::<T>(x)),
    }
}

/// A contiguous copy of any layout (same dtype).
pub fn contiguous<T: Element>(x: &CpuArray) -> CpuArray {
    if x.layout.is_contiguous() {
        return map1::<T, T>(x, 1, |s, d| crate::stream::lines(d, |st, d| d.copy_from_slice(&s[st..st + d.len()])));
    }
    // Rows go straight to their place in the output, whatever their length (map1 would
    // gather short rows into scratch first: a second copy of im2col's 32-wide rows).
    let mut out = Storage::uninit::<T>(x.numel());
    let src = x.storage.as_slice::<T>();
    let rows = Rows::<1>::from_layouts(&x.layout.shape, [&x.layout]);
    let (len, [s]) = (rows.row_len(), rows.inner_strides());
    if len > 0 {
        for_out_chunks(out.as_mut_slice::<T>(), rows_per_chunk(len) * len, 1, |start, o| {
            let r0 = start / len;
            rows.for_rows(r0..r0 + o.len() / len, |r, [off]| copy_row(&mut o[(r - r0) * len..][..len], src, off, s));
        });
    }
    CpuArray::new(out, &x.layout.shape)
}

/// Fills `d` with `d.len()` values of `src` from `off` with stride `s` (a unit-stride
/// run as one slice copy, a broadcast one as a fill).
#[inline]
fn copy_row<T: Copy>(d: &mut [T], src: &[T], off: usize, s: isize) {
    match s {
        1 => d.copy_from_slice(&src[off..off + d.len()]),
        0 => d.fill(src[off]),
        _ => d.iter_mut().enumerate().for_each(|(i, v)| *v = src[(off as isize + i as isize * s) as usize]),
    }
}

/// Copies `src` (viewed through `src_layout`) into the region of `dst` that `dst_layout`
/// views; both layouts have the same shape. Row by row: a padded, sliced or stacked
/// region is long unit-stride runs on both sides, each one slice copy.
pub(crate) fn copy_strided<T: Copy>(dst: &mut [T], dst_layout: &Layout, src: &[T], src_layout: &Layout) {
    let rows = Rows::<2>::from_layouts(&dst_layout.shape, [dst_layout, src_layout]);
    let (len, [sd, ss]) = (rows.row_len(), rows.inner_strides());
    rows.for_rows(0..rows.n_rows(), |_, [od, os]| {
        if sd == 1 {
            copy_row(&mut dst[od..od + len], src, os, ss);
        } else {
            for k in 0..len as isize {
                dst[(od as isize + k * sd) as usize] = src[(os as isize + k * ss) as usize];
            }
        }
    });
}

/// Expands `x`'s layout to `shape` by broadcasting (no copy; borrowed when the shape
/// already matches).
pub fn broadcast<'a>(x: &'a CpuArray, shape: &[usize]) -> std::borrow::Cow<'a, CpuArray> {
    if x.layout.shape[..] == *shape {
        return std::borrow::Cow::Borrowed(x);
    }
    std::borrow::Cow::Owned(x.with_layout(x.layout.expand("broadcast", shape).expect("shapes checked by the graph")))
}

/// Writes `src` (any layout, same shape as `dst_layout`) into a contiguous copy of `base`
/// at the positions `dst_layout` names. Used for writes through views.
pub fn scatter_into<T: Element>(
    base: &CpuArray,
    dst_layout_of: impl Fn(&Layout) -> Layout,
    src: &CpuArray,
) -> CpuArray {
    let fresh = contiguous::<T>(base);
    let target = dst_layout_of(&fresh.layout);
    let mut storage = std::sync::Arc::try_unwrap(fresh.storage).expect("a fresh copy has one owner");
    copy_strided(storage.as_mut_slice::<T>(), &target, src.storage.as_slice::<T>(), &src.layout);
    CpuArray::new(storage, &base.layout.shape)
}
