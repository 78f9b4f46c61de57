//! f32 convolution products on the f32 kernel (AVX-512 or AVX2) with the window matrix
//! (im2col) laid out piecewise, just before the kernel reads each piece, so it is
//! written and read in cache and never exists whole:
//! - the forward product `w @ windows` fills the kernel's panels of window columns
//!   (output positions; 64 or 16 a panel) straight from the input ([`windows_product`]);
//! - the weight gradient `windows @ g^T` fills strips of six window rows
//!   ([`windows_weight_product`]).
//!
//! Laying out all of an example's windows first and letting gemm pack them again moved
//! the data twice more, through a buffer larger than L2 (on AVX2, the `gemm` crate's
//! packing and the im2col copies were a quarter of a ResNet block's time).

use crate::conv::{Geometry, Row};
use crate::gemm_f32::View;
use crate::gemm_tiles::Isa;
use smallvec::SmallVec;

/// Whether a group's products with `ck` window rows run here: on a CPU with the kernel,
/// and with at least 128 rows (a first layer's 27 rows of 3 channels would store each
/// output tile after a few dozen steps; it stays on im2col and gemm). The weight
/// gradient also wants a whole panel of output channels ([`takes_weight`]).
pub(crate) fn takes(ck: usize) -> bool {
    ck >= 128 && crate::gemm_f32::available()
}

/// Whether a group's weight gradient with `ck` window rows and `mg` output channels runs
/// here: as [`takes`], with the channels filling a panel's lanes (fewer would leave
/// most of every tile empty).
pub(crate) fn takes_weight(ck: usize, mg: usize) -> bool {
    takes(ck) && mg >= crate::gemm_f32::panel_lanes()
}

/// The plan's rows (see [`Geometry::plan`]) grouped by tap: tap `t`'s rows are
/// `rows[starts[t]..starts[t + 1]]`, in increasing output order.
pub(crate) struct Taps<'a> {
    rows: &'a [Row],
    starts: Vec<usize>,
}

impl<'a> Taps<'a> {
    pub(crate) fn new(rows: &'a [Row], taps: usize) -> Taps<'a> {
        let starts = (0..=taps).map(|t| rows.partition_point(|r| r.tap < t)).collect();
        Taps { rows, starts }
    }

    /// Tap `t`'s rows.
    fn of(&self, t: usize) -> &'a [Row] {
        &self.rows[self.starts[t]..self.starts[t + 1]]
    }
}

/// Where vector `v` of a laid-out window row (lanes `16 v..16 v + 16`) gets the lanes in
/// `mask`: lane `l` is the value at `off + l * stride` from the start of the row's
/// channel plane in the first example of the run.
#[derive(Clone, Copy)]
struct Part {
    v: usize,
    mask: u16,
    off: isize,
}

/// How to lay out columns `j0..j0 + width` of every window row of a run of examples,
/// per tap (a kernel offset meets the same positions in every channel, so a piece needs
/// this once per offset, not once per row): each of the row's `nv` vectors' first part
/// (a zero mask where none), and the rare further parts of vectors where two runs of
/// inputs meet mid-vector. One part per vector keeps the copy loop free of branches
/// that depend on the tap, which mispredicted at every row.
struct Recipe {
    nv: usize,
    first: Vec<(u16, isize)>,
    extra: Vec<Part>,
    extra_starts: Vec<usize>,
}

impl Recipe {
    fn new(taps: &Taps, g: &Geometry, (j0, width): (usize, usize), nv: usize) -> Recipe {
        let (ip, op, kp) = g.planes();
        let sw = g.stride[2];
        let mut first = vec![(0u16, 0isize); kp * nv];
        let (mut extra, mut extra_starts) = (Vec::new(), Vec::with_capacity(kp + 1));
        for tap in 0..kp {
            extra_starts.push(extra.len());
            // Examples whose columns meet the piece, each with its part of the lanes.
            for e in j0 / op..(j0 + width).div_ceil(op) {
                let (qa, qb) = (j0.max(e * op) - e * op, (j0 + width).min((e + 1) * op) - e * op);
                let lane0 = e * op + qa - j0;
                let base = (e * g.channels * ip) as isize;
                let rows = taps.of(tap);
                let from = rows.partition_point(|r| r.output + r.len <= qa);
                for r in rows[from..].iter().take_while(|r| r.output < qb) {
                    let (lo, hi) = (r.output.max(qa), (r.output + r.len).min(qb));
                    let (la, lb) = (lane0 + lo - qa, lane0 + hi - qa);
                    let off = base + (r.input + (lo - r.output) * sw) as isize - (la * sw) as isize;
                    for v in la / 16..lb.div_ceil(16) {
                        let (a, b) = (la.max(16 * v) - 16 * v, lb.min(16 * v + 16) - 16 * v);
                        let mask = (((1u32 << b) - 1) & !((1u32 << a) - 1)) as u16;
                        let slot = &mut first[tap * nv + v];
                        if slot.0 == 0 {
                            *slot = (mask, off);
                        } else {
                            extra.push(Part { v, mask, off });
                        }
                    }
                }
            }
        }
        extra_starts.push(extra.len());
        Recipe { nv, first, extra, extra_starts }
    }
}

/// `dst [mg, run * op]` (row stride `ldo`) = `wg [mg, cg * kp]` (row-major) @ the windows
/// of group `grp` of examples `n0..n0 + run` of `x` (`[N, C, S]`): window row `c * kp +
/// tap`, column `e * op + q` is example `n0 + e`'s input under output `q` at `tap`, zero
/// in the padding.
#[allow(clippy::too_many_arguments)]
pub(crate) fn windows_product(
    wg: &[f32],
    x: &[f32],
    (n0, run, grp): (usize, usize, usize),
    taps: &Taps,
    g: &Geometry,
    mg: usize,
    (dst, ldo): (&mut [f32], usize),
    threads: usize,
) {
    let (ip, op, kp) = g.planes();
    let cg = g.channels / g.groups;
    let x = &x[(n0 * g.channels + grp * cg) * ip..];
    let fill = |isa: Isa, p0: usize, kc: usize, j0: usize, width: usize, panel: &mut [f32]| {
        let nr = isa.nr();
        let recipe = Recipe::new(taps, g, (j0, width), panel.len() / (kc * 16));
        // SAFETY: every lane a part admits lies inside `x` (the plan's rows are inside
        // their planes); the kernel runs on `isa` only where the CPU has it.
        unsafe { fill_rows(isa, panel, (nr, kc * nr), p0..p0 + kc, g, x, &recipe) };
    };
    let ck = cg * kp;
    let a = View { data: wg, off: 0, rs: ck as isize, cs: 1 };
    crate::gemm_f32::matmul_filled(a, [mg, ck, run * op], &fill, (dst, ldo), threads);
}

/// `dst [cg * kp, mg]` (row stride `ldo`; added to when `accumulate`) (+)= the windows
/// of group `grp` of examples `n0..n0 + run` of `x` (as in [`windows_product`]) @ `gt`,
/// the matching output-gradient planes `[mg, run * op]` (as `(data, offset, row
/// stride)`) transposed: this run's share of the weight gradient, stored transposed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn windows_weight_product(
    x: &[f32],
    (gt, off, rs): (&[f32], usize, usize),
    (n0, run, grp): (usize, usize, usize),
    taps: &Taps,
    g: &Geometry,
    mg: usize,
    (dst, ldo, accumulate): (&mut [f32], usize, bool),
    threads: usize,
) {
    let (ip, op, kp) = g.planes();
    let cg = g.channels / g.groups;
    let x = &x[(n0 * g.channels + grp * cg) * ip..];
    let k = run * op;
    // Each k block's recipe, made once for all its strips.
    let blocks = crate::gemm_f32::strip_blocks(k);
    let recipes: Vec<Recipe> = blocks.clone().map(|(p0, kc)| Recipe::new(taps, g, (p0, kc), kc.div_ceil(16))).collect();
    let kc0 = blocks.clone().next().map_or(1, |(_, kc)| kc);
    let fill = |isa: Isa, i0: usize, h: usize, p0: usize, _kc: usize, ld: usize, strip: &mut [f32]| {
        // SAFETY: as in `windows_product`.
        unsafe { fill_rows(isa, strip, (ld, 0), i0..i0 + h, g, x, &recipes[p0 / kc0]) };
    };
    let b = View { data: gt, off, rs: 1, cs: rs as isize };
    crate::gemm_f32::matmul_filled_a(&fill, b, [cg * kp, k, mg], (dst, ldo, accumulate), threads);
}

/// Window rows `rows` into `dst`, laid out in panels of `pw` lanes, `panel` apart
/// (`(pw, panel)`; strips of a few whole rows are one panel, `pw` a row's lanes): row
/// `i`'s 16-lane vector `v` goes to panel `16 v / pw` at lane `i * pw + 16 v % pw`.
/// Every lane of the recipe's `nv` vectors is written (those no part admits are zero):
/// row `c * kp + tap` is tap `tap`'s parts read from channel `c`'s plane of `x`.
///
/// # Safety
/// The CPU has `isa`; every lane a part admits, for every channel of the rows, lies
/// inside `x`.
unsafe fn fill_rows(
    isa: Isa,
    dst: &mut [f32],
    (pw, panel): (usize, usize),
    rows: std::ops::Range<usize>,
    g: &Geometry,
    x: &[f32],
    r: &Recipe,
) {
    let (ip, _, kp) = g.planes();
    // On the stack: a strip's fill runs for every six window rows.
    let vec_at: SmallVec<[usize; 32]> = (0..r.nv).map(|v| 16 * v / pw * panel + 16 * v % pw).collect();
    let n = rows.len();
    // Vectors of a row never overlap: all within its `pw` lanes, or in panels apart.
    assert!(pw.is_multiple_of(16) && (16 * r.nv <= pw || panel >= n * pw));
    assert!(vec_at.iter().all(|&at| n == 0 || at + (n - 1) * pw + 16 <= dst.len()));
    // Channel and tap of each row by counting, not dividing.
    let (mut c, mut tap) = (rows.start / kp.max(1), rows.start % kp.max(1));
    for i in 0..n {
        let xc = x.as_ptr().wrapping_add(c * ip);
        let first = &r.first[tap * r.nv..][..r.nv];
        let extra = &r.extra[r.extra_starts[tap]..r.extra_starts[tap + 1]];
        let row = dst[i * pw..].as_mut_ptr();
        // SAFETY: the caller's promises; each vector's 16 lanes are inside `dst`
        // (asserted).
        unsafe {
            if g.stride[2] != 1 {
                fill_strided(row, &vec_at, xc, first, extra, g.stride[2]);
            } else {
                match isa {
                    Isa::Avx512 => fill_row512(row, &vec_at, xc, first, extra),
                    Isa::Avx2 => fill_row256(row, &vec_at, xc, first, extra),
                }
            }
        }
        tap += 1;
        if tap == kp {
            (c, tap) = (c + 1, 0);
        }
    }
}

/// A strided layer's window row (vector `v` at `row + vec_at[v]`), lane by lane.
///
/// # Safety
/// As for [`fill_rows`], for this row's channel plane at `xc`; `row + vec_at[v]` holds
/// 16 lanes for every vector.
unsafe fn fill_strided(
    row: *mut f32,
    vec_at: &[usize],
    xc: *const f32,
    first: &[(u16, isize)],
    extra: &[Part],
    stride: usize,
) {
    for &at in vec_at {
        // SAFETY: the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(row.add(at), 16) }.fill(0.0);
    }
    let lanes = first.iter().enumerate().map(|(v, &(mask, off))| Part { v, mask, off });
    for p in lanes.chain(extra.iter().copied()) {
        for j in (0..16).filter(|j| p.mask >> j & 1 == 1) {
            // SAFETY: the caller's promise, lane by lane.
            unsafe { *row.add(vec_at[p.v] + j) = *xc.wrapping_offset(p.off + ((16 * p.v + j) * stride) as isize) };
        }
    }
}

/// A stride-1 window row (vector `v` at `row + vec_at[v]`): one masked load a vector.
///
/// # Safety
/// The CPU has AVX-512 F; as for [`fill_strided`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fill_row512(row: *mut f32, vec_at: &[usize], xc: *const f32, first: &[(u16, isize)], extra: &[Part]) {
    use std::arch::x86_64::*;
    for (v, (&(mask, off), &to)) in first.iter().zip(vec_at).enumerate() {
        // SAFETY: the lanes a mask admits are inside `x` (the caller's promise); a
        // masked-off lane is never read, so may lie outside.
        unsafe {
            let at = xc.wrapping_offset(off + 16 * v as isize);
            _mm512_storeu_ps(row.add(to), _mm512_maskz_loadu_ps(mask, at));
        }
    }
    for p in extra {
        // SAFETY: as above, merged into the vector already written.
        unsafe {
            let (at, to) = (xc.wrapping_offset(p.off + 16 * p.v as isize), row.add(vec_at[p.v]));
            _mm512_storeu_ps(to, _mm512_mask_loadu_ps(_mm512_loadu_ps(to), p.mask, at));
        }
    }
}

/// Each byte's lanes as an AVX2 vector mask (all ones where its bit is set), read
/// rather than computed for each half of each vector of a window row.
static BYTE_MASKS: [[i32; 8]; 256] = {
    let mut t = [[0; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut l = 0;
        while l < 8 {
            t[b][l] = if b >> l & 1 == 1 { -1 } else { 0 };
            l += 1;
        }
        b += 1;
    }
    t
};

/// [`fill_row512`] on AVX2: each 16-lane part as two 8-lane masked loads.
///
/// # Safety
/// As for [`fill_row512`], with AVX2 in place of AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_row256(row: *mut f32, vec_at: &[usize], xc: *const f32, first: &[(u16, isize)], extra: &[Part]) {
    use std::arch::x86_64::*;
    // Lanes `8 h..8 h + 8` of a 16-lane mask.
    let half = |mask: u16, h: usize| {
        let bits = &BYTE_MASKS[usize::from((mask >> (8 * h)) as u8)];
        // SAFETY: a table row is eight lanes.
        unsafe { _mm256_loadu_si256(bits.as_ptr().cast()) }
    };
    for (v, (&(mask, off), &to)) in first.iter().zip(vec_at).enumerate() {
        for h in 0..2 {
            // SAFETY: as in `fill_row512`: a masked-off lane is never read (and a
            // masked load does not fault on one).
            unsafe {
                let at = xc.wrapping_offset(off + (16 * v + 8 * h) as isize);
                let val = if (mask >> (8 * h)) as u8 == 0xff {
                    _mm256_loadu_ps(at)
                } else {
                    _mm256_maskload_ps(at, half(mask, h))
                };
                _mm256_storeu_ps(row.add(to + 8 * h), val);
            }
        }
    }
    for p in extra {
        for h in 0..2 {
            // SAFETY: as above, merged into the vector already written.
            unsafe {
                let at = xc.wrapping_offset(p.off + (16 * p.v + 8 * h) as isize);
                let (to, m) = (row.add(vec_at[p.v] + 8 * h), half(p.mask, h));
                let new = _mm256_maskload_ps(at, m);
                _mm256_storeu_ps(to, _mm256_blendv_ps(_mm256_loadu_ps(to), new, _mm256_castsi256_ps(m)));
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn fill_row512(_: *mut f32, _: &[usize], _: *const f32, _: &[(u16, isize)], _: &[Part]) {
    unreachable!("no f32 kernel on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn fill_row256(_: *mut f32, _: &[usize], _: *const f32, _: &[(u16, isize)], _: &[Part]) {
    unreachable!("no f32 kernel on this architecture")
}
