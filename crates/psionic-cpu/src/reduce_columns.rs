//! Sums whose innermost kept dim is unit-stride, such as `x.sum(0)` of a row-major matrix
//! (a bias gradient). Gathering each output's strided run would touch one element per
//! cache line; instead whole rows are added into a tile of accumulators, which
//! vectorises. Each output element still adds its inputs in one fixed order (blocks of
//! [`BLOCK`] rows, combined pairwise), so results do not depend on the thread count.

use crate::array::CpuArray;
use crate::element::Element;
use crate::parallel::for_out_chunks;
use crate::reduce::{split_layout, BLOCK};
use crate::storage::Storage;
use num_traits::Float;
use psionic_core::strided::OffsetIter;
use psionic_core::Layout;

/// Output elements summed together: a tile of accumulators stays in L1.
const TILE: usize = 512;

/// Narrowest unit-stride row worth the column strategy.
const MIN_ROW: usize = 8;

/// `Some(sum over dims)` when the layout suits the column strategy, else `None`.
pub fn sum_columns<A: Float + Element>(x: &CpuArray, dims: &[usize]) -> Option<CpuArray> {
    let l = &x.layout;
    let kept: Vec<usize> = (0..l.ndim()).filter(|d| !dims.contains(d)).collect();
    let &last = kept.last()?;
    let reduced_ok = dims.iter().all(|&d| l.strides[d] >= 0);
    if l.strides[last] != 1 || l.shape[last] < MIN_ROW || !reduced_ok || dims.is_empty() {
        return None;
    }
    let len = l.shape[last];
    // Output rows run over the kept dims but the last, which is the row itself.
    let (outer, inner) = split_layout(l, &kept[..kept.len() - 1], dims);
    let r = inner.numel();
    let src = x.storage.as_slice::<A>();
    let mut out = Storage::uninit::<A>(outer.numel() * len);
    for_out_chunks(out.as_mut_slice::<A>(), TILE, r, |start, o| {
        // A chunk may straddle output rows: handle each row's segment on its own.
        let mut i = 0;
        while i < o.len() {
            let (row, col) = ((start + i) / len, (start + i) % len);
            let seg = (len - col).min(o.len() - i);
            let base = OffsetIter::new(&outer, row).next().expect("row in range") + col;
            sum_tile(src, base, &inner, r, &mut o[i..i + seg]);
            i += seg;
        }
    });
    let mut shape = outer.shape;
    shape.push(len);
    Some(CpuArray::new(out, &shape))
}

/// `out[j] = sum_i src[base + off_i + j]` over the `r` offsets of `inner`.
fn sum_tile<A: Float>(src: &[A], base: usize, inner: &Layout, r: usize, out: &mut [A]) {
    let w = out.len();
    let mut offs = OffsetIter::new(inner, 0);
    let mut add_block = |acc: &mut [A], n: usize| {
        acc.fill(A::zero());
        for io in offs.by_ref().take(n) {
            for (a, &v) in acc.iter_mut().zip(&src[base + io..base + io + w]) {
                *a = *a + v;
            }
        }
    };
    if r <= BLOCK {
        add_block(out, r);
        return;
    }
    let mut partials: Vec<Vec<A>> = (0..r.div_ceil(BLOCK))
        .map(|b| {
            let mut acc = vec![A::zero(); w];
            add_block(&mut acc, BLOCK.min(r - b * BLOCK));
            acc
        })
        .collect();
    // Pairwise, in the same tree shape as the long-run sums.
    while partials.len() > 1 {
        partials = partials
            .chunks_mut(2)
            .map(|p| {
                if let [a, b] = p {
                    for (x, &y) in a.iter_mut().zip(b.iter()) {
                        *x = *x + y;
                    }
                }
                std::mem::take(&mut p[0])
            })
            .collect();
    }
    out.copy_from_slice(&partials[0]);
}
