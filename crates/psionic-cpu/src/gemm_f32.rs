//! f32 matrix multiply on the register tiles of [`crate::gemm_tiles`] (AVX-512, or AVX2
//! with FMA): the products [`takes`] accepts and the convolution weight gradients
//! [`takes_col_major_b`] does (both on AVX-512, where they were measured faster), and
//! the convolution products whose windows are laid out straight into the kernel's
//! panels ([`matmul_filled`], [`matmul_filled_a`]) on either; `matmul.rs` sends the
//! others to the `gemm` crate.
//!
//! The layout is the usual one for such kernels: `k` is cut into blocks of [`KC`]; per
//! block, `b` is packed into panels of `nr` columns (the instruction set's
//! [`Isa::nr`]), and an MR x nr register tile of sums takes one broadcast of `a` and
//! `nr / lanes` FMAs per row and k. A row-major `a` is read in place (its [`MR`] rows at
//! their own stride); other layouts, and the rows at the matrix's edge, are packed into
//! panels of MR rows. Each tile sums its k block from zero and adds that to the output.
//! Every tile adds its k blocks in order, one after another, so the result does not
//! depend on the thread count (threads take disjoint rows). Tiles cut by the matrix's
//! edge go through an L1 scratch tile.

use crate::gemm_tiles::{tile_rows, Isa, MAX_NR, MR};
use crate::storage::Storage;
use rayon::prelude::*;

/// k per block: an AVX-512 panel of `b` is then 128 KiB, in L2 (256 and 384 measured
/// slower, from the extra passes over the output).
const KC: usize = 512;
/// Rows per block of `a` (a multiple of MR), which every panel of `b` is run against in
/// turn while it stays in L2; 192 measured no faster.
const MC: usize = 96;
const _: () = assert!(MC.is_multiple_of(MR) && MR == 6);

/// Whether this CPU has the instructions of either tile.
pub fn available() -> bool {
    crate::gemm_tiles::isa().is_some()
}

/// The instruction set the kernel runs on; panics where there is none.
pub(crate) fn isa() -> Isa {
    crate::gemm_tiles::isa().expect("f32 kernel on a CPU without AVX-512 or AVX2 with FMA")
}

/// Whether plain products run here: on AVX-512, where they were measured against the
/// `gemm` crate (on AVX2 its own kernel stays).
pub(crate) fn plain_products() -> bool {
    crate::gemm_tiles::isa() == Some(Isa::Avx512)
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
    a_cs == 1 && b_cs == 1 && m >= 256 && n >= 256 && large && plain_products()
}

/// Whether a convolution product with a row-major `a` and a column-major `b` runs here:
/// the weight gradient of a pointwise layer read in place (the input times the
/// transposed output gradient), whose sum runs over an example's output positions. With
/// that sum long (over one block) the kernel measured about 10% faster than the gemm
/// crate on a ResNet layer's shapes (64 channels, 32 x 32 planes). Other f32 layers
/// fill their windows into this kernel ([`matmul_filled`], [`matmul_filled_a`]).
pub(crate) fn takes_col_major_b(k: usize, a_cs: usize, b_rs: usize) -> bool {
    a_cs == 1 && b_rs == 1 && k > KC && plain_products()
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
/// output; panics where the kernel cannot run it (an empty sum, an output too short or
/// narrower than `n`).
fn has_work([m, k, n]: [usize; 3], (out_len, ldo): (usize, usize)) -> bool {
    assert!(k > 0 && ldo >= n, "f32 kernel: an empty sum, or an output narrower than n");
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
    let isa = isa();
    if !has_work([m, k, n], (out.len(), ldo)) {
        return;
    }
    let nr = isa.nr();
    let nt = n.div_ceil(nr) * nr;
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
        pack_panel_runs(bpan, nr * kc, (part_rows < m).then_some(threads), |first, run| {
            pack_b(isa, &bt, first * nr, n, p0, kc, run)
        });
        let bpan = &*bpan;
        let part = |(i, dst): (usize, &mut [f32])| {
            let m0 = i * part_rows;
            let rows = part_rows.min(m - m0);
            let mut ap = Storage::uninit::<f32>(MC.min(rows.div_ceil(MR) * MR) * kc);
            let ap = ap.as_mut_slice::<f32>();
            let mut t = [0f32; MR * MAX_NR];
            for r0 in (0..rows).step_by(MC) {
                let mc = MC.min(rows - r0);
                for i0 in (0..mc).step_by(MR) {
                    if !direct || mc - i0 < MR {
                        pack_a(isa, &a, m0 + r0 + i0, m, p0, kc, &mut ap[i0 * kc..][..MR * kc]);
                    }
                }
                for j0 in (0..nt).step_by(nr) {
                    let bj = &bpan[j0 * kc..][..nr * kc];
                    let w = nr.min(n - j0);
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
                        // above) or of its panel; the panel of `b` holds `kc` lanes of nr.
                        unsafe { put_tile(isa, [h, w, kc], ai, bj.as_ptr(), (dst, at, ldo), add, &mut t) };
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

/// Columns of `b` a [`FillPanel`] lays out at once: one AVX-512 panel or four AVX2
/// ones, so that the work of a fill per row of `b` (a convolution's tap and channel) is
/// spread over 64 lanes.
const FILL_SPAN: usize = 64;

/// Writes rows `p0..p0 + kc` of columns `j0..j0 + width` of a matrix into `panels`:
/// `panels.len() / (kc * nr)` consecutive panels of `kc` rows of `nr` lanes
/// (`nr = isa.nr()`, the kernel's), lane `l` of panel `q` holding column `j0 + q * nr +
/// l`, zero past `width`; given `(isa, p0, kc, j0, width, panels)`.
pub(crate) trait FillPanel: Fn(Isa, usize, usize, usize, usize, &mut [f32]) + Sync {}
impl<F: Fn(Isa, usize, usize, usize, usize, &mut [f32]) + Sync> FillPanel for F {}

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
    let isa = isa();
    if !has_work([m, k, n], (out.len(), ldo)) {
        return;
    }
    let nr = isa.nr();
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
                pack_a(isa, &a, m0 + full, m0 + rows, p0, kc, to);
            }
        }
        let edge = edge.as_slice::<f32>();
        let mut panels = Storage::uninit::<f32>(kcm * FILL_SPAN);
        let panels = panels.as_mut_slice::<f32>();
        let mut t = [0f32; MR * MAX_NR];
        for j0 in (0..n).step_by(FILL_SPAN) {
            let span = FILL_SPAN.min(n - j0);
            let np = span.div_ceil(nr);
            for (b, (p0, kc)) in blocks.clone().enumerate() {
                fill(isa, p0, kc, j0, span, &mut panels[..np * kc * nr]);
                let add = p0 > 0;
                for i0 in (0..rows).step_by(MR) {
                    let ai = if i0 < full {
                        (a.data[a.at(m0 + i0, p0)..].as_ptr(), a.rs as usize, 1)
                    } else {
                        (edge[b * MR * kcm..].as_ptr(), 1, MR)
                    };
                    let h = MR.min(rows - i0);
                    // The tile's rows of `a` stay in L1 across the span's panels.
                    for q in 0..np {
                        let (bp, w, at) = (panels[q * kc * nr..].as_ptr(), nr.min(span - q * nr), j0 + q * nr);
                        // SAFETY: `ai` reaches `h` rows of `kc` values, of `a` (checked
                        // above) or of the packed edge; the panel holds `kc` rows of nr
                        // lanes.
                        unsafe { put_tile(isa, [h, w, kc], ai, bp, (dst, i0 * ldo + at, ldo), add, &mut t) };
                    }
                }
            }
        }
    };
    for_row_parts(out, [m, part_rows, ldo], part);
}

/// Most k per block of [`matmul_filled_a`]: the panels of `b` for 64 columns are then
/// 128 KiB, in L2, and a strip of `a` 12 KiB, in L1.
const KC_STRIPS: usize = 512;

/// Writes rows `i0..i0 + h` (`h <= MR`) of columns `p0..p0 + kc` of a matrix into
/// `strip` (`h` rows at stride `ld`, a multiple of 16 at least `kc`; the kernel reads
/// only the first `kc` lanes of each), given `(isa, i0, h, p0, kc, ld, strip)` with
/// `isa` the kernel's.
pub(crate) trait FillStrip: Fn(Isa, usize, usize, usize, usize, usize, &mut [f32]) + Sync {}
impl<F: Fn(Isa, usize, usize, usize, usize, usize, &mut [f32]) + Sync> FillStrip for F {}

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
/// when it is a whole panel wide, else through the scratch tile `t`, of which only the
/// valid part is read and written back.
///
/// # Safety
/// As for [`tile_rows`]; the tile's `h` rows of `w` lie inside `dst`.
unsafe fn put_tile(
    isa: Isa,
    [h, w, kc]: [usize; 3],
    a: (*const f32, usize, usize),
    b: *const f32,
    (dst, at, ldo): (&mut [f32], usize, usize),
    add: bool,
    t: &mut [f32; MR * MAX_NR],
) {
    let nr = isa.nr();
    if w == nr {
        assert!(dst.len() >= at + (h - 1) * ldo + nr, "tile past the output");
        // SAFETY: the caller's contract; the tile's rows are inside `dst` (asserted).
        unsafe { tile_rows(isa, h, kc, a, b, dst[at..].as_mut_ptr(), ldo, add) };
        return;
    }
    if add {
        for r in 0..h {
            t[r * nr..][..w].copy_from_slice(&dst[at + r * ldo..][..w]);
        }
    }
    // SAFETY: the caller's contract, into the scratch tile's first `h` rows.
    unsafe { tile_rows(isa, h, kc, a, b, t.as_mut_ptr(), nr, add) };
    for r in 0..h {
        dst[at + r * ldo..][..w].copy_from_slice(&t[r * nr..][..w]);
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
    let isa = isa();
    if !has_work([m, k, n], (out.len(), ldo)) {
        return;
    }
    let nr = isa.nr();
    let nt = n.div_ceil(nr) * nr;
    let kcm = strip_blocks(k).next().map_or(1, |(_, kc)| kc);
    let ld = kcm.next_multiple_of(16);
    let part_rows = part_rows(m, threads);
    let bt = b.t();
    let part = |(i, dst): (usize, &mut [f32])| {
        let (m0, rows) = (i * part_rows, part_rows.min(m - i * part_rows));
        let mut bp = Storage::uninit::<f32>(kcm * nt);
        let mut strip = Storage::uninit::<f32>(MR * ld);
        let strip = strip.as_mut_slice::<f32>();
        let mut t = [0f32; MR * MAX_NR];
        for (p0, kc) in strip_blocks(k) {
            let add = accumulate || p0 > 0;
            let bpan = &mut bp.as_mut_slice::<f32>()[..kc * nt];
            pack_b(isa, &bt, 0, n, p0, kc, bpan);
            for i0 in (0..rows).step_by(MR) {
                let h = MR.min(rows - i0);
                fill(isa, m0 + i0, h, p0, kc, ld, &mut strip[..h * ld]);
                let ai = (strip.as_ptr(), ld, 1);
                for j0 in (0..nt).step_by(nr) {
                    let (bj, w) = (bpan[j0 * kc..].as_ptr(), nr.min(n - j0));
                    // SAFETY: the strip holds `h` rows of `kc` values at stride `ld`;
                    // the panel `kc` rows of nr lanes.
                    unsafe { put_tile(isa, [h, w, kc], ai, bj, (dst, i0 * ldo + j0, ldo), add, &mut t) };
                }
            }
        }
    };
    for_row_parts(out, [m, part_rows, ldo], part);
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

/// Lanes of the kernel's panels on this CPU.
pub(crate) fn panel_lanes() -> usize {
    isa().nr()
}

/// [`pack`] of panels of `b^T` (`bt`), as wide as `isa`'s tile.
fn pack_b(isa: Isa, bt: &View<f32>, l0: usize, lanes: usize, p0: usize, kc: usize, out: &mut [f32]) {
    match isa {
        Isa::Avx512 => pack_on::<64>(isa, bt, l0, lanes, p0, kc, out),
        Isa::Avx2 => pack_on::<16>(isa, bt, l0, lanes, p0, kc, out),
    }
}

/// [`pack`] of panels of MR rows of `a`.
fn pack_a(isa: Isa, a: &View<f32>, l0: usize, lanes: usize, p0: usize, kc: usize, out: &mut [f32]) {
    pack_on::<MR>(isa, a, l0, lanes, p0, kc, out)
}

/// [`pack`] compiled for `isa`.
fn pack_on<const W: usize>(isa: Isa, v: &View<f32>, l0: usize, lanes: usize, p0: usize, kc: usize, out: &mut [f32]) {
    match isa {
        // SAFETY: the kernel runs on `isa` only where the CPU has it.
        Isa::Avx512 => unsafe { pack_wide::<W>(v, l0, lanes, p0, kc, out) },
        Isa::Avx2 => unsafe { pack_narrow::<W>(v, l0, lanes, p0, kc, out) },
    }
}

/// [`pack`] compiled for AVX-512 (its copies of whole panel rows are vector moves).
///
/// # Safety
/// The CPU has AVX-512 F.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx512f"))]
unsafe fn pack_wide<const W: usize>(v: &View<f32>, l0: usize, lanes: usize, p0: usize, kc: usize, out: &mut [f32]) {
    pack::<W>(v, l0, lanes, p0, kc, out)
}

/// [`pack`] compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2"))]
unsafe fn pack_narrow<const W: usize>(v: &View<f32>, l0: usize, lanes: usize, p0: usize, kc: usize, out: &mut [f32]) {
    pack::<W>(v, l0, lanes, p0, kc, out)
}

/// Packs columns `p0..p0 + kc` of rows (lanes) `l0..` of `v` into `out`: whole panels
/// of `W` lanes (`kc * W` each, column-major: the W lanes of one column side by side), as
/// many as `out` holds, zero past lane `lanes`.
#[inline(always)]
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
        assert_eq!(takes(big, 1, 1), plain_products());
        assert!(!takes(big, 1, 1024) && !takes(big, 1024, 1));
        assert_eq!(takes([1024, KC, 1024], 1, 1), plain_products());
        assert!(!takes([512, KC, 512], 1, 1) && !takes([1024, 128, 1024], 1, 1) && !takes([128, 1024, 1024], 1, 1));
    }
}
