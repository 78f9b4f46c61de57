//! f32 matrix multiply on AVX-512 FMA, for the products [`takes`] accepts and the
//! convolution weight gradients [`takes_col_major_b`] does; `matmul.rs` sends the others
//! to the `gemm` crate.
//!
//! The layout is the usual one for such kernels: `k` is cut into blocks of [`KC`]; per
//! block, `b` is packed into panels of [`NR`] columns, and an MR x NR register tile of
//! sums takes one broadcast of `a` and [`NV`] FMAs per row and k. A row-major `a` is read
//! in place (its [`MR`] rows at their own stride); other layouts, and the rows at the
//! matrix's edge, are packed into panels of MR rows. Each tile sums its k block from zero
//! and adds that to the output, whose lines it fetches for writing early in its loop, so
//! the output (often in memory) is not waited for. Every tile adds its k blocks in order,
//! one after another, so the result does not depend on the thread count (threads take
//! disjoint rows). Tiles cut by the matrix's edge go through an L1 scratch tile.

use crate::storage::Storage;
use rayon::prelude::*;

/// Rows of the register tile, and its columns in 16-lane vectors: six rows (few enough
/// for a row-major `a` read in place to stay within L1's ways at power-of-two strides)
/// of four vectors, 24 accumulators. 12 x 32, 7 x 64 and 8 x 48 measured no faster.
const MR: usize = 6;
const NV: usize = 4;
pub(crate) const NR: usize = 16 * NV;
/// k per block: a panel of `b` is then 128 KiB, in L2 (256 and 384 measured slower, from
/// the extra passes over the output).
const KC: usize = 512;
/// Rows per block of `a` (a multiple of MR), which every panel of `b` is run against in
/// turn while it stays in L2; 192 measured no faster.
const MC: usize = 96;
const _: () = assert!(MC.is_multiple_of(MR) && MR == 6);

/// Whether this CPU has the instructions.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `matmul.rs` should send an `m x k @ k x n` product with these column strides
/// of `a` and `b` here rather than to the `gemm` crate: large products of row-major
/// operands, over several k blocks or with a sum of at least 256 into a million outputs
/// or more, where this kernel measured 3-7% faster (1024 and 2048 square; 1024 x 256 x
/// 1024, 2048 x 384 x 2048 and 4096 x 512 x 4096, single threaded). Transposed operands
/// (a linear layer's `x @ W^T`), short sums (k = 128) and small products (256 square,
/// attention heads narrower than a panel) measured faster on `gemm`.
pub(crate) fn takes([m, k, n]: [usize; 3], a_cs: isize, b_cs: isize) -> bool {
    let large = k > KC || (k >= 256 && m * n >= 1 << 20);
    a_cs == 1 && b_cs == 1 && m >= 256 && n >= 256 && large && available()
}

/// Whether a convolution product with a row-major `a` and a column-major `b` runs here:
/// the weight gradient of a pointwise layer read in place (the input times the
/// transposed output gradient), whose sum runs over an example's output positions. With
/// that sum long (over one block) the kernel measured about 10% faster than the gemm
/// crate on a ResNet layer's shapes (64 channels, 32 x 32 planes). Other f32 layers
/// fill their windows into this kernel ([`matmul_filled`], [`matmul_filled_a`]).
pub(crate) fn takes_col_major_b(k: usize, a_cs: usize, b_rs: usize) -> bool {
    a_cs == 1 && b_rs == 1 && k > KC && available()
}

/// A strided matrix in a slice: storage, offset, row and column strides (the f32 and
/// bf16 kernels' operands).
#[derive(Clone, Copy)]
pub(crate) struct View<'a, T> {
    pub data: &'a [T],
    pub off: usize,
    pub rs: isize,
    pub cs: isize,
}

impl<T> View<'_, T> {
    /// Where element (i, j) is in `data`.
    #[inline(always)]
    pub(crate) fn at(&self, i: usize, j: usize) -> usize {
        (self.off as isize + i as isize * self.rs + j as isize * self.cs) as usize
    }

    /// The transpose (rows become columns), a view of the same data.
    pub(crate) fn t(self) -> Self {
        View { rs: self.cs, cs: self.rs, ..self }
    }
}

/// Whether a product `[m, k, n]` into `out_len` elements at row stride `ldo` has any
/// output; panics where the kernel cannot run it (no AVX-512, an empty sum, an output
/// too short or narrower than `n`).
fn has_work([m, k, n]: [usize; 3], (out_len, ldo): (usize, usize)) -> bool {
    assert!(available() && k > 0 && ldo >= n, "f32 kernel on a CPU without AVX-512, or an empty sum");
    if m * n == 0 {
        return false;
    }
    assert!(out_len >= (m - 1) * ldo + n, "output too short");
    true
}

/// `out (+)= a (m x k) @ b (k x n)`, `out` row-major at row stride `ldo` (its rows past
/// the `n`-th column untouched); adds to `out` when `accumulate`. `k > 0`. Panics unless
/// [`available`].
pub(crate) fn matmul(
    a: View<f32>,
    b: View<f32>,
    [m, k, n]: [usize; 3],
    (out, ldo, accumulate): (&mut [f32], usize, bool),
    threads: usize,
) {
    if !has_work([m, k, n], (out.len(), ldo)) {
        return;
    }
    let nt = n.div_ceil(NR) * NR;
    let mut bp = Storage::uninit::<f32>(KC.min(k) * nt);
    let part_rows = part_rows(m, threads);
    let bt = b.t();
    let direct = a.cs == 1 && a.rs > 0;
    // The tiles read a row-major `a` through raw pointers: its last element must lie in
    // its storage (the packing paths index, and so check, every element they read).
    assert!(!direct || a.at(m - 1, k - 1) < a.data.len(), "a reaches past its storage");
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let add = accumulate || p0 > 0;
        let bpan = &mut bp.as_mut_slice::<f32>()[..kc * nt];
        // SAFETY (here and below): `available()` held above.
        pack_panel_runs(bpan, NR * kc, (part_rows < m).then_some(threads), |first, run| unsafe {
            pack::<NR>(&bt, first * NR, n, p0, kc, run)
        });
        let bpan = &*bpan;
        let part = |(i, dst): (usize, &mut [f32])| {
            let m0 = i * part_rows;
            let rows = part_rows.min(m - m0);
            let mut ap = Storage::uninit::<f32>(MC.min(rows.div_ceil(MR) * MR) * kc);
            let ap = ap.as_mut_slice::<f32>();
            let mut t = [0f32; MR * NR];
            for r0 in (0..rows).step_by(MC) {
                let mc = MC.min(rows - r0);
                for i0 in (0..mc).step_by(MR) {
                    if !direct || mc - i0 < MR {
                        unsafe { pack::<MR>(&a, m0 + r0 + i0, m, p0, kc, &mut ap[i0 * kc..][..MR * kc]) };
                    }
                }
                for j0 in (0..nt).step_by(NR) {
                    let bj = &bpan[j0 * kc..][..NR * kc];
                    let w = NR.min(n - j0);
                    for i0 in (0..mc).step_by(MR) {
                        let h = MR.min(mc - i0);
                        // A row-major `a` is read in place, rows at its own stride.
                        let ai = if direct && h == MR {
                            (a.data[a.at(m0 + r0 + i0, p0)..].as_ptr(), a.rs as usize, 1)
                        } else {
                            (ap[i0 * kc..][..MR * kc].as_ptr(), 1, MR)
                        };
                        let at = (r0 + i0) * ldo + j0;
                        // SAFETY: `ai` reaches `h` rows of `kc` values, of `a` (checked
                        // above) or of its panel; the panel of `b` holds `kc` lanes of NR.
                        unsafe { put_tile([h, w, kc], ai, bj.as_ptr(), (dst, at, ldo), add, &mut t) };
                    }
                }
            }
        };
        for_row_parts(out, [m, part_rows, ldo], part);
    }
}

/// Most k per block when the caller fills the panels of `b` ([`matmul_filled`]): a 3x3
/// window over 64 channels (576) is one block, so each output tile is stored once; its
/// panel is then at most 160 KiB, in L2 beside the rows of `a`.
const KC_FILLED: usize = 640;

/// Writes rows `p0..p0 + kc` of columns `j0..j0 + width` of a matrix into `panel` (`kc`
/// rows of [`NR`] lanes, lane `l` holding column `j0 + l`, zero past `width`), given
/// `(p0, kc, j0, width, panel)`.
pub(crate) trait FillPanel: Fn(usize, usize, usize, usize, &mut [f32]) + Sync {}
impl<F: Fn(usize, usize, usize, usize, &mut [f32]) + Sync> FillPanel for F {}

/// `out = a (m x k) @ b (k x n)`, `a` row-major (rows at any stride), where `fill` lays
/// out `b` a panel at a time straight from wherever its values live (a convolution's
/// windows from its input), so the whole of `b` never exists. Panels run left to right,
/// each against every row of `a`, which stays in cache; `out` is row-major at row stride
/// `ldo` and overwritten (its rows past the `n`-th column untouched). `k > 0`. With
/// several threads each takes a share of the rows and fills its own panels. Panics
/// unless [`available`].
pub(crate) fn matmul_filled(
    a: View<f32>,
    [m, k, n]: [usize; 3],
    fill: &impl FillPanel,
    (out, ldo): (&mut [f32], usize),
    threads: usize,
) {
    assert!(a.cs == 1 && a.rs > 0, "f32 kernel: a not row-major");
    if !has_work([m, k, n], (out.len(), ldo)) {
        return;
    }
    assert!(a.at(m - 1, k - 1) < a.data.len(), "a reaches past its storage");
    let blocks = k_blocks(k, KC_FILLED);
    let kcm = blocks.clone().next().map_or(1, |(_, kc)| kc);
    let part_rows = part_rows(m, threads);
    let part = |(i, dst): (usize, &mut [f32])| {
        let (m0, rows) = (i * part_rows, part_rows.min(m - i * part_rows));
        let full = rows / MR * MR;
        // The last rows, short of a tile, packed once per k block with zeros below them.
        let mut edge = Storage::uninit::<f32>(if full < rows { k.div_ceil(kcm) * MR * kcm } else { 0 });
        if full < rows {
            for (b, (p0, kc)) in blocks.clone().enumerate() {
                let to = &mut edge.as_mut_slice::<f32>()[b * MR * kcm..][..MR * kc];
                // SAFETY: `available()` held above.
                unsafe { pack::<MR>(&a, m0 + full, m0 + rows, p0, kc, to) };
            }
        }
        let edge = edge.as_slice::<f32>();
        let mut panel = Storage::uninit::<f32>(kcm * NR);
        let panel = panel.as_mut_slice::<f32>();
        let mut t = [0f32; MR * NR];
        for j0 in (0..n).step_by(NR) {
            let w = NR.min(n - j0);
            for (b, (p0, kc)) in blocks.clone().enumerate() {
                fill(p0, kc, j0, w, &mut panel[..kc * NR]);
                let (bp, add) = (panel.as_ptr(), p0 > 0);
                for i0 in (0..rows).step_by(MR) {
                    let ai = if i0 < full {
                        (a.data[a.at(m0 + i0, p0)..].as_ptr(), a.rs as usize, 1)
                    } else {
                        (edge[b * MR * kcm..].as_ptr(), 1, MR)
                    };
                    let h = MR.min(rows - i0);
                    // SAFETY: `ai` reaches `h` rows of `kc` values, of `a` (checked
                    // above) or of the packed edge; the panel holds `kc` rows of NR lanes.
                    unsafe { put_tile([h, w, kc], ai, bp, (dst, i0 * ldo + j0, ldo), add, &mut t) };
                }
            }
        }
    };
    for_row_parts(out, [m, part_rows, ldo], part);
}

/// Most k per block of [`matmul_filled_a`]: a panel of `b` is then 128 KiB, in L2, and
/// a strip of `a` 12 KiB, in L1.
const KC_STRIPS: usize = 512;

/// Writes rows `i0..i0 + h` (`h <= MR`) of columns `p0..p0 + kc` of a matrix into
/// `strip` (`h` rows at stride `ld`, a multiple of 16 at least `kc`; lanes past `kc`
/// zero), given `(i0, h, p0, kc, ld, strip)`.
pub(crate) trait FillStrip: Fn(usize, usize, usize, usize, usize, &mut [f32]) + Sync {}
impl<F: Fn(usize, usize, usize, usize, usize, &mut [f32]) + Sync> FillStrip for F {}

/// The k blocks of [`matmul_filled_a`] for a sum of `k`: `(p0, kc)` each.
pub(crate) fn strip_blocks(k: usize) -> impl Iterator<Item = (usize, usize)> + Clone {
    k_blocks(k, KC_STRIPS)
}

/// A sum of `k` cut into blocks of at most `most`, as even as they can be (576 is one
/// block of 576 under 640, not 512 and 64): `(p0, kc)` each.
fn k_blocks(k: usize, most: usize) -> impl Iterator<Item = (usize, usize)> + Clone {
    let kc = k.div_ceil(k.div_ceil(most).max(1)).max(1);
    (0..k).step_by(kc).map(move |p0| (p0, kc.min(k - p0)))
}

/// Rows per share of a product's output split over `threads` (whole tiles each); all
/// of them on one thread.
fn part_rows(m: usize, threads: usize) -> usize {
    if threads > 1 && m > MR {
        m.div_ceil(MR).div_ceil(threads) * MR
    } else {
        m
    }
}

/// Runs `part(i, share)` on each share of the `m` rows of `out` (row stride `ldo`),
/// `part_rows` rows each (from [`part_rows`]), in parallel when there are several.
fn for_row_parts(out: &mut [f32], [m, part_rows, ldo]: [usize; 3], part: impl Fn((usize, &mut [f32])) + Sync + Send) {
    if part_rows < m {
        let shares = out.chunks_mut(part_rows * ldo).take(m.div_ceil(part_rows)).enumerate();
        shares.collect::<Vec<_>>().into_par_iter().for_each(part);
    } else {
        part((0, out));
    }
}

/// The `h x w` tile at `dst[at..]` (row stride `ldo`) over `kc`: straight into `dst`
/// when it is NR wide, else through the scratch tile `t`, of which only the valid part
/// is read and written back.
///
/// # Safety
/// As for [`tile`] with R = `h`; the tile's `h` rows of `w` lie inside `dst`.
unsafe fn put_tile(
    [h, w, kc]: [usize; 3],
    a: (*const f32, usize, usize),
    b: *const f32,
    (dst, at, ldo): (&mut [f32], usize, usize),
    add: bool,
    t: &mut [f32; MR * NR],
) {
    if w == NR {
        assert!(dst.len() >= at + (h - 1) * ldo + NR, "tile past the output");
        // SAFETY: the caller's contract; the tile's rows are inside `dst` (asserted).
        unsafe { tile_rows(h, kc, a, b, dst[at..].as_mut_ptr(), ldo, add) };
        return;
    }
    if add {
        for r in 0..h {
            t[r * NR..][..w].copy_from_slice(&dst[at + r * ldo..][..w]);
        }
    }
    // SAFETY: the caller's contract, into the scratch tile's first `h` rows.
    unsafe { tile_rows(h, kc, a, b, t.as_mut_ptr(), NR, add) };
    for r in 0..h {
        dst[at + r * ldo..][..w].copy_from_slice(&t[r * NR..][..w]);
    }
}

/// `out (+)= a (m x k) @ b (k x n)` (adds when `accumulate`), where `fill` lays out `a`
/// a strip of MR rows at a time straight from wherever its values live (a convolution's
/// windows, for its weight gradient), so the whole of `a` never exists. Per k block
/// (see [`strip_blocks`]) `b` is packed in panels, then each strip is filled and run
/// against every panel; `out` is row-major at row stride `ldo`. `k > 0`. With several
/// threads each takes a share of the rows and packs its own panels. Panics unless
/// [`available`].
pub(crate) fn matmul_filled_a(
    fill: &impl FillStrip,
    b: View<f32>,
    [m, k, n]: [usize; 3],
    (out, ldo, accumulate): (&mut [f32], usize, bool),
    threads: usize,
) {
    if !has_work([m, k, n], (out.len(), ldo)) {
        return;
    }
    let nt = n.div_ceil(NR) * NR;
    let kcm = strip_blocks(k).next().map_or(1, |(_, kc)| kc);
    let ld = kcm.next_multiple_of(16);
    let part_rows = part_rows(m, threads);
    let bt = b.t();
    let part = |(i, dst): (usize, &mut [f32])| {
        let (m0, rows) = (i * part_rows, part_rows.min(m - i * part_rows));
        let mut bp = Storage::uninit::<f32>(kcm * nt);
        let mut strip = Storage::uninit::<f32>(MR * ld);
        let strip = strip.as_mut_slice::<f32>();
        let mut t = [0f32; MR * NR];
        for (p0, kc) in strip_blocks(k) {
            let add = accumulate || p0 > 0;
            let bpan = &mut bp.as_mut_slice::<f32>()[..kc * nt];
            // SAFETY: `available()` held above.
            unsafe { pack::<NR>(&bt, 0, n, p0, kc, bpan) };
            for i0 in (0..rows).step_by(MR) {
                let h = MR.min(rows - i0);
                fill(m0 + i0, h, p0, kc, ld, &mut strip[..h * ld]);
                let ai = (strip.as_ptr(), ld, 1);
                for j0 in (0..nt).step_by(NR) {
                    let (bj, w) = (bpan[j0 * kc..].as_ptr(), NR.min(n - j0));
                    // SAFETY: the strip holds `h` rows of `kc` values at stride `ld`;
                    // the panel `kc` rows of NR lanes.
                    unsafe { put_tile([h, w, kc], ai, bj, (dst, i0 * ldo + j0, ldo), add, &mut t) };
                }
            }
        }
    };
    for_row_parts(out, [m, part_rows, ldo], part);
}

/// [`tile`] on `h` rows (1 to MR): the last rows of a product run on a tile of their own
/// height, so a 64-row product (a ResNet layer's channels) is ten tiles of six and one
/// of four, not eleven of six.
///
/// # Safety
/// As for [`tile`] with R = `h`.
unsafe fn tile_rows(
    h: usize,
    kc: usize,
    a: (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    // SAFETY: the caller's contract.
    unsafe {
        match h {
            MR => tile::<MR>(kc, a, b, c, ldc, add),
            5 => tile::<5>(kc, a, b, c, ldc, add),
            4 => tile::<4>(kc, a, b, c, ldc, add),
            3 => tile::<3>(kc, a, b, c, ldc, add),
            2 => tile::<2>(kc, a, b, c, ldc, add),
            _ => tile::<1>(kc, a, b, c, ldc, add),
        }
    }
}

/// Fills `panels` (whole panels of `len` values each) by `pack(first panel, run)`: over
/// `threads` runs of whole panels in parallel when given, else in one run.
pub(crate) fn pack_panel_runs<T: Send>(
    panels: &mut [T],
    len: usize,
    threads: Option<usize>,
    pack: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    match threads {
        Some(t) => {
            let per = (panels.len() / len).div_ceil(t).max(1);
            panels.par_chunks_mut(per * len).enumerate().for_each(|(g, run)| pack(g * per, run));
        }
        None => pack(0, panels),
    }
}

/// Packs columns `p0..p0 + kc` of rows (lanes) `l0..` of `v` into `out`: whole panels
/// of `W` lanes (`kc * W` each, column-major: the W lanes of one column side by side), as
/// many as `out` holds, zero past lane `lanes`.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f"))]
fn pack<const W: usize>(v: &View<f32>, l0: usize, lanes: usize, p0: usize, kc: usize, out: &mut [f32]) {
    if v.rs == 1 {
        // Lanes side by side (a row-major `b`): column by column across every panel, so
        // each source row is read once and in order rather than in W-wide strips.
        for p in 0..kc {
            let src = &v.data[v.at(l0, p0 + p)..];
            for (q, panel) in out.chunks_mut(kc * W).enumerate() {
                let (first, dst) = (q * W, &mut panel[p * W..][..W]);
                let valid = W.min(lanes.saturating_sub(l0 + first));
                if valid == W {
                    // A constant length: inline vector moves rather than a call per panel.
                    dst.copy_from_slice(&src[first..][..W]);
                } else {
                    dst[..valid].copy_from_slice(&src[first..][..valid]);
                    dst[valid..].fill(0.0);
                }
            }
        }
        return;
    }
    for (q, out) in out.chunks_mut(kc * W).enumerate() {
        let l0 = l0 + q * W;
        let valid = W.min(lanes.saturating_sub(l0));
        if v.cs == 1 {
            // Each lane's elements side by side (a row-major `a`): read a lane at a time.
            for l in 0..valid {
                let row = &v.data[v.at(l0 + l, p0)..][..kc];
                for (p, &x) in row.iter().enumerate() {
                    out[p * W + l] = x;
                }
            }
            if valid < W {
                for p in 0..kc {
                    out[p * W + valid..(p + 1) * W].fill(0.0);
                }
            }
            continue;
        }
        for p in 0..kc {
            let dst = &mut out[p * W..][..W];
            for (l, o) in dst[..valid].iter_mut().enumerate() {
                *o = v.data[v.at(l0 + l, p0 + p)];
            }
            dst[valid..].fill(0.0);
        }
    }
}

/// One R x NR tile (R = MR but for the last rows of a product): `c (+)= a-panel .
/// b-panel` over `kc` (adds to `c` when `add`), `c` at row stride `ldc`.
///
/// # Safety
/// The CPU must have AVX-512 F; `a` reaches `kc` values of R rows, `b` `kc * NR`, and
/// `c` R rows of NR floats at stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize>(
    kc: usize,
    (a, ars, aks): (*const f32, usize, usize),
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract covers every pointer offset below.
    unsafe {
        // The block's sums start from zero and are added to `c` at the end, so the
        // tile's lines of `c` (often in memory) are not waited for: the loop below
        // fetches them for writing, one line per four k, over its first R * NV * 4
        // steps. Fetched for writing even when `c` is overwritten, since a store to a
        // line not in cache must read it first; spread out rather than all at once, so
        // they do not hold the fill buffers the stream of `b` needs. Measured 3-4% at
        // 1024 and 2048 over fetching them all at the start for reading (and only when
        // adding).
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        let c_line = |l: usize| c.add(l / NV * ldc + 16 * (l % NV)) as *const i8;
        let rows: [*const f32; R] = std::array::from_fn(|i| a.add(i * ars));
        let mut bp = b;
        let step = |acc: &mut [[__m512; NV]; R], p: usize, bp: *const f32| {
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(bp.add(16 * v));
            }
            for (row, r) in acc.iter_mut().zip(&rows) {
                let av = _mm512_set1_ps(*r.add(p * aks));
                for (x, b) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, *b, *x);
                }
            }
        };
        let mut p = 0;
        while p + 4 <= kc {
            // Rows of `a` read in place are six strided streams: fetch each two lines
            // ahead (measured 1-2% at 1024 and 2048; for a packed panel it is a fetch
            // of the panel ahead). Past the end it fetches nothing useful but touches
            // nothing either: a prefetch never faults.
            for r in &rows {
                _mm_prefetch::<_MM_HINT_T0>(r.wrapping_add((p + 32) * aks) as *const i8);
            }
            if p < R * NV * 4 {
                _mm_prefetch::<_MM_HINT_ET0>(c_line(p / 4));
            }
            step(&mut acc, p, bp);
            step(&mut acc, p + 1, bp.add(NR));
            step(&mut acc, p + 2, bp.add(2 * NR));
            step(&mut acc, p + 3, bp.add(3 * NR));
            bp = bp.add(4 * NR);
            p += 4;
        }
        while p < kc {
            step(&mut acc, p, bp);
            bp = bp.add(NR);
            p += 1;
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let at = c.add(i * ldc + 16 * v);
                _mm512_storeu_ps(at, if add { _mm512_add_ps(_mm512_loadu_ps(at), *x) } else { *x });
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile<const R: usize>(_: usize, _: (*const f32, usize, usize), _: *const f32, _: *mut f32, _: usize, _: bool) {
    unreachable!("no AVX-512 kernel on this architecture")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 / 1001.0) - 1.0).collect()
    }

    #[test]
    fn products_match_f64_sums() {
        if !available() {
            return; // nothing to check on this CPU
        }
        // (m, k, n, a layout, b layout): edges in m and n, several k blocks (k > KC, and
        // a last block of one), one-element matrices, row parts split over threads, and
        // each packing path: row-major, transposed and strided (every other column); a
        // row-major `b` of several panels, packed in runs of them over the threads.
        let cases = [
            (13, 7, 33, 0, 0),
            (1, 1, 1, 0, 0),
            (30, 600, 70, 1, 1),
            (100, 2, 5, 2, 2),
            (200, 1025, 130, 0, 1),
            (37, 1100, 64, 1, 0),
            (6, 300, 64, 0, 2),
            (50, 530, 300, 0, 0),
        ];
        for (m, k, n, la, lb) in cases {
            // A matrix of `rows x cols` in one of three layouts, with its element (i, j).
            let make = |rows: usize, cols: usize, layout: usize, seed: usize| {
                let data = values(2 * rows * cols, seed);
                let (rs, cs) = match layout {
                    0 => (cols as isize, 1),
                    1 => (1, rows as isize),
                    _ => (2 * cols as isize, 2),
                };
                (data, rs, cs)
            };
            let (ad, ars, acs) = make(m, k, la, 1);
            let (bd, brs, bcs) = make(k, n, lb, 2);
            let a = View { data: &ad, off: 0, rs: ars, cs: acs };
            let b = View { data: &bd, off: 0, rs: brs, cs: bcs };
            // The output at a row stride past n, with a sentinel in the gap, added to.
            let ldo = n + 3;
            let start: Vec<f32> = values(m * ldo, 3);
            let runs: Vec<Vec<f32>> = [1, 2]
                .map(|threads| {
                    let mut out = start.clone();
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| matmul(a, b, [m, k, n], (&mut out, ldo, true), threads));
                    out
                })
                .to_vec();
            assert!(runs[0].iter().zip(&runs[1]).all(|(x, y)| x.to_bits() == y.to_bits()), "({m},{k},{n}) threads");
            for i in 0..m {
                for j in 0..ldo {
                    let got = runs[0][i * ldo + j] as f64;
                    if j >= n {
                        assert_eq!(got, start[i * ldo + j] as f64, "({m},{k},{n}) gap [{i},{j}] written");
                        continue;
                    }
                    let want: f64 = start[i * ldo + j] as f64
                        + (0..k).map(|p| ad[a.at(i, p)] as f64 * bd[b.at(p, j)] as f64).sum::<f64>();
                    assert!((got - want).abs() <= 1e-5 * (1.0 + k as f64), "({m},{k},{n}) [{i},{j}]: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn a_fresh_output_is_overwritten() {
        if !available() {
            return;
        }
        let (m, k, n) = (7, 520, 40);
        let (ad, bd) = (values(m * k, 4), values(k * n, 5));
        let a = View { data: &ad, off: 0, rs: k as isize, cs: 1 };
        let b = View { data: &bd, off: 0, rs: n as isize, cs: 1 };
        let mut out = vec![f32::NAN; m * n];
        matmul(a, b, [m, k, n], (&mut out, n, false), 1);
        for (i, row) in out.chunks(n).enumerate() {
            for (j, &got) in row.iter().enumerate() {
                let want: f64 = (0..k).map(|p| ad[i * k + p] as f64 * bd[p * n + j] as f64).sum();
                assert!((got as f64 - want).abs() <= 1e-3, "[{i},{j}]: {got} vs {want}");
            }
        }
    }

    #[test]
    fn only_large_row_major_products_come_here() {
        let big = [1024, 1024, 1024];
        assert_eq!(takes(big, 1, 1), available());
        assert!(!takes(big, 1, 1024) && !takes(big, 1024, 1));
        assert_eq!(takes([1024, KC, 1024], 1, 1), available());
        assert!(!takes([512, KC, 512], 1, 1) && !takes([1024, 128, 1024], 1, 1) && !takes([128, 1024, 1024], 1, 1));
    }
}
