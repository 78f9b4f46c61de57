//! Max pooling's search: for every window, the flat position (within its input plane) of
//! the element max pooling picks. The values and their gradient are a gather through
//! these positions, so this kernel is the only part of max pooling that compares values.
//!
//! A window's taps are visited in row-major kernel order and taps in the padding are
//! skipped. The first in-bounds tap starts the search; a later tap replaces the current
//! pick when it is greater or NaN. That is PyTorch's rule: a window of equal maxima
//! picks the first, one with NaNs picks the last NaN, and a window whose real elements
//! are all `-inf` picks its first real element.

use crate::array::CpuArray;
use crate::element::Element;
use crate::scan::is_nan;
use crate::storage::Storage;

/// Where each window of a pooling over the last `k` (1 to 3) dims reads: per spatial dim
/// the input and output sizes, kernel size, stride, left padding and dilation.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolGeometry {
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
}

impl PoolGeometry {
    /// The geometry with leading unit dims added up to three spatial dims, so one loop
    /// nest serves 1-, 2- and 3-d pooling.
    fn padded3(&self) -> PoolGeometry {
        let lift = |v: &[usize], fill: usize| crate::window::lift3(v, fill).to_vec();
        PoolGeometry {
            input: lift(&self.input, 1),
            output: lift(&self.output, 1),
            kernel: lift(&self.kernel, 1),
            stride: lift(&self.stride, 1),
            padding: lift(&self.padding, 0),
            dilation: lift(&self.dilation, 1),
        }
    }
}

/// Per output coordinate along dim `d`: the input coordinate of its window's first tap
/// and the range of taps `t` for which `start + t * dilation` lies inside the input.
fn tap_ranges(g: &PoolGeometry, d: usize) -> Vec<(isize, std::ops::Range<usize>)> {
    let (k, dil, size) = (g.kernel[d], g.dilation[d] as isize, g.input[d] as isize);
    (0..g.output[d])
        .map(|o| {
            let start = (o * g.stride[d]) as isize - g.padding[d] as isize;
            let first = (0..k).find(|&t| start + t as isize * dil >= 0).unwrap_or(k);
            let end = (first..k).find(|&t| start + t as isize * dil >= size).unwrap_or(k);
            (start, first..end)
        })
        .collect()
}

/// `x` `[..., S...]` -> i64 `out_shape` `[..., O...]`: each window's pick as a flat
/// position in its `S...` plane.
pub fn max_pool_index(x: &CpuArray, geom: &PoolGeometry, out_shape: &[usize]) -> CpuArray {
    crate::with_dtype!(x.dtype(), T => max_pool_index_typed::<T>(x, geom, out_shape))
}

fn max_pool_index_typed<T: Element>(x: &CpuArray, geom: &PoolGeometry, out_shape: &[usize]) -> CpuArray {
    let x = if x.layout.is_contiguous() { x.clone() } else { crate::elementwise::contiguous::<T>(x) };
    let src = &x.storage.as_slice::<T>()[x.layout.offset..];
    let (plane_in, plane_out) = (geom.input.iter().product::<usize>(), geom.output.iter().product::<usize>());
    let mut out = Storage::uninit::<i64>(psionic_core::numel(out_shape));
    let g = geom.padded3();
    let window: usize = g.kernel.iter().product();
    let plain_2x2 = is_plain_2x2(&g);
    if plane_out > 0 {
        crate::parallel::for_out_chunks(out.as_mut_slice::<i64>(), plane_out, window, |start, o| {
            let plane = &src[start / plane_out * plane_in..][..plane_in];
            if plain_2x2 {
                search_plane_2x2(plane, &g, o);
            } else {
                search_plane(plane, &g, o);
            }
        });
    }
    CpuArray::new(out, out_shape)
}

/// Fills one output plane with its windows' picks. A window wholly inside the input
/// reads its taps through one list of offsets from its corner; only windows that
/// overlap the padding walk per-dim tap ranges.
fn search_plane<T: Element>(plane: &[T], g: &PoolGeometry, out: &mut [i64]) {
    let (h, w) = (g.input[1] as isize, g.input[2] as isize);
    let dil = [g.dilation[0] as isize, g.dilation[1] as isize, g.dilation[2] as isize];
    let ranges = [tap_ranges(g, 0), tap_ranges(g, 1), tap_ranges(g, 2)];
    let offsets: Vec<isize> = (0..g.kernel[0] as isize)
        .flat_map(|a| (0..g.kernel[1] as isize).map(move |b| (a, b)))
        .flat_map(|(a, b)| (0..g.kernel[2] as isize).map(move |c| (a * dil[0] * h + b * dil[1]) * w + c * dil[2]))
        .collect();
    let full = |d: usize, r: &std::ops::Range<usize>| r.start == 0 && r.end == g.kernel[d];
    let mut o = out.iter_mut();
    for (sd, td) in &ranges[0] {
        for (sh, th) in &ranges[1] {
            for (sw, tw) in &ranges[2] {
                let corner = (sd * h + sh) * w + sw;
                let pick = if full(0, td) && full(1, th) && full(2, tw) {
                    scan(plane, offsets.iter().map(|&off| (corner + off) as usize))
                } else {
                    let taps = td.clone().flat_map(|a| th.clone().map(move |b| (a as isize, b as isize))).flat_map(
                        |(a, b)| {
                            tw.clone().map(move |c| {
                                (corner + (a * dil[0] * h + b * dil[1]) * w + c as isize * dil[2]) as usize
                            })
                        },
                    );
                    scan(plane, taps)
                };
                *o.next().expect("one output per window") = pick as i64;
            }
        }
    }
}

/// The CNN pooling (2 x 2 windows, stride 2, no padding or dilation, every window
/// inside the input), which has a kernel of its own.
fn is_plain_2x2(g: &PoolGeometry) -> bool {
    g.kernel == [1, 2, 2]
        && g.stride[1..] == [2, 2]
        && g.padding == [0, 0, 0]
        && g.dilation[1..] == [1, 1]
        && 2 * g.output[1] <= g.input[1]
        && 2 * g.output[2] <= g.input[2]
}

/// [`search_plane`] for [`is_plain_2x2`] windows: each output row is one pass over its
/// two input rows, the four taps compared in the same order and by the same rule as
/// [`scan`], with no per-window offset iterators.
fn search_plane_2x2<T: Element>(plane: &[T], g: &PoolGeometry, out: &mut [i64]) {
    let (w, ow) = (g.input[2], g.output[2]);
    for d in 0..g.output[0] {
        let start = d * g.stride[0] * g.input[1] * w;
        for (oh, orow) in out[d * g.output[1] * ow..][..g.output[1] * ow].chunks_exact_mut(ow).enumerate() {
            let top = start + 2 * oh * w;
            let (r0, r1) = (&plane[top..top + w], &plane[top + w..top + 2 * w]);
            crate::simd::dispatch(
                #[inline(always)]
                || row_2x2(r0, r1, orow, top as i64, w as i64),
            );
        }
    }
}

/// One output row of [`search_plane_2x2`]: `out[j]` is the pick among `r0[2j]`,
/// `r0[2j + 1]`, `r1[2j]`, `r1[2j + 1]`, as a position in the plane where `r0` starts at
/// `top`.
#[inline(always)]
fn row_2x2<T: Element>(r0: &[T], r1: &[T], out: &mut [i64], top: i64, w: i64) {
    let n = out.len();
    let (r0, r1) = (&r0[..2 * n], &r1[..2 * n]);
    for j in 0..n {
        let taps = [(r0[2 * j + 1], 1), (r1[2 * j], w), (r1[2 * j + 1], w + 1)];
        let (mut best, mut at) = (r0[2 * j], 0i64);
        for (v, off) in taps {
            let take = (v > best) | is_nan(v);
            best = if take { v } else { best };
            at = if take { off } else { at };
        }
        out[j] = top + 2 * j as i64 + at;
    }
}

/// The position among `taps` that max pooling picks. Every window holds a real element
/// (padding is at most half the kernel and ceil mode drops windows that start in the
/// padding), so `taps` is never empty.
#[inline(always)]
fn scan<T: Element>(plane: &[T], mut taps: impl Iterator<Item = usize>) -> usize {
    let Some(mut best) = taps.next() else { return 0 };
    for p in taps {
        let (v, b) = (plane[p], plane[best]);
        // Which tap wins is data, so a branch would mispredict; the winner is blended in
        // with a mask, hidden from LLVM, which turns a visible select back into a branch.
        let take = std::hint::black_box(((v > b) | is_nan(v)) as usize);
        let mask = take.wrapping_neg();
        best = (p & mask) | (best & !mask);
    }
    best
}
