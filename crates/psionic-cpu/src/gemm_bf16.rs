//! bf16 matrix multiply on the CPU's bf16 dot-product instruction (AVX-512 BF16's
//! `vdpbf16ps`), where it has one: products of bf16 pairs summed into f32, rounded to
//! bf16 once at the end, as PyTorch's CPU kernels do. Elsewhere `matmul.rs` casts to f32
//! and uses the f32 kernel.
//!
//! The layout is the usual one for such kernels: `k` is cut into blocks of [`KC`] pairs;
//! per block, `b` is packed into panels of [`NR`] columns whose elements are (k, k + 1)
//! pairs in one 32-bit lane, and `a` into panels of [`MR`] rows of pairs (a row-major `a`
//! holds its pairs side by side already, so a tile of full rows reads them in place, rows
//! at their own stride: 2% faster at 1024 than packing them); a 6 x 64 register tile of
//! f32 sums then takes one `vdpbf16ps` per pair and vector (6 broadcasts and 4 loads per
//! 24 products; 12 x 32, with 12 and 2, measured 6% slower at 1024 on 2 threads). Threads
//! split the panels of `b` when they divide evenly (each packs its own, two at a time,
//! and runs every row over them while they sit in its L2, waiting on no other thread: 2%
//! faster at 1024 on 2 threads than splitting rows, and far steadier when the host's
//! shared cache is contended), else the rows; every tile sums its k blocks in order, so
//! the result does not depend on the thread count. Sums between k blocks wait in an f32
//! buffer; the last block rounds each tile's sums in registers (`vcvtneps2bf16`) straight
//! into the output, so products of one block (k up to 1024) write no f32 sums at all. The
//! instruction treats subnormal bf16 inputs as zero and flushes subnormal sums, as
//! oneDNN's kernels on it do.

use crate::storage::Storage;
use half::bf16;
use rayon::prelude::*;

/// Rows and columns of the register tile.
const MR: usize = 6;
const NR: usize = 64;
/// 16-lane vectors per tile row.
const NV: usize = NR / 16;
/// Pairs of k per block (a 64-column panel of `b` is then 128 KiB, in L2; half that
/// measured about 6% slower at k = 1024 with 32-column panels, from the extra pass over
/// the sums).
const KC: usize = 512;
/// Rows that pass over the panels of `b` together.
const MC: usize = 96;
/// Panels of `b` packed together (256 KiB at k = 1024, beside MC rows of `a` in L2).
const G: usize = 2;
/// Pairs ahead that packing lanes side by side fetches its rows. With 4, on one thread, a
/// 768 x 4096 x 768 product took 23.7 rather than 24.5 ms (25.4 rather than 25.6 with a
/// transposed `a`, a weight gradient; medians of six interleaved runs) and the 1024-square
/// one 9.65 rather than 9.83 ms (three).
const PF_PAIRS: usize = 4;

/// Whether this CPU has the instruction.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A bf16 matrix.
pub(crate) type View<'a> = crate::gemm_f32::View<'a, bf16>;

impl View<'_> {
    /// Element (i, j) as its bits; callers stay inside the matrix.
    #[inline(always)]
    fn bits(&self, i: usize, j: usize) -> u32 {
        self.data[self.at(i, j)].to_bits() as u32
    }
}

/// A pointer the parts of one product write through, each at its own rows or columns.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: the parts write disjoint elements and the product joins them before it returns.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The element `i` places on (a method, so closures capture the whole wrapper).
    ///
    /// # Safety
    /// `i` lies inside the allocation.
    unsafe fn add(self, i: usize) -> *mut T {
        // SAFETY: the caller's contract.
        unsafe { self.0.add(i) }
    }
}

/// `out (m x n, row-major) = a (m x k) @ b (k x n)`, `k > 0`. Panics unless
/// [`available`].
pub(crate) fn matmul(a: View, b: View, [m, k, n]: [usize; 3], out: &mut [bf16], threads: usize) {
    assert!(available() && k > 0, "bf16 kernel on a CPU without AVX-512 BF16, or an empty sum");
    assert!(out.len() >= m * n, "bf16 product output too short");
    if m * n == 0 {
        return;
    }
    let (mt, nt) = (m.div_ceil(MR) * MR, n.div_ceil(NR) * NR);
    let (pairs, panels) = (k.div_ceil(2), nt / NR);
    let last = (pairs - 1) / KC * KC;
    // f32 sums of the padded tiles between k blocks (each written whole by the first
    // block); the last block rounds each tile straight into `out`, so a product of one
    // k block needs none.
    let mut sums = Storage::uninit::<f32>(if last > 0 { mt * nt } else { 0 });
    let (c, o) = (Shared(sums.as_mut_slice::<f32>().as_mut_ptr()), Shared(out.as_mut_ptr()));
    // Panels of `b` are panels of lanes of its transpose, like those of `a`.
    let bt = b.t();
    // A row-major `a`'s pairs are adjacent: a tile of full rows whose pairs all lie
    // inside `k` reads them in place, rows at their own stride.
    let a_in_place = a.cs == 1 && a.rs > 0;
    let direct = |row: usize, p0: usize, kc: usize| a_in_place && row + MR <= m && 2 * (p0 + kc) <= k;
    // Rows `m0..m1` against the packed panels `bpan` (panels `q0..` of `b`) over the k
    // block of `kc` pairs from `p0`. `ap` holds those rows of `a` packed for the block,
    // at `kc` lanes per row; `pack_a` says whether to pack them first (tiles that read
    // `a` in place need none).
    let rows =
        |(p0, kc): (usize, usize), m0: usize, m1: usize, q0: usize, bpan: &[i32], ap: &mut [i32], pack_a: bool| {
            // SAFETY (here and below): `available()` held above, which implies the
            // features the packing and the tile are compiled for.
            if pack_a && !a_in_place {
                // Every tile packed, all in one call: lanes side by side (a transposed
                // `a`) are then joined a whole row of `a^T` at a time.
                unsafe { pack::<MR>(&a, m0, m, p0, kc, k, &mut ap[..(m1 - m0).div_ceil(MR) * MR * kc]) };
            } else if pack_a {
                for i0 in (m0..m1).step_by(MR).filter(|&i0| !direct(i0, p0, kc)) {
                    unsafe { pack::<MR>(&a, i0, m, p0, kc, k, &mut ap[(i0 - m0) * kc..][..MR * kc]) };
                }
            }
            // MC rows at a time pass over every panel, so their `a` stays in L2 meanwhile.
            for r in (m0..m1).step_by(MC) {
                for (q, bj) in bpan.chunks_exact(NR * kc).enumerate() {
                    let j0 = (q0 + q) * NR;
                    for i0 in (r..(r + MC).min(m1)).step_by(MR) {
                        let ai = if direct(i0, p0, kc) {
                            (a.data[a.at(i0, 2 * p0)..].as_ptr() as *const u8, 2 * a.rs as usize, 4)
                        } else {
                            (ap[(i0 - m0) * kc..][..MR * kc].as_ptr() as *const u8, 4, 4 * MR)
                        };
                        // SAFETY: the panels hold `kc` pairs of MR and NR lanes; the tile's
                        // MR rows of NR sums lie inside the padded `sums`, its `h` rows of `w`
                        // columns inside `out`, and no other part touches them.
                        unsafe {
                            let prev = (p0 > 0).then(|| (c.add(i0 * nt + j0) as *const f32, nt));
                            let to = if p0 < last {
                                Sums::F32(c.add(i0 * nt + j0), nt)
                            } else {
                                // The last block rounds the tile's sums in registers into
                                // the rows and columns of `out` it covers.
                                Sums::Bf16(o.add(i0 * n + j0), n, MR.min(m - i0), NR.min(n - j0))
                            };
                            tile(kc, ai, bj, prev, to)
                        }
                    }
                }
            }
        };
    let k_blocks = (0..pairs).step_by(KC).map(|p0| (p0, KC.min(pairs - p0)));
    let row_tiles = mt / MR;
    // A part packs every row of `a` it cannot read in place; over several parts that
    // work would repeat, so an `a` that is not row-major splits rows instead (a
    // transposed 1024-square `a` measured 10% slower on 2 threads split by columns).
    if panels % threads == 0 && row_tiles >= threads && (threads == 1 || a_in_place) {
        // Columns, split evenly over the threads: each part packs its own panels of `b`,
        // G at a time, and runs every row over them while they sit in its core's L2. No
        // part waits on another, and the packed panels are written where they are read
        // next (packing all of a part's panels first wrote 1 MiB to lines the tiles
        // then had to fetch back; when the host's shared cache was contended that
        // packing took 600 rather than 80 us at 1024 on 2 threads).
        let per = panels / threads;
        let part = |t: usize| {
            let mut bp = Storage::uninit::<i32>(KC.min(pairs) * G.min(per) * NR);
            let mut ap = Storage::uninit::<i32>(mt * KC.min(pairs));
            for kb @ (p0, kc) in k_blocks.clone() {
                for q in (t * per..(t + 1) * per).step_by(G) {
                    let bpan = &mut bp.as_mut_slice::<i32>()[..kc * NR * G.min((t + 1) * per - q)];
                    unsafe { pack::<NR>(&bt, q * NR, n, p0, kc, k, bpan) };
                    rows(kb, 0, m, q, bpan, ap.as_mut_slice(), q == t * per);
                }
            }
        };
        if threads > 1 {
            (0..threads).into_par_iter().for_each(part);
        } else {
            part(0);
        }
        return;
    }
    // Otherwise rows: per k block, all the threads pack the panels of `b`, then each
    // part takes an equal share of the row tiles; which rows go together changes no
    // sum.
    let part_rows = row_tiles.div_ceil(threads) * MR;
    let mut bp = Storage::uninit::<i32>(KC.min(pairs) * nt);
    for kb @ (p0, kc) in k_blocks {
        let bpan = &mut bp.as_mut_slice::<i32>()[..kc * nt];
        crate::gemm_f32::pack_panel_runs(bpan, NR * kc, Some(threads), |first, run| unsafe {
            pack::<NR>(&bt, first * NR, n, p0, kc, k, run)
        });
        let bpan = &*bpan;
        (0..m).step_by(part_rows).collect::<Vec<_>>().into_par_iter().for_each(|m0| {
            let mut ap = Storage::uninit::<i32>(part_rows * kc);
            rows(kb, m0, (m0 + part_rows).min(m), 0, bpan, ap.as_mut_slice(), true);
        });
    }
}

/// Packs pairs `p0..p0 + kc` of lanes `l0..` of `v` into `out`: whole panels of `W`
/// lanes (`kc * W` each, pair-major), as many as `out` holds. A lane is a row of `v` (a
/// row of `a`, a column of `b`); each 32-bit value holds its elements `2p` (low half) and
/// `2p + 1` (high half), zero past element `k` and lane `lanes`.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f,avx512bw,avx512vl"))]
fn pack<const W: usize>(v: &View, l0: usize, lanes: usize, p0: usize, kc: usize, k: usize, out: &mut [i32]) {
    let at = |l: usize, c: usize| (v.off as isize + l as isize * v.rs + c as isize * v.cs) as usize;
    let join = |lo: bf16, hi: u32| (lo.to_bits() as u32 | hi << 16) as i32;
    if v.rs == 1 {
        // Lanes side by side (a row-major `b`, a transposed `a`): pair by pair, across
        // every panel, so each source row is read once and in order (a panel at a time
        // read 128-byte strips 2 KiB apart down the rows: packing a 1024-square `b` took
        // 4% of its product). Panels narrower than a vector (`a`'s 6 lanes) are joined
        // all at once into `joined` and copied out: joined a panel at a time, each took
        // `join_rows`' scalar tail (a 1024-square product with a transposed `a` took
        // 11.2 ms that way, 10.7 ms this, against 9.9 ms with a row-major `a`).
        let mut joined = vec![0i32; if W.is_multiple_of(16) { 0 } else { out.len() / kc }];
        let strip = (out.len() / kc).min(lanes.saturating_sub(l0));
        for p in 0..kc {
            let c = 2 * (p0 + p);
            let (lo, hi) = (at(l0, c), (c + 1 < k).then(|| at(l0, c + 1)));
            // Fetch the strip that PF_PAIRS pairs from now will read: each pair reads a
            // new pair of rows, too far apart for the hardware prefetcher to follow.
            prefetch_strip(v.data.as_ptr().wrapping_add(at(l0, c + 2 * PF_PAIRS)), v.cs, strip);
            if !joined.is_empty() {
                // SAFETY: `strip` lanes from `l0` lie inside `v`'s rows `c` and `c + 1`.
                unsafe { join_rows(&v.data[lo..][..strip], hi.map(|h| &v.data[h..][..strip]), &mut joined) };
                for (panel, lanes) in out.chunks_mut(kc * W).zip(joined.chunks_exact(W)) {
                    panel[p * W..][..W].copy_from_slice(lanes);
                }
                continue;
            }
            for (q, panel) in out.chunks_mut(kc * W).enumerate() {
                let (first, row) = (q * W, &mut panel[p * W..][..W]);
                let valid = W.min(lanes.saturating_sub(l0 + first));
                // SAFETY: `valid` lanes from `first` lie inside `v`'s rows `c` and `c + 1`.
                unsafe { join_rows(&v.data[lo + first..][..valid], hi.map(|h| &v.data[h + first..][..valid]), row) };
            }
        }
        return;
    }
    for (q, panel) in out.chunks_mut(kc * W).enumerate() {
        let l0 = l0 + q * W;
        let valid = W.min(lanes.saturating_sub(l0));
        if v.cs == 1 {
            // Each lane's elements side by side (a row-major `a`): a lane's pairs are
            // adjacent, read a lane at a time and written at stride W.
            for l in 0..valid {
                let row = &v.data[at(l0 + l, 2 * p0)..];
                for p in 0..kc {
                    let hi = if 2 * (p0 + p) + 1 < k { row[2 * p + 1].to_bits() as u32 } else { 0 };
                    panel[p * W + l] = join(row[2 * p], hi);
                }
            }
            for p in 0..kc {
                panel[p * W + valid..(p + 1) * W].fill(0);
            }
            continue;
        }
        for p in 0..kc {
            let (c, row) = (2 * (p0 + p), &mut panel[p * W..][..W]);
            for (l, o) in row[..valid].iter_mut().enumerate() {
                let hi = if c + 1 < k { v.bits(l0 + l, c + 1) } else { 0 };
                *o = join(v.data[at(l0 + l, c)], hi);
            }
            row[valid..].fill(0);
        }
    }
}

/// Asks for the `lanes` elements from `row` and from the row `cs` elements after it to be
/// brought into cache. A prefetch never faults, so the rows may lie past the matrix.
#[inline(always)]
fn prefetch_strip(row: *const bf16, cs: isize, lanes: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..lanes).step_by(32) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetching reads nothing and cannot fault, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(off) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_offset(cs).wrapping_add(off) as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (row, cs, lanes);
}

/// `out[j] = lo[j] | hi[j] << 16` (hi zero when absent), zero past `lo`'s length:
/// sixteen lanes per step, each half widened to 32 bits.
///
/// # Safety
/// The CPU must have AVX-512 F and BW; `hi`, when given, is as long as `lo`, and `out` at
/// least as long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn join_rows(lo: &[bf16], hi: Option<&[bf16]>, out: &mut [i32]) {
    use std::arch::x86_64::*;
    let n = lo.len();
    let mut j = 0;
    // SAFETY: every access is at `j..j + 16` with `j + 16 <= n`, inside all three slices.
    unsafe {
        while j + 16 <= n {
            let l = _mm512_cvtepu16_epi32(_mm256_loadu_si256(lo.as_ptr().add(j) as *const __m256i));
            let v = match hi {
                Some(h) => {
                    let h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(h.as_ptr().add(j) as *const __m256i));
                    _mm512_or_si512(l, _mm512_slli_epi32::<16>(h))
                }
                None => l,
            };
            _mm512_storeu_si512(out.as_mut_ptr().add(j) as *mut _, v);
            j += 16;
        }
    }
    for (i, o) in out.iter_mut().enumerate().skip(j) {
        let h = hi.map_or(0, |h| h.get(i).map_or(0, |x| x.to_bits() as u32));
        *o = lo.get(i).map_or(0, |x| (x.to_bits() as u32 | h << 16) as i32);
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn join_rows(_: &[bf16], _: Option<&[bf16]>, _: &mut [i32]) {
    unreachable!("no bf16 kernel on this architecture")
}

/// Where a tile's sums go: whole as f32 at a row stride (sums kept between k blocks),
/// or rounded to bf16 into its first `h` rows and `w` columns at a row stride (the last
/// block, straight into the output).
#[derive(Clone, Copy)]
enum Sums {
    F32(*mut f32, usize),
    Bf16(*mut bf16, usize, usize, usize),
}

/// One MR x NR tile: `prev + a-panel . b-panel` over `kc` pairs (`prev`, earlier
/// blocks' sums at its own row stride, or zero), stored as `to` says.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and BF16; `a` holds `kc * MR` lanes, `b` `kc *
/// NR`, `prev` reaches MR rows of NR floats at its stride, and `to` the rows and
/// columns it names at its stride.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn tile(
    kc: usize,
    (a, ars, aks): (*const u8, usize, usize),
    b: &[i32],
    prev: Option<(*const f32, usize)>,
    to: Sums,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract covers every pointer offset below.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        if let Some((p, ldp)) = prev {
            for (i, row) in acc.iter_mut().enumerate() {
                for (v, x) in row.iter_mut().enumerate() {
                    *x = _mm512_loadu_ps(p.add(i * ldp + 16 * v));
                }
            }
        }
        let rows: [*const u8; MR] = std::array::from_fn(|i| a.add(i * ars));
        let mut bp = b.as_ptr();
        for p in 0..kc {
            let bv: [__m512bh; NV] =
                std::array::from_fn(|v| std::mem::transmute(_mm512_loadu_si512(bp.add(16 * v) as *const _)));
            for (row, r) in acc.iter_mut().zip(&rows) {
                let pair = (r.add(p * aks) as *const i32).read_unaligned();
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                for (x, b) in row.iter_mut().zip(&bv) {
                    *x = _mm512_dpbf16_ps(*x, av, *b);
                }
            }
            bp = bp.add(NR);
        }
        match to {
            Sums::F32(c, ldc) => {
                for (i, row) in acc.iter().enumerate() {
                    for (v, x) in row.iter().enumerate() {
                        _mm512_storeu_ps(c.add(i * ldc + 16 * v), *x);
                    }
                }
            }
            Sums::Bf16(o, ldo, h, w) => {
                for (i, row) in acc.iter().enumerate().take(h) {
                    for (v, x) in row.iter().enumerate().take(w.div_ceil(16)) {
                        let lanes = (w - 16 * v).min(16);
                        store_bf16(*x, o.add(i * ldo + 16 * v), (u32::MAX >> (32 - lanes)) as u16);
                    }
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile(_: usize, _: (*const u8, usize, usize), _: &[i32], _: Option<(*const f32, usize)>, _: Sums) {
    unreachable!("no bf16 kernel on this architecture")
}

/// Rounds 16 f32 sums to bf16 (to nearest even, NaN kept quiet) and stores the lanes
/// `mask` selects at `dst`. The instruction flushes subnormal inputs to zero, which
/// sums never are here: the dot-product instruction already flushed them.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and BF16; the selected lanes of `dst` are
/// writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
#[inline]
unsafe fn store_bf16(v: std::arch::x86_64::__m512, dst: *mut bf16, mask: u16) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract.
    unsafe {
        let r: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(v));
        _mm256_mask_storeu_epi16(dst as *mut i16, mask, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<bf16> {
        (0..n).map(|i| bf16::from_f32((((i * 7919 + seed * 104729) % 2003) as f32 / 1001.0) - 1.0)).collect()
    }

    #[test]
    fn products_match_f64_sums() {
        if !available() {
            return; // nothing to check on this CPU
        }
        // Odd k (a zero-padded last pair), edges in m and n, several k blocks, a
        // transposed b, one-element matrices, row blocks split over threads, a
        // row-major b of several panels packed in runs of them over the threads (5
        // panels: rows split), and an even number of panels split by columns over
        // several k blocks, with an edge in n and with a transposed b.
        let cases = [
            (13, 7, 33, false),
            (1, 1, 1, false),
            (30, 600, 70, true),
            (100, 2, 5, false),
            (200, 531, 40, true),
            (37, 2100, 45, false),
            (130, 1031, 300, false),
            (50, 1500, 250, false),
            (20, 1100, 128, true),
        ];
        // Each with a row-major `a` (tiles of full rows read it in place) and a
        // transposed one (every tile packed, once per k block for all of `b`'s panels).
        for ((m, k, n, bt), at) in cases.into_iter().flat_map(|c| [(c, false), (c, true)]) {
            let (av, bv) = (values(m * k, 1), values(k * n, 2));
            // a stored as [k, m] when transposed: element (i, p) at p * m + i.
            let (ars, acs) = if at { (1, m as isize) } else { (k as isize, 1) };
            let a = View { data: &av, off: 0, rs: ars, cs: acs };
            // b stored as [n, k] when transposed: element (p, j) at j * k + p.
            let (rs, cs) = if bt { (1, k as isize) } else { (n as isize, 1) };
            let b = View { data: &bv, off: 0, rs, cs };
            let runs: Vec<Vec<bf16>> = [1, 2]
                .map(|threads| {
                    let mut out = vec![bf16::ZERO; m * n];
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| matmul(a, b, [m, k, n], &mut out, threads));
                    out
                })
                .to_vec();
            assert!(
                runs[0].iter().zip(&runs[1]).all(|(x, y)| x.to_bits() == y.to_bits()),
                "({m},{k},{n},{at}) threads"
            );
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| {
                            av[(i as isize * ars + p as isize * acs) as usize].to_f64()
                                * b.data[(p as isize * rs + j as isize * cs) as usize].to_f64()
                        })
                        .sum();
                    let got = runs[0][i * n + j].to_f64();
                    // One bf16 rounding of the sum, plus f32 summation error.
                    assert!(
                        (got - want).abs() <= 4e-3 * want.abs() + 1e-5 * k as f64,
                        "({m},{k},{n},{at}) [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn subnormal_sums_flush_to_zero() {
        if !available() {
            return;
        }
        // 2^-60 * 2^-60 is a normal f32 and stays; 2^-70 * 2^-70 is subnormal and the
        // instruction flushes it to zero, as the module documents.
        for (e, want) in [(-60, 2f32.powi(-120)), (-70, 0.0)] {
            let x = [bf16::from_f32(2f32.powi(e)), bf16::ZERO];
            let a = View { data: &x, off: 0, rs: 2, cs: 1 };
            let b = View { data: &x, off: 0, rs: 1, cs: 1 };
            let mut out = [bf16::ONE];
            matmul(a, b, [1, 2, 1], &mut out, 1);
            assert_eq!(out[0].to_f32(), want, "2^{e} squared");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn rounding_to_bf16_is_to_nearest_even() {
        if !available() {
            return;
        }
        // Two ties (to even: down, then up), overflow to infinity, zeros, NaN, and the
        // smallest normal: every kind of sum the tile holds (never a subnormal).
        let tie = |bits: u32| f32::from_bits(bits);
        let xs = [
            1.0f32,
            tie(0x3f80_8000),
            tie(0x3f81_8000),
            -3.3e38,
            f32::MAX,
            f32::INFINITY,
            -0.0,
            f32::MIN_POSITIVE,
            f32::NAN,
            0.1,
            -f32::INFINITY,
            tie(0xffc1_2345),
            65504.0,
            -1e-30,
            3.0e-38,
            7.0,
        ];
        // Only the first 13 lanes are written: the rest keep their sentinel.
        let mut got = [bf16::from_f32(42.0); 16];
        // SAFETY: checked just above; the 16 lanes are writable.
        unsafe {
            store_bf16(std::mem::transmute::<[f32; 16], std::arch::x86_64::__m512>(xs), got.as_mut_ptr(), 0x1fff)
        };
        for (i, (x, g)) in xs.iter().zip(&got).enumerate() {
            // A NaN keeps its sign and upper payload, made quiet.
            let want = match (i < 13, x.is_nan()) {
                (false, _) => bf16::from_f32(42.0).to_bits(),
                (true, true) => (x.to_bits() >> 16) as u16 | 0x40,
                (true, false) => bf16::from_f32(*x).to_bits(),
            };
            assert_eq!(g.to_bits(), want, "lane {i}: {x}");
        }
    }
}
