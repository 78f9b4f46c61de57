//! f32 convolution products on the AVX-512 kernel with the window matrix (im2col) laid
//! out piecewise, just before the kernel reads each piece, so it is written and read in
//! cache and never exists whole:
//! - the forward product `w @ windows` fills the kernel's panels of 64 window columns
//!   (output positions) straight from the input ([`windows_product`]);
//! - the weight gradient `windows @ g^T` fills strips of six window rows
//!   ([`windows_weight_product`]).
//!
//! Laying out all of an example's windows first and letting gemm pack them again moved
//! the data twice more, through a buffer larger than L2.

use crate::conv::{Geometry, Row};
use crate::gemm_f32::View;

/// Whether a group's products with `ck` window rows run here: on a CPU with the kernel,
/// and with at least 128 rows (a first layer's 27 rows of 3 channels would store each
/// output tile after a few dozen steps; it stays on im2col and gemm). The weight
/// gradient also wants a whole panel of output channels ([`takes_weight`]).
pub(crate) fn takes(ck: usize) -> bool {
    ck >= 128 && crate::gemm_f32::available()
}

/// Whether a group's weight gradient with `ck` window rows and `mg` output channels runs
/// here: as [`takes`], with the channels filling the kernel's 64 lanes (fewer would
/// leave most of every tile empty).
pub(crate) fn takes_weight(ck: usize, mg: usize) -> bool {
    takes(ck) && mg >= crate::gemm_f32::NR
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
    let fill = |p0: usize, kc: usize, j0: usize, width: usize, panel: &mut [f32]| {
        let recipe = Recipe::new(taps, g, (j0, width), crate::gemm_f32::NR / 16);
        // SAFETY: the kernel checked the CPU before asking for a panel; every lane a
        // part admits lies inside `x` (the plan's rows are inside their planes).
        unsafe { fill_rows(panel, crate::gemm_f32::NR, p0..p0 + kc, g, x, &recipe) };
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
    let fill = |i0: usize, h: usize, p0: usize, _kc: usize, ld: usize, strip: &mut [f32]| {
        // SAFETY: as in `windows_product`.
        unsafe { fill_rows(strip, ld, i0..i0 + h, g, x, &recipes[p0 / kc0]) };
    };
    let b = View { data: gt, off, rs: 1, cs: rs as isize };
    crate::gemm_f32::matmul_filled_a(&fill, b, [cg * kp, k, mg], (dst, ldo, accumulate), threads);
}

/// Window rows `rows` into `dst`, one per `ld` lanes (every lane of each; those no part
/// admits are zero): row `c * kp + tap` is tap `tap`'s parts read from channel `c`'s
/// plane of `x`.
///
/// # Safety
/// The CPU has AVX-512 F; every lane a part admits, for every channel of the rows, lies
/// inside `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fill_rows(dst: &mut [f32], ld: usize, rows: std::ops::Range<usize>, g: &Geometry, x: &[f32], r: &Recipe) {
    use std::arch::x86_64::*;
    let (ip, _, kp) = g.planes();
    let (stride, nv) = (g.stride[2], r.nv);
    assert!(nv * 16 == ld && dst.len() >= rows.len() * ld);
    for (i, kk) in rows.enumerate() {
        let (c, tap) = (kk / kp, kk % kp);
        let xc = x.as_ptr().wrapping_add(c * ip);
        let row = dst[i * ld..].as_mut_ptr();
        let first = &r.first[tap * nv..][..nv];
        let extra = &r.extra[r.extra_starts[tap]..r.extra_starts[tap + 1]];
        if stride == 1 {
            for (v, &(mask, off)) in first.iter().enumerate() {
                // SAFETY: the lanes a mask admits are inside `x` (the caller's promise);
                // a masked-off lane is never read, so may lie outside; the row holds
                // `ld` lanes (asserted above).
                unsafe {
                    let at = xc.wrapping_offset(off + 16 * v as isize);
                    _mm512_storeu_ps(row.add(16 * v), _mm512_maskz_loadu_ps(mask, at));
                }
            }
            for p in extra {
                // SAFETY: as above, merged into the vector already written.
                unsafe {
                    let at = xc.wrapping_offset(p.off + 16 * p.v as isize);
                    let cur = _mm512_loadu_ps(row.add(16 * p.v));
                    _mm512_storeu_ps(row.add(16 * p.v), _mm512_mask_loadu_ps(cur, p.mask, at));
                }
            }
            continue;
        }
        // A strided layer: lane by lane.
        let lanes = first.iter().enumerate().map(|(v, &(mask, off))| Part { v, mask, off });
        // SAFETY: the row holds `ld` lanes.
        let out = unsafe { std::slice::from_raw_parts_mut(row, ld) };
        out.fill(0.0);
        for p in lanes.chain(extra.iter().copied()) {
            for j in (0..16).filter(|j| p.mask >> j & 1 == 1) {
                // SAFETY: as above, lane by lane.
                out[16 * p.v + j] = unsafe { *xc.wrapping_offset(p.off + ((16 * p.v + j) * stride) as isize) };
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn fill_rows(_: &mut [f32], _: usize, _: std::ops::Range<usize>, _: &Geometry, _: &[f32], _: &Recipe) {
    unreachable!("no AVX-512 kernel on this architecture")
}
