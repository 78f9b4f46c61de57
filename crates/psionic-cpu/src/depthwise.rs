//! Direct depthwise convolution: every output channel reads one input channel (channel
//! `co` reads `co / m`, `m` outputs per input), so a layer is a few multiply-adds per
//! output and gains nothing from the matmul kernel. Three kernels: the forward
//! convolution, its input gradient (the transposed convolution) and its weight gradient.
//! Each plane (or weight row) is one chunk of parallel work whose sums run in a fixed
//! order, so results do not depend on the thread count. Zero padding is implicit: taps
//! that fall outside the input are skipped, so the input is never copied. Up to three
//! spatial dims; fewer are treated as leading dims of size one.

use crate::conv::{Geometry, Product, Real};
use crate::parallel::for_out_chunks;

/// Runs `mode` on contiguous inputs into the zeroed `out` (see [`crate::conv::conv`]).
pub(crate) fn run<T: Real>(mode: Product, a: &[T], b: &[T], g: &Geometry, out: &mut [T]) {
    match mode {
        Product::Forward => forward(a, b, g, out),
        Product::InputGrad => input_grad(a, b, g, out),
        Product::WeightGrad => weight_grad(a, b, g, out),
    }
}

fn forward<T: Real>(x: &[T], w: &[T], g: &Geometry, out: &mut [T]) {
    let (ip, op, kp) = g.planes();
    let (cout, m, sw) = (g.out_channels, g.out_channels / g.channels, g.stride[2]);
    let plan = g.plan();
    for_out_chunks(out, op, kp, |start, plane| {
        let (n, co) = (start / op / cout, start / op % cout);
        let xp = &x[(n * g.channels + co / m) * ip..][..ip];
        let wk = &w[co * kp..][..kp];
        for r in &plan {
            let wv = wk[r.tap];
            let orow = &mut plane[r.output..r.output + r.len];
            if sw == 1 {
                for (o, &v) in orow.iter_mut().zip(&xp[r.input..r.input + r.len]) {
                    *o = *o + wv * v;
                }
            } else {
                for (j, o) in orow.iter_mut().enumerate() {
                    *o = *o + wv * xp[r.input + j * sw];
                }
            }
        }
    });
}

fn input_grad<T: Real>(gy: &[T], w: &[T], g: &Geometry, out: &mut [T]) {
    let (ip, op, kp) = g.planes();
    let (cout, m, sw) = (g.out_channels, g.out_channels / g.channels, g.stride[2]);
    let plan = g.plan();
    for_out_chunks(out, ip, m * kp, |start, plane| {
        let (n, ci) = (start / ip / g.channels, start / ip % g.channels);
        for co in ci * m..(ci + 1) * m {
            let gp = &gy[(n * cout + co) * op..][..op];
            let wk = &w[co * kp..][..kp];
            for r in &plan {
                let wv = wk[r.tap];
                let grow = &gp[r.output..r.output + r.len];
                if sw == 1 {
                    for (t, &v) in plane[r.input..r.input + r.len].iter_mut().zip(grow) {
                        *t = *t + wv * v;
                    }
                } else {
                    for (j, &v) in grow.iter().enumerate() {
                        plane[r.input + j * sw] = plane[r.input + j * sw] + wv * v;
                    }
                }
            }
        }
    });
}

/// Lanes of independent partial sums in the weight gradient's dot products: enough for
/// the compiler to vectorize, combined in a fixed order at the end.
const LANES: usize = 8;

fn weight_grad<T: Real>(x: &[T], gy: &[T], g: &Geometry, out: &mut [T]) {
    let (ip, op, kp) = g.planes();
    let (cout, m, sw) = (g.out_channels, g.out_channels / g.channels, g.stride[2]);
    let plan = g.plan();
    for_out_chunks(out, kp, g.batch * op, |start, wrow| {
        let co = start / kp;
        let mut acc = vec![[T::default(); LANES]; kp];
        for n in 0..g.batch {
            let xp = &x[(n * g.channels + co / m) * ip..][..ip];
            let gp = &gy[(n * cout + co) * op..][..op];
            for r in &plan {
                let a = &mut acc[r.tap];
                for (j, &v) in gp[r.output..r.output + r.len].iter().enumerate() {
                    a[j % LANES] = a[j % LANES] + v * xp[r.input + j * sw];
                }
            }
        }
        for (w, a) in wrow.iter_mut().zip(&acc) {
            *w = a.iter().fold(T::default(), |s, &v| s + v);
        }
    });
}
