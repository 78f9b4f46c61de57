//! Walking strided memory in row-major order.
//!
//! Kernels see an N-operand iteration as "rows": every dim but the last is an outer loop,
//! the last dim is an inner loop with a fixed stride per operand, which the kernel writes
//! as a tight (often unit-stride, SIMD-friendly) loop. Before walking, dims that are
//! mutually contiguous in every operand are merged, so a contiguous tensor of any rank is
//! one long row, and size-1 dims vanish.

use crate::layout::Layout;
use std::ops::Range;

/// Row iteration over `N` operands sharing one shape.
#[derive(Clone, Debug)]
pub struct Rows<const N: usize> {
    /// Outer dims (all but the innermost), after merging.
    outer_shape: Vec<usize>,
    outer_strides: [Vec<isize>; N],
    base: [isize; N],
    row_len: usize,
    inner: [isize; N],
    n_rows: usize,
}

impl<const N: usize> Rows<N> {
    pub fn new(shape: &[usize], strides: [&[isize]; N], base: [usize; N]) -> Self {
        if let Some(rows) = Self::one_row(shape, &strides, &base) {
            return rows;
        }
        // Drop size-1 dims; they contribute nothing to any offset.
        let keep: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] != 1).collect();
        let mut sh: Vec<usize> = keep.iter().map(|&d| shape[d]).collect();
        let mut st: [Vec<isize>; N] = std::array::from_fn(|k| keep.iter().map(|&d| strides[k][d]).collect());
        // Merge dim d into d+1 when, for every operand, stepping d equals stepping d+1 by
        // its full extent.
        let mut d = sh.len();
        while d >= 2 {
            let (a, b) = (d - 2, d - 1);
            if (0..N).all(|k| st[k][a] == st[k][b] * sh[b] as isize) {
                sh[b] *= sh[a];
                sh.remove(a);
                for s in st.iter_mut() {
                    s.remove(a);
                }
            }
            d -= 1;
        }
        let numel: usize = sh.iter().product();
        let (row_len, inner) = match sh.pop() {
            Some(n) => (n, std::array::from_fn(|k| st[k].pop().unwrap())),
            None => (1, [0; N]),
        };
        let n_rows = if row_len == 0 { 0 } else { numel / row_len.max(1) };
        Rows {
            outer_shape: sh,
            outer_strides: st,
            base: std::array::from_fn(|k| base[k] as isize),
            row_len,
            inner,
            n_rows: if numel == 0 { 0 } else { n_rows },
        }
    }

    /// The common case without allocating: every operand is contiguous over `shape` or
    /// a single broadcast value, so the whole iteration is one row (what the merging in
    /// [`Rows::new`] would arrive at).
    fn one_row(shape: &[usize], strides: &[&[isize]; N], base: &[usize; N]) -> Option<Self> {
        let numel: usize = shape.iter().product();
        if numel == 0 {
            return None;
        }
        let mut inner = [0isize; N];
        for k in 0..N {
            let (mut expected, mut contiguous, mut constant) = (1isize, true, true);
            for d in (0..shape.len()).rev() {
                if shape[d] != 1 {
                    contiguous &= strides[k][d] == expected;
                    constant &= strides[k][d] == 0;
                    expected *= shape[d] as isize;
                }
            }
            inner[k] = if contiguous && numel > 1 {
                1
            } else if constant {
                0
            } else {
                return None;
            };
        }
        Some(Rows {
            outer_shape: Vec::new(),
            outer_strides: std::array::from_fn(|_| Vec::new()),
            base: std::array::from_fn(|k| base[k] as isize),
            row_len: numel,
            inner,
            n_rows: 1,
        })
    }

    pub fn from_layouts(shape: &[usize], layouts: [&Layout; N]) -> Self {
        Self::new(
            shape,
            std::array::from_fn(|k| layouts[k].strides.as_slice()),
            std::array::from_fn(|k| layouts[k].offset),
        )
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// Per-operand stride of the inner loop.
    pub fn inner_strides(&self) -> [isize; N] {
        self.inner
    }

    /// Calls `f(row, offsets)` for rows in `range`, in order; `offsets` are the element
    /// offsets of each operand at the start of that row.
    pub fn for_rows(&self, range: Range<usize>, mut f: impl FnMut(usize, [usize; N])) {
        if range.is_empty() {
            return;
        }
        let nd = self.outer_shape.len();
        let mut idx = vec![0usize; nd];
        let mut rem = range.start;
        for d in (0..nd).rev() {
            idx[d] = rem % self.outer_shape[d];
            rem /= self.outer_shape[d];
        }
        let mut off = self.base;
        for d in 0..nd {
            for k in 0..N {
                off[k] += idx[d] as isize * self.outer_strides[k][d];
            }
        }
        for row in range {
            f(row, std::array::from_fn(|k| off[k] as usize));
            // Odometer increment of the outer index.
            let mut d = nd;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                for k in 0..N {
                    off[k] += self.outer_strides[k][d];
                }
                if idx[d] < self.outer_shape[d] {
                    break;
                }
                for k in 0..N {
                    off[k] -= self.outer_strides[k][d] * idx[d] as isize;
                }
                idx[d] = 0;
            }
        }
    }
}

/// Calls `f` with each element offset of `l` in row-major order.
pub fn for_each_offset(l: &Layout, mut f: impl FnMut(usize)) {
    let rows = Rows::<1>::from_layouts(&l.shape, [l]);
    let (len, s) = (rows.row_len(), rows.inner_strides()[0]);
    rows.for_rows(0..rows.n_rows(), |_, [o]| {
        for i in 0..len {
            f((o as isize + i as isize * s) as usize);
        }
    });
}

/// Element offsets of a layout in row-major order, starting at flat index `start`.
pub struct OffsetIter<'a> {
    layout: &'a Layout,
    // Inline for the usual ranks: a heap index here cost about 90 ns per call, which a
    // row-sum kernel that starts one per 4 rows measured as 5% of its memory-bound time.
    idx: crate::Dims,
    off: isize,
    remaining: usize,
}

impl<'a> OffsetIter<'a> {
    pub fn new(layout: &'a Layout, start: usize) -> Self {
        let n = layout.numel();
        let mut idx: crate::Dims = crate::smallvec![0; layout.ndim()];
        let mut rem = start.min(n);
        let mut off = layout.offset as isize;
        for d in (0..layout.ndim()).rev() {
            let sz = layout.shape[d].max(1);
            idx[d] = rem % sz;
            rem /= sz;
            off += idx[d] as isize * layout.strides[d];
        }
        OffsetIter { layout, idx, off, remaining: n - start.min(n) }
    }
}

impl Iterator for OffsetIter<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.off as usize;
        let l = self.layout;
        let mut d = l.ndim();
        while d > 0 {
            d -= 1;
            self.idx[d] += 1;
            self.off += l.strides[d];
            if self.idx[d] < l.shape[d] {
                break;
            }
            self.off -= l.strides[d] * self.idx[d] as isize;
            self.idx[d] = 0;
        }
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_collapses_to_one_row() {
        let l = Layout::contiguous(&[2, 3, 4]);
        let r = Rows::<1>::from_layouts(&l.shape, [&l]);
        assert_eq!((r.n_rows(), r.row_len()), (1, 24));
    }

    #[test]
    fn rows_start_mid_range() {
        let l = Layout::contiguous(&[3, 4]).transpose("t", 0, 1).unwrap();
        let r = Rows::<1>::from_layouts(&l.shape, [&l]);
        assert_eq!((r.n_rows(), r.row_len(), r.inner_strides()), (4, 3, [4]));
        let mut starts = vec![];
        r.for_rows(2..4, |row, [o]| starts.push((row, o)));
        assert_eq!(starts, vec![(2, 2), (3, 3)]);
    }

    #[test]
    fn broadcast_operand_has_zero_stride() {
        let a = Layout::contiguous(&[2, 3]);
        let b = Layout::contiguous(&[3]).expand("e", &[2, 3]).unwrap();
        let r = Rows::<2>::from_layouts(&a.shape, [&a, &b]);
        assert_eq!((r.n_rows(), r.row_len()), (2, 3));
        let mut offs = vec![];
        r.for_rows(0..2, |_, o| offs.push(o));
        assert_eq!(offs, vec![[0, 0], [3, 0]]);
    }

    #[test]
    fn empty_and_scalar() {
        let e = Layout::contiguous(&[2, 0, 3]);
        assert_eq!(Rows::<1>::from_layouts(&e.shape, [&e]).n_rows(), 0);
        let s = Layout::contiguous(&[]);
        let r = Rows::<1>::from_layouts(&s.shape, [&s]);
        assert_eq!((r.n_rows(), r.row_len()), (1, 1));
    }
}
