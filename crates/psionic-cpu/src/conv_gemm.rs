//! Convolutions on the matmul kernel, one example at a time. An example's windows are
//! laid out as rows `[C / G * K, O]` (im2col) in a scratch buffer that stays in cache,
//! multiplied by the weight at once, and the buffer is reused for the next example, so
//! the whole batch's windows (9x the input for a 3x3 kernel) never exist in memory. The
//! input gradient goes the other way: `w^T @ g` into the scratch, summed onto the input's
//! positions (col2im). Padding is implicit (taps outside the input are zeros in the
//! scratch and skipped by col2im), and a pointwise layer (1x1 kernel, stride 1, no
//! padding) multiplies the input in place.
//!
//! Examples are independent chunks of parallel work (when the batch has one per thread;
//! otherwise gemm splits each product). The weight gradient sums over examples in fixed
//! blocks of [`BLOCK`] examples, each on one thread, and adds the blocks in order, so no
//! result depends on the thread count.

use crate::conv::{Geometry, Product, Real, Row};
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
    mode != Product::InputGrad || Sizes::of(g).pointwise
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
    fn of(g: &Geometry) -> Sizes {
        let (ip, op, kp) = g.planes();
        let cg = g.channels / g.groups;
        let pointwise = kp == 1 && g.stride == [1; 3] && g.padding == [0; 3] && g.input == g.output;
        Sizes { cg, mg: g.out_channels / g.groups, ck: cg * kp, ip, op, kp, pointwise }
    }
}

/// Runs `f(example, its output chunk, threads for gemm)` for every example: in parallel
/// over examples when there is one per thread, else one after the other with gemm
/// splitting each product.
fn per_example<T: Send>(out: &mut [T], chunk: usize, work: usize, f: impl Fn(usize, &mut [T], usize) + Sync + Send) {
    if out.is_empty() {
        return;
    }
    let threads = rayon::current_num_threads();
    if out.len() / chunk >= threads {
        for_out_chunks(out, chunk, work, |start, o| f(start / chunk, o, 1));
    } else {
        for (n, o) in out.chunks_mut(chunk).enumerate() {
            f(n, o, threads);
        }
    }
}

/// im2col of one group of one example: `x` holds its `cg` input planes, `cols` gets
/// `[cg * kp, op]`, zeros where a tap falls in the padding.
fn im2col<T: Real>(x: &[T], plan: &[Row], g: &Geometry, s: &Sizes, cols: &mut [T]) {
    let sw = g.stride[2];
    for c in 0..s.cg {
        let xp = &x[c * s.ip..][..s.ip];
        let mut rows = plan.iter().peekable();
        for tap in 0..s.kp {
            let dst = &mut cols[(c * s.kp + tap) * s.op..][..s.op];
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

/// col2im of one group of one example: sums `cols` `[cg * kp, op]` onto the `cg` planes
/// of `dx` (in the plan's fixed order).
fn col2im<T: Real>(cols: &[T], plan: &[Row], g: &Geometry, s: &Sizes, dx: &mut [T]) {
    let sw = g.stride[2];
    for c in 0..s.cg {
        let xp = &mut dx[c * s.ip..][..s.ip];
        for r in plan {
            let src = &cols[(c * s.kp + r.tap) * s.op + r.output..][..r.len];
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

/// A scratch window matrix for one group, unless the layer is pointwise.
fn scratch<T: Real>(s: &Sizes) -> Option<Storage> {
    (!s.pointwise).then(|| Storage::uninit::<T>(s.ck * s.op))
}

/// `out [N, M, O]` = `w [M, ck]` @ windows, per group.
fn forward<T: Real>(x: &[T], w: &[T], g: &Geometry, s: &Sizes, out: &mut [T]) {
    let plan = g.plan();
    let (c, m) = (g.channels, g.out_channels);
    per_example(out, m * s.op, s.ck, |n, o, threads| {
        let mut buf = scratch::<T>(s);
        for grp in 0..g.groups {
            let xg = &x[(n * c + grp * s.cg) * s.ip..][..s.cg * s.ip];
            let cols: &[T] = match buf.as_mut() {
                Some(b) => {
                    im2col(xg, &plan, g, s, b.as_mut_slice());
                    b.as_slice()
                }
                None => xg,
            };
            let wg = &w[grp * s.mg * s.ck..][..s.mg * s.ck];
            let dst = &mut o[grp * s.mg * s.op..][..s.mg * s.op];
            gemm_into([s.mg, s.op, s.ck], (dst, s.op, 1, false), (wg, s.ck, 1), (cols, s.op, 1), threads);
        }
    });
}

/// `dx [N, C, S]` = col2im(`w^T @ g`), per group.
fn input_grad<T: Real>(gy: &[T], w: &[T], g: &Geometry, s: &Sizes, dx: &mut [T]) {
    let plan = g.plan();
    let (c, m) = (g.channels, g.out_channels);
    per_example(dx, c * s.ip, s.ck, |n, d, threads| {
        let mut buf = scratch::<T>(s);
        for grp in 0..g.groups {
            let gg = &gy[(n * m + grp * s.mg) * s.op..][..s.mg * s.op];
            let wt = (&w[grp * s.mg * s.ck..][..s.mg * s.ck], 1, s.ck);
            let dg = &mut d[grp * s.cg * s.ip..][..s.cg * s.ip];
            match buf.as_mut() {
                Some(b) => {
                    let cols = b.as_mut_slice();
                    gemm_into([s.ck, s.op, s.mg], (&mut *cols, s.op, 1, false), wt, (gg, s.op, 1), threads);
                    col2im(cols, &plan, g, s, dg);
                }
                None => gemm_into([s.ck, s.op, s.mg], (dg, s.op, 1, false), wt, (gg, s.op, 1), threads),
            }
        }
    });
}

/// `dw [M, ck]` = sum over examples of `g @ windows^T`, per group. Each block of
/// [`BLOCK`] examples accumulates its products into its own partial, stored transposed
/// (`[ck, mg]` per group: gemm then packs the short `g` rather than the long window
/// rows), and the partials are added in block order.
fn weight_grad<T: Real>(x: &[T], gy: &[T], g: &Geometry, s: &Sizes, dw: &mut [T]) {
    let plan = g.plan();
    let (c, m, groups) = (g.channels, g.out_channels, g.groups);
    let blocks = g.batch.div_ceil(BLOCK);
    let per_block = m * s.ck;
    if blocks == 0 || per_block == 0 {
        dw.fill(T::default());
        return;
    }
    let mut partials = Storage::uninit::<T>(blocks * per_block);
    per_example(partials.as_mut_slice::<T>(), per_block, s.ck * s.op * BLOCK, |blk, p, threads| {
        let mut buf = scratch::<T>(s);
        for n in blk * BLOCK..((blk + 1) * BLOCK).min(g.batch) {
            for grp in 0..groups {
                let xg = &x[(n * c + grp * s.cg) * s.ip..][..s.cg * s.ip];
                let cols: &[T] = match buf.as_mut() {
                    Some(b) => {
                        im2col(xg, &plan, g, s, b.as_mut_slice());
                        b.as_slice()
                    }
                    None => xg,
                };
                let gg = &gy[(n * m + grp * s.mg) * s.op..][..s.mg * s.op];
                let dst = &mut p[grp * s.ck * s.mg..][..s.ck * s.mg];
                let acc = n > blk * BLOCK;
                gemm_into([s.ck, s.mg, s.op], (dst, s.mg, 1, acc), (cols, s.op, 1), (gg, 1, s.op), threads);
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

    #[test]
    fn the_three_products_match_their_definition() {
        // (batch, C, G, M, input, kernel, stride, dilation, padding): padded, strided,
        // dilated, grouped, pointwise, one example (gemm splits it) and a batch past
        // one block of the weight gradient, and an empty batch.
        type Case = (usize, usize, usize, usize, [usize; 2], [usize; 2], [usize; 2], [usize; 2], [usize; 2]);
        let cases: [Case; 7] = [
            (2, 3, 1, 4, [7, 6], [3, 3], [1, 1], [1, 1], [1, 1]),
            (3, 4, 2, 6, [9, 8], [3, 2], [2, 3], [1, 2], [2, 0]),
            (1, 6, 3, 3, [5, 5], [1, 1], [1, 1], [1, 1], [0, 0]),
            (19, 2, 1, 3, [4, 5], [2, 3], [1, 1], [1, 1], [1, 2]),
            (2, 5, 1, 2, [6, 6], [1, 1], [1, 1], [1, 1], [0, 0]),
            (1, 2, 1, 70, [40, 40], [3, 3], [1, 1], [1, 1], [1, 1]),
            (0, 3, 1, 2, [4, 4], [3, 3], [1, 1], [1, 1], [1, 1]),
        ];
        for (batch, c, groups, m, input, kernel, stride, dilation, padding) in cases {
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
            let x = values(batch * c * ip, 1);
            let w = values(m * c / groups * kp, 2);
            let gy = values(batch * m * op, 3);
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

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (input, output) = ([12, 12], [12, 12]);
        let sp = Spatial {
            input: &input,
            output: &output,
            kernel: &[3, 3],
            stride: &[1, 1],
            dilation: &[1, 1],
            padding: &[1, 1],
        };
        let g = Geometry::new(20, 8, 1, 16, sp);
        let (ip, op, kp) = g.planes();
        let f32s = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect::<Vec<f32>>();
        let (x, w, gy) = (f32s(values(20 * 8 * ip, 1)), f32s(values(16 * 8 * kp, 2)), f32s(values(20 * 16 * op, 3)));
        for (mode, a, b, len) in [
            (Product::Forward, &x, &w, gy.len()),
            (Product::InputGrad, &gy, &w, x.len()),
            (Product::WeightGrad, &x, &gy, w.len()),
        ] {
            let runs: Vec<Vec<u32>> = [1, 2, 3]
                .map(|t| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
                    let mut got = vec![if overwrites(mode, &g) { f32::NAN } else { 0.0 }; len];
                    pool.install(|| run(mode, a, b, &g, &mut got));
                    got.iter().map(|v| v.to_bits()).collect()
                })
                .to_vec();
            assert!(runs.iter().all(|r| *r == runs[0]), "{mode:?}");
        }
    }
}
