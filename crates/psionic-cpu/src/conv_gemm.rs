//! Convolutions on the matmul kernel, a run of examples at a time (one for large planes,
//! several side by side for small ones; see [`run_len`]). A run's windows are the rows
//! `[C / G * K, run * O]` (im2col), multiplied by the weight at once. In f32 on AVX-512 or
//! AVX2 they are laid out piecewise inside the kernel ([`crate::conv_panels`]); elsewhere in
//! a scratch buffer reused for the next run. Either way the whole batch's windows (9x
//! the input for a 3x3 kernel) never exist in memory. The input gradient of a stride-1
//! layer is a forward product of the output gradient with the kernel flipped (see
//! [`flipped`]); of other layers it goes the other way: `w^T @ g` into the scratch,
//! summed onto the input's positions (col2im). Padding is implicit (taps outside the
//! input are zeros in the windows and skipped by col2im), and a pointwise layer (1x1
//! kernel, stride 1, no padding) with large planes multiplies the input in place.
//!
//! Runs are independent chunks of parallel work (when the batch has one per thread;
//! otherwise the kernel splits each product). The weight gradient sums over examples in
//! fixed blocks of [`BLOCK`] examples, each on one thread, and adds the blocks in order,
//! so no result depends on the thread count.

use crate::conv::{Geometry, Product, Real, Row};
use crate::conv_panels::{self, Taps};
use crate::element::{as_f32, as_f32_mut};
use crate::matmul::gemm_into;
use crate::parallel::for_out_chunks;
use crate::storage::Storage;

/// Examples whose weight-gradient products one block sums before the blocks are added.
const BLOCK: usize = 8;

/// Runs `mode` on contiguous inputs into `out`, which is zeroed unless [`overwrites`]
/// (see [`crate::conv::conv`]).
pub(crate) fn run<T: Real>(mode: Product, a: &[T], b: &[T], g: &Geometry, out: &mut [T]) {
    let s = Sizes::of(g);
    match mode {
        Product::Forward => forward(a, b, g, &s, out),
        Product::InputGrad => input_grad(a, b, g, &s, out),
        Product::WeightGrad => weight_grad(a, b, g, &s, out),
    }
}

/// Whether `mode` writes every element of its output (else it sums into a zeroed one):
/// only col2im accumulates.
pub(crate) fn overwrites(mode: Product, g: &Geometry) -> bool {
    mode != Product::InputGrad || Sizes::of(g).direct() || flipped(g).is_some()
}

/// The convolution whose forward product is `g`'s input gradient, when `g` has stride 1
/// and pads by at most a dilated kernel's reach: the output gradient's planes are its
/// input, `g`'s input planes its output, padded by the rest of the reach, with the
/// kernel flipped and its channels swapped (see [`flip_weight`]). Its sum runs over `M *
/// K` per output instead of `M`, and it needs no col2im.
fn flipped(g: &Geometry) -> Option<Geometry> {
    let reach = |i: usize| g.dilation[i] * (g.kernel[i] - 1);
    if g.stride != [1; 3] || (0..3).any(|i| g.padding[i] > reach(i)) {
        return None;
    }
    Some(Geometry {
        channels: g.out_channels,
        out_channels: g.channels,
        input: g.output,
        output: g.input,
        padding: std::array::from_fn(|i| reach(i) - g.padding[i]),
        ..g.clone()
    })
}

/// The weight of [`flipped`]: `w' [C, M / G, K]` with `w'[c, m, t] = w[m, c, K - 1 - t]`
/// within each group (reversing the flat tap index flips every spatial dim).
fn flip_weight<T: Real>(w: &[T], g: &Geometry, s: &Sizes) -> Vec<T> {
    let mut out = vec![T::default(); w.len()];
    for grp in 0..g.groups {
        for mm in 0..s.mg {
            for c in 0..s.cg {
                let src = &w[((grp * s.mg + mm) * s.cg + c) * s.kp..][..s.kp];
                let dst = &mut out[((grp * s.cg + c) * s.mg + mm) * s.kp..][..s.kp];
                for (d, &v) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = v;
                }
            }
        }
    }
    out
}

/// Per-group sizes: input and output channels, window rows (`cg * kp`), and the input,
/// output and kernel plane sizes.
struct Sizes {
    cg: usize,
    mg: usize,
    ck: usize,
    ip: usize,
    op: usize,
    kp: usize,
    /// 1x1 kernel, stride 1, no padding, output the size of the input: the input is its
    /// own window matrix.
    pointwise: bool,
}

impl Sizes {
    /// Whether products read the input (and write the input gradient) in place: a
    /// pointwise layer whose products take one example each.
    fn direct(&self) -> bool {
        self.pointwise && run_len(self) == 1
    }

    fn of(g: &Geometry) -> Sizes {
        let (ip, op, kp) = g.planes();
        let cg = g.channels / g.groups;
        let pointwise = kp == 1 && g.stride == [1; 3] && g.padding == [0; 3] && g.input == g.output;
        Sizes { cg, mg: g.out_channels / g.groups, ck: cg * kp, ip, op, kp, pointwise }
    }
}

/// Runs `f(run index, its output chunk, threads for gemm)` for every chunk of `chunk`
/// output elements (one run of examples each): in parallel over runs when there is one
/// per thread, else one after the other with gemm splitting each product.
fn per_run<T: Send>(out: &mut [T], chunk: usize, work: usize, f: impl Fn(usize, &mut [T], usize) + Sync + Send) {
    if out.is_empty() {
        return;
    }
    let threads = rayon::current_num_threads();
    if out.len().div_ceil(chunk) >= threads {
        for_out_chunks(out, chunk, work, |start, o| f(start / chunk, o, 1));
    } else {
        for (i, o) in out.chunks_mut(chunk).enumerate() {
            f(i, o, threads);
        }
    }
}

/// Examples whose windows share one product: enough that the product is at least 256
/// columns wide (gemm is slow on thin ones, as in the deep layers of a ResNet where a
/// plane is 8x8 or 4x4), a power of two up to [`BLOCK`] so runs tile the weight
/// gradient's blocks. Depends on the sizes alone.
fn run_len(s: &Sizes) -> usize {
    256usize.div_ceil(s.op.max(1)).next_power_of_two().min(BLOCK)
}

/// im2col of one group of one example into columns `col0..col0 + op` of `cols`
/// (`[cg * kp, ld]`): `x` holds the example's `cg` input planes; zeros where a tap falls
/// in the padding.
fn im2col<T: Real>(x: &[T], plan: &[Row], g: &Geometry, s: &Sizes, cols: &mut [T], ld: usize, col0: usize) {
    let sw = g.stride[2];
    for c in 0..s.cg {
        let xp = &x[c * s.ip..][..s.ip];
        let mut rows = plan.iter().peekable();
        for tap in 0..s.kp {
            let dst = &mut cols[(c * s.kp + tap) * ld + col0..][..s.op];
            let mut pos = 0;
            // The plan lists each tap's rows together, in increasing output order.
            while let Some(r) = rows.next_if(|r| r.tap == tap) {
                dst[pos..r.output].fill(T::default());
                let d = &mut dst[r.output..r.output + r.len];
                if sw == 1 {
                    d.copy_from_slice(&xp[r.input..r.input + r.len]);
                } else {
                    for (j, v) in d.iter_mut().enumerate() {
                        *v = xp[r.input + j * sw];
                    }
                }
                pos = r.output + r.len;
            }
            dst[pos..].fill(T::default());
        }
    }
}

/// col2im of one group of one example: sums columns `col0..col0 + op` of `cols`
/// (`[cg * kp, ld]`) onto the `cg` planes of `dx`, in the plan's fixed order.
fn col2im<T: Real>(cols: &[T], ld: usize, col0: usize, plan: &[Row], g: &Geometry, s: &Sizes, dx: &mut [T]) {
    let sw = g.stride[2];
    for c in 0..s.cg {
        let xp = &mut dx[c * s.ip..][..s.ip];
        for r in plan {
            let src = &cols[(c * s.kp + r.tap) * ld + col0 + r.output..][..r.len];
            if sw == 1 {
                for (t, &v) in xp[r.input..r.input + r.len].iter_mut().zip(src) {
                    *t = *t + v;
                }
            } else {
                for (j, &v) in src.iter().enumerate() {
                    xp[r.input + j * sw] = xp[r.input + j * sw] + v;
                }
            }
        }
    }
}

/// The inverse of [`gather`]: `src` (`[mg, run * op]`) back into group `grp`'s planes
/// of the first `run` examples of `y` (`[run, M, O]`).
fn scatter<T: Real>(src: &[T], y: &mut [T], run: usize, m: usize, grp: usize, s: &Sizes) {
    let w = run * s.op;
    for e in 0..run {
        for co in 0..s.mg {
            y[(e * m + grp * s.mg + co) * s.op..][..s.op].copy_from_slice(&src[co * w + e * s.op..][..s.op]);
        }
    }
}

/// The window matrix `[ck, run * op]` of group `grp` for examples `n0..n0 + run` of `x`
/// (`[N, C, S]`): laid out in `buf`, or the input itself for a direct layer (no `buf`).
#[allow(clippy::too_many_arguments)]
fn run_windows<'a, T: Real>(
    x: &'a [T],
    n0: usize,
    run: usize,
    grp: usize,
    plan: &[Row],
    g: &Geometry,
    s: &Sizes,
    buf: Option<&'a mut Storage>,
) -> &'a [T] {
    let xg = |n: usize| &x[(n * g.channels + grp * s.cg) * s.ip..][..s.cg * s.ip];
    match buf {
        Some(b) => {
            let wide = run * s.op;
            let cols = &mut b.as_mut_slice()[..s.ck * wide];
            for i in 0..run {
                im2col(xg(n0 + i), plan, g, s, cols, wide, i * s.op);
            }
            cols
        }
        None => xg(n0),
    }
}

/// Group `grp`'s output planes `[mg, run * op]` for examples `n0..n0 + run` of `y`
/// (`[N, M, O]`): gathered side by side into `tmp` when the run has several examples,
/// else read in place.
fn run_outputs<'a, T: Real>(
    y: &'a [T],
    n0: usize,
    run: usize,
    grp: usize,
    m: usize,
    s: &Sizes,
    tmp: Option<&'a mut Storage>,
) -> &'a [T] {
    match tmp {
        Some(t) if run > 1 => {
            let t = &mut t.as_mut_slice()[..s.mg * run * s.op];
            gather(y, t, n0, run, m, grp, s);
            t
        }
        _ => &y[(n0 * m + grp * s.mg) * s.op..][..s.mg * s.op],
    }
}

/// Scratch of `len` elements, or none.
fn scratch<T: Real>(len: usize, want: bool) -> Option<Storage> {
    want.then(|| Storage::uninit::<T>(len))
}

/// `out [N, M, O]` = `w [M, ck]` @ windows, per group, a run of examples per product.
fn forward<T: Real>(x: &[T], w: &[T], g: &Geometry, s: &Sizes, out: &mut [T]) {
    let plan = g.plan();
    let (m, e) = (g.out_channels, run_len(s));
    let direct = s.direct();
    // f32 windows go straight into the f32 kernel's panels where it runs.
    let panels = match as_f32(x) {
        Some(x) if !direct && conv_panels::takes(s.ck) => Some((x, Taps::new(&plan, s.kp))),
        _ => None,
    };
    per_run(out, e * m * s.op, s.ck, |r, o, threads| {
        let run = o.len() / (m * s.op);
        let wide = run * s.op;
        let mut buf = scratch::<T>(s.ck * wide, !direct && panels.is_none());
        let mut tmp = scratch::<T>(s.mg * wide, run > 1);
        for grp in 0..g.groups {
            let wg = &w[grp * s.mg * s.ck..][..s.mg * s.ck];
            // Into the run's scratch when it has several examples, else in place.
            let dst = match tmp.as_mut() {
                Some(t) => t.as_mut_slice::<T>(),
                None => &mut o[grp * s.mg * s.op..][..s.mg * s.op],
            };
            match &panels {
                Some((x, taps)) => {
                    let (wg, dst) = (as_f32(wg).expect("f32"), as_f32_mut(dst).expect("f32"));
                    conv_panels::windows_product(wg, x, (r * e, run, grp), taps, g, s.mg, (dst, wide), threads);
                }
                None => {
                    let cols = run_windows(x, r * e, run, grp, &plan, g, s, buf.as_mut());
                    gemm_into([s.mg, wide, s.ck], (dst, wide, 1, false), (wg, s.ck, 1), (cols, wide, 1), threads);
                }
            }
            if let Some(t) = tmp.as_ref() {
                scatter(t.as_slice::<T>(), o, run, m, grp, s);
            }
        }
    });
}

/// `dx [N, C, S]` = col2im(`w^T @ g`), per group, a run of examples per product.
fn input_grad<T: Real>(gy: &[T], w: &[T], g: &Geometry, s: &Sizes, dx: &mut [T]) {
    if let Some(f) = flipped(g).filter(|_| !s.direct()) {
        return forward(gy, &flip_weight(w, g, s), &f, &Sizes::of(&f), dx);
    }
    let plan = g.plan();
    let (c, m, e) = (g.channels, g.out_channels, run_len(s));
    let direct = s.direct();
    per_run(dx, e * c * s.ip, s.ck, |r, d, threads| {
        let (run, n0) = (d.len() / (c * s.ip), r * e);
        let wide = run * s.op;
        let mut buf = scratch::<T>(s.ck * wide, !direct);
        let mut tmp = scratch::<T>(s.mg * wide, run > 1);
        for grp in 0..g.groups {
            let wt = (&w[grp * s.mg * s.ck..][..s.mg * s.ck], 1, s.ck);
            let gg = run_outputs(gy, n0, run, grp, m, s, tmp.as_mut());
            match buf.as_mut() {
                Some(b) => {
                    let cols = b.as_mut_slice();
                    gemm_into([s.ck, wide, s.mg], (&mut *cols, wide, 1, false), wt, (gg, wide, 1), threads);
                    for i in 0..run {
                        let dg = &mut d[(i * c + grp * s.cg) * s.ip..][..s.cg * s.ip];
                        col2im(cols, wide, i * s.op, &plan, g, s, dg);
                    }
                }
                None => {
                    let dg = &mut d[grp * s.cg * s.ip..][..s.cg * s.ip];
                    gemm_into([s.ck, s.op, s.mg], (dg, s.op, 1, false), wt, (gg, s.op, 1), threads);
                }
            }
        }
    });
}

/// Copies group `grp`'s `mg` channel planes of `run` examples of `y` (`[N, M, O]`, from
/// example `n0`) side by side into `dst` (`[mg, run * op]`).
fn gather<T: Real>(y: &[T], dst: &mut [T], n0: usize, run: usize, m: usize, grp: usize, s: &Sizes) {
    let w = run * s.op;
    for e in 0..run {
        for co in 0..s.mg {
            let src = &y[((n0 + e) * m + grp * s.mg + co) * s.op..][..s.op];
            dst[co * w + e * s.op..][..s.op].copy_from_slice(src);
        }
    }
}

/// `dw [M, ck]` = sum over examples of `g @ windows^T`, per group. Each block of
/// [`BLOCK`] examples accumulates its products (a run of examples each) into its own
/// partial, stored transposed (`[ck, mg]` per group: gemm then packs the short `g`
/// rather than the long window rows), and the partials are added in block order.
fn weight_grad<T: Real>(x: &[T], gy: &[T], g: &Geometry, s: &Sizes, dw: &mut [T]) {
    let plan = g.plan();
    let (m, groups, e) = (g.out_channels, g.groups, run_len(s));
    let blocks = g.batch.div_ceil(BLOCK);
    let per_block = m * s.ck;
    if blocks == 0 || per_block == 0 {
        dw.fill(T::default());
        return;
    }
    let direct = s.direct();
    // f32 windows go straight into the f32 kernel's strips where it runs.
    let panels = match as_f32(x) {
        Some(x) if !direct && conv_panels::takes_weight(s.ck, s.mg) => Some((x, Taps::new(&plan, s.kp))),
        _ => None,
    };
    let mut partials = Storage::uninit::<T>(blocks * per_block);
    per_run(partials.as_mut_slice::<T>(), per_block, s.ck * s.op * BLOCK, |blk, p, threads| {
        let mut buf = scratch::<T>(s.ck * e * s.op, !direct && panels.is_none());
        let mut tmp = scratch::<T>(s.mg * e * s.op, e > 1);
        let end = ((blk + 1) * BLOCK).min(g.batch);
        for n0 in (blk * BLOCK..end).step_by(e) {
            let run = e.min(end - n0);
            let wide = run * s.op;
            for grp in 0..groups {
                let gg = run_outputs(gy, n0, run, grp, m, s, tmp.as_mut());
                let dst = &mut p[grp * s.ck * s.mg..][..s.ck * s.mg];
                let acc = n0 > blk * BLOCK;
                match &panels {
                    Some((x, taps)) => {
                        let (gg, dst) = (as_f32(gg).expect("f32"), as_f32_mut(dst).expect("f32"));
                        let ex = (n0, run, grp);
                        conv_panels::windows_weight_product(
                            x,
                            (gg, 0, wide),
                            ex,
                            taps,
                            g,
                            s.mg,
                            (dst, s.mg, acc),
                            threads,
                        );
                    }
                    None => {
                        let cols = run_windows(x, n0, run, grp, &plan, g, s, buf.as_mut());
                        gemm_into([s.ck, s.mg, wide], (dst, s.mg, 1, acc), (cols, wide, 1), (gg, 1, wide), threads);
                    }
                }
            }
        }
    });
    let p = partials.as_slice::<T>();
    for grp in 0..groups {
        for co in 0..s.mg {
            let row = &mut dw[(grp * s.mg + co) * s.ck..][..s.ck];
            for (j, v) in row.iter_mut().enumerate() {
                let at = grp * s.ck * s.mg + j * s.mg + co;
                *v = (1..blocks).fold(p[at], |acc, b| acc + p[b * per_block + at]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::Spatial;

    /// The three products by their definition, in f64, for 2-d geometries.
    fn reference(mode: Product, a: &[f64], b: &[f64], g: &Geometry) -> Vec<f64> {
        let (ip, op, kp) = g.planes();
        let (cg, mg) = (g.channels / g.groups, g.out_channels / g.groups);
        let (n_out, m_out, k_out) =
            (g.batch * g.out_channels * op, g.batch * g.channels * ip, g.out_channels * cg * kp);
        let mut out = vec![0.0; [n_out, m_out, k_out][mode as usize]];
        for n in 0..g.batch {
            for co in 0..g.out_channels {
                let grp = co / mg;
                for ci in 0..cg {
                    let cin = grp * cg + ci;
                    for oh in 0..g.output[1] {
                        for ow in 0..g.output[2] {
                            for kh in 0..g.kernel[1] {
                                for kw in 0..g.kernel[2] {
                                    let ih = (oh * g.stride[1] + kh * g.dilation[1]) as isize - g.padding[1] as isize;
                                    let iw = (ow * g.stride[2] + kw * g.dilation[2]) as isize - g.padding[2] as isize;
                                    if ih < 0 || iw < 0 || ih as usize >= g.input[1] || iw as usize >= g.input[2] {
                                        continue;
                                    }
                                    let xi = (n * g.channels + cin) * ip + ih as usize * g.input[2] + iw as usize;
                                    let oi = (n * g.out_channels + co) * op + oh * g.output[2] + ow;
                                    let wi = (co * cg + ci) * kp + kh * g.kernel[2] + kw;
                                    match mode {
                                        Product::Forward => out[oi] += a[xi] * b[wi],
                                        Product::InputGrad => out[xi] += a[oi] * b[wi],
                                        Product::WeightGrad => out[wi] += a[xi] * b[oi],
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f64> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 2003) as f64 / 1001.0) - 1.0).collect()
    }

    /// (batch, C, G, M, input, kernel, stride, dilation, padding).
    type Case = (usize, usize, usize, usize, [usize; 2], [usize; 2], [usize; 2], [usize; 2], [usize; 2]);

    /// Padded, strided, dilated, grouped, pointwise (small planes: several examples per
    /// product), one example (gemm splits it), a batch past one block of the weight
    /// gradient in runs of several examples, an empty batch, a grouped pointwise layer
    /// read in place; then stride-1 layers whose input gradient is a flipped forward
    /// product (dilated and grouped, padded unevenly, rows not a multiple of the
    /// kernel's tile), one padded past its kernel's reach (no flip), planes past one
    /// 64-column panel and one k block of the f32 kernels; then layers whose f32
    /// products fill the kernel's panels and strips (over 128 window rows, 64 output
    /// channels or more): examples side by side in one panel with edge rows and lanes,
    /// grouped and strided along the row, and one example over two k blocks each way;
    /// last, a weight gradient whose sum (513 positions) ends in a block shorter than the
    /// strips' row stride.
    const CASES: [Case; 17] = [
        (2, 3, 1, 4, [7, 6], [3, 3], [1, 1], [1, 1], [1, 1]),
        (3, 4, 2, 6, [9, 8], [3, 2], [2, 3], [1, 2], [2, 0]),
        (1, 6, 3, 3, [5, 5], [1, 1], [1, 1], [1, 1], [0, 0]),
        (19, 2, 1, 3, [4, 5], [2, 3], [1, 1], [1, 1], [1, 2]),
        (2, 5, 1, 2, [6, 6], [1, 1], [1, 1], [1, 1], [0, 0]),
        (1, 2, 1, 70, [40, 40], [3, 3], [1, 1], [1, 1], [1, 1]),
        (0, 3, 1, 2, [4, 4], [3, 3], [1, 1], [1, 1], [1, 1]),
        (3, 4, 2, 6, [16, 16], [1, 1], [1, 1], [1, 1], [0, 0]),
        (2, 4, 2, 10, [9, 11], [3, 3], [1, 1], [2, 2], [4, 1]),
        (3, 7, 1, 13, [13, 10], [3, 2], [1, 1], [1, 1], [0, 1]),
        (2, 3, 1, 5, [5, 6], [2, 2], [1, 1], [1, 1], [2, 1]),
        (2, 9, 1, 8, [23, 21], [3, 3], [1, 1], [1, 1], [1, 1]),
        (1, 80, 1, 7, [12, 12], [3, 3], [1, 1], [1, 1], [1, 1]),
        (2, 16, 1, 70, [9, 10], [3, 3], [1, 1], [1, 1], [1, 1]),
        (3, 32, 2, 128, [7, 9], [3, 3], [1, 2], [1, 1], [1, 1]),
        (1, 80, 1, 64, [24, 24], [3, 3], [1, 1], [1, 1], [1, 1]),
        (1, 16, 1, 64, [27, 19], [3, 3], [1, 1], [1, 1], [1, 1]),
    ];

    /// A case's geometry and its operands `x`, `w` and `g` (in f64).
    type Operands = (Geometry, Vec<f64>, Vec<f64>, Vec<f64>);

    fn cases() -> Vec<Operands> {
        CASES
            .iter()
            .map(|&(batch, c, groups, m, input, kernel, stride, dilation, padding)| {
                let output: Vec<usize> = (0..2)
                    .map(|i| (input[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1)
                    .collect();
                let sp = Spatial {
                    input: &input,
                    output: &output,
                    kernel: &kernel,
                    stride: &stride,
                    dilation: &dilation,
                    padding: &padding,
                };
                let g = Geometry::new(batch, c, groups, m, sp);
                let (ip, op, kp) = g.planes();
                let (x, w, gy) = (values(batch * c * ip, 1), values(m * c / groups * kp, 2), values(batch * m * op, 3));
                (g, x, w, gy)
            })
            .collect()
    }

    #[test]
    fn the_three_products_match_their_definition() {
        for (g, x, w, gy) in cases() {
            for (mode, a, b) in
                [(Product::Forward, &x, &w), (Product::InputGrad, &gy, &w), (Product::WeightGrad, &x, &gy)]
            {
                let want = reference(mode, a, b, &g);
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    // Garbage where the kernel promises to write every element.
                    let mut got = vec![if overwrites(mode, &g) { f64::NAN } else { 0.0 }; want.len()];
                    pool.install(|| run(mode, a, b, &g, &mut got));
                    for (i, (gv, wv)) in got.iter().zip(&want).enumerate() {
                        assert!((gv - wv).abs() <= 1e-9 * (1.0 + wv.abs()), "{mode:?} {g:?} [{i}]: {gv} vs {wv}");
                    }
                }
            }
        }
    }

    /// The same in f32, where the f32 kernel (AVX-512 or AVX2) fills its panels and
    /// strips from the input: against the f64 definition, and the same bits on 1, 2 and
    /// 3 threads.
    #[test]
    fn the_three_f32_products_match_their_definition() {
        for (g, x, w, gy) in cases() {
            let (xf, wf, gf) = (f32s(&x), f32s(&w), f32s(&gy));
            for (mode, a, b, af, bf) in [
                (Product::Forward, &x, &w, &xf, &wf),
                (Product::InputGrad, &gy, &w, &gf, &wf),
                (Product::WeightGrad, &x, &gy, &xf, &gf),
            ] {
                let want = reference(mode, a, b, &g);
                let runs = on_1_2_3_threads(mode, af, bf, &g, want.len());
                assert!(same_bits(&runs), "{mode:?} {g:?}");
                for (i, (gv, wv)) in runs[0].iter().zip(&want).enumerate() {
                    // Sums of products of values in [-1, 1]: f32 rounding, scaled by the
                    // number of terms.
                    let (_, op, kp) = g.planes();
                    let terms = match mode {
                        Product::Forward => g.channels / g.groups * kp,
                        Product::InputGrad => g.out_channels / g.groups * kp,
                        Product::WeightGrad => g.batch * op,
                    };
                    let tol = 2e-7 * terms as f64 * (1.0 + wv.abs());
                    assert!((*gv as f64 - wv).abs() <= tol, "{mode:?} {g:?} [{i}]: {gv} vs {wv}");
                }
            }
        }
    }

    /// A 3x3 convolution padded to keep its `side x side` planes.
    fn same_3x3(batch: usize, c: usize, m: usize, side: usize) -> Geometry {
        let plane = [side, side];
        let sp = Spatial {
            input: &plane,
            output: &plane,
            kernel: &[3, 3],
            stride: &[1, 1],
            dilation: &[1, 1],
            padding: &[1, 1],
        };
        Geometry::new(batch, c, 1, m, sp)
    }

    fn f32s(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&v| v as f32).collect()
    }

    /// `mode` of `(a, b)` in f32 into `len` outputs, on 1, 2 and 3 threads.
    fn on_1_2_3_threads(mode: Product, a: &[f32], b: &[f32], g: &Geometry, len: usize) -> Vec<Vec<f32>> {
        [1, 2, 3]
            .map(|t| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
                // Garbage where the kernel promises to write every element.
                let mut got = vec![if overwrites(mode, g) { f32::NAN } else { 0.0 }; len];
                pool.install(|| run(mode, a, b, g, &mut got));
                got
            })
            .to_vec()
    }

    fn same_bits(runs: &[Vec<f32>]) -> bool {
        let bits = |r: &Vec<f32>| r.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        runs.iter().all(|r| bits(r) == bits(&runs[0]))
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let g = same_3x3(20, 8, 16, 12);
        let (ip, op, kp) = g.planes();
        let (x, w, gy) = (f32s(&values(20 * 8 * ip, 1)), f32s(&values(16 * 8 * kp, 2)), f32s(&values(20 * 16 * op, 3)));
        for (mode, a, b, len) in [
            (Product::Forward, &x, &w, gy.len()),
            (Product::InputGrad, &gy, &w, x.len()),
            (Product::WeightGrad, &x, &gy, w.len()),
        ] {
            assert!(same_bits(&on_1_2_3_threads(mode, a, b, &g, len)), "{mode:?}");
        }
    }

    /// An f32 weight gradient whose sum over output positions is long enough for the
    /// plain AVX-512 kernel (24 x 24 planes: 576 per example, over one k block), across two
    /// blocks of examples: against the f64 definition, and the same bits on 1, 2 and 3
    /// threads.
    #[test]
    fn long_weight_gradient_sums_in_f32() {
        let g = same_3x3(10, 5, 7, 24);
        let (ip, op, kp) = g.planes();
        assert!(!crate::gemm_f32::plain_products() || crate::gemm_f32::takes_col_major_b(op, 1, 1));
        let (x, gy) = (values(10 * 5 * ip, 1), values(10 * 7 * op, 3));
        let want = reference(Product::WeightGrad, &x, &gy, &g);
        let runs = on_1_2_3_threads(Product::WeightGrad, &f32s(&x), &f32s(&gy), &g, 7 * 5 * kp);
        for (i, (gv, wv)) in runs[0].iter().zip(&want).enumerate() {
            // Sums of 5760 products of values in [-1, 1]: f32 rounding, scaled by the sum.
            assert!((*gv as f64 - wv).abs() <= 2e-4 * (1.0 + wv.abs()), "[{i}]: {gv} vs {wv}");
        }
        assert!(same_bits(&runs));
    }
}
