//! Direct depthwise convolution: every output channel reads one input channel (channel
//! `co` reads `co / m`, `m` outputs per input), so a layer is a few multiply-adds per
//! output and gains nothing from the matmul kernel. Three kernels: the forward
//! convolution, its input gradient (the transposed convolution) and its weight gradient.
//! Each plane (or weight row) is one chunk of parallel work whose sums run in a fixed
//! order, so results do not depend on the thread count. Zero padding is implicit: taps
//! that fall outside the input are skipped, so the input is never copied. Up to three
//! spatial dims; fewer are treated as leading dims of size one.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::contiguous;
use crate::parallel::for_out_chunks;
use crate::storage::Storage;
use crate::window::lift3;
use psionic_core::DType;
use std::ops::{Add, Mul};

/// Which of the three products to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Depthwise {
    /// `(x [N, C, S...], w [C m, 1, K...]) -> [N, C m, O...]`.
    Forward,
    /// `(g [N, C m, O...], w [C m, 1, K...]) -> [N, C, S...]`.
    InputGrad,
    /// `(x [N, C, S...], g [N, C m, O...]) -> [C m, 1, K...]`.
    WeightGrad,
}

/// Sizes of one depthwise convolution, spatial dims padded to three.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub multiplier: usize,
    pub input: [usize; 3],
    pub output: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    /// Zeros before the input along each dim (those after follow from the output size).
    pub padding: [usize; 3],
}

impl Geometry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        channels: usize,
        multiplier: usize,
        input: &[usize],
        output: &[usize],
        kernel: &[usize],
        stride: &[usize],
        dilation: &[usize],
        padding: &[usize],
    ) -> Geometry {
        Geometry {
            batch,
            channels,
            multiplier,
            input: lift3(input, 1),
            output: lift3(output, 1),
            kernel: lift3(kernel, 1),
            stride: lift3(stride, 1),
            dilation: lift3(dilation, 1),
            padding: lift3(padding, 0),
        }
    }

    fn planes(&self) -> (usize, usize, usize) {
        let p = |a: [usize; 3]| a.iter().product::<usize>();
        (p(self.input), p(self.output), p(self.kernel))
    }

    /// Input position of output `o` at kernel offset `k` along dim `i` (may be outside).
    fn at(&self, i: usize, o: usize, k: usize) -> isize {
        (o * self.stride[i] + k * self.dilation[i]) as isize - self.padding[i] as isize
    }

    /// Every (kernel offset, output row) pair whose taps meet the input, in the fixed
    /// summation order (kernel offsets row-major, then output rows). The list is the
    /// same for every plane, so it is built once per call: a plane then costs only its
    /// multiply-adds, which matters for small planes with many short rows.
    fn plan(&self) -> Vec<Row> {
        let (i, o, k, s) = (self.input, self.output, self.kernel, self.stride);
        let inside = |d: usize, v: isize| v >= 0 && (v as usize) < i[d];
        let mut rows = Vec::new();
        for kd in 0..k[0] {
            for kh in 0..k[1] {
                for kw in 0..k[2] {
                    let kk = (kd * k[1] + kh) * k[2] + kw;
                    let off = self.at(2, 0, kw);
                    let st = s[2] as isize;
                    let lo = if off >= 0 { 0 } else { ((-off + st - 1) / st) as usize };
                    let hi = (((i[2] as isize - off + st - 1) / st).max(0) as usize).min(o[2]);
                    if lo >= hi {
                        continue;
                    }
                    for od in 0..o[0] {
                        let id = self.at(0, od, kd);
                        if !inside(0, id) {
                            continue;
                        }
                        for oh in 0..o[1] {
                            let ih = self.at(1, oh, kh);
                            if inside(1, ih) {
                                let row = (id as usize * i[1] + ih as usize) * i[2];
                                rows.push(Row {
                                    tap: kk,
                                    input: (row as isize + lo as isize * st + off) as usize,
                                    output: (od * o[1] + oh) * o[2] + lo,
                                    len: hi - lo,
                                });
                            }
                        }
                    }
                }
            }
        }
        rows
    }
}

/// One kernel offset applied along one output row: outputs `output..output + len` of the
/// plane read inputs `input + j * stride` (`j < len`) with weight `tap`.
#[derive(Clone, Copy, Debug)]
struct Row {
    tap: usize,
    input: usize,
    output: usize,
    len: usize,
}

trait Real: Element + Add<Output = Self> + Mul<Output = Self> {}
impl Real for f32 {}
impl Real for f64 {}

/// Runs `mode` on `a` and `b` (f32 or f64; either layout) with geometry `g`.
pub fn depthwise(mode: Depthwise, a: &CpuArray, b: &CpuArray, g: &Geometry, out_shape: &[usize]) -> CpuArray {
    match a.dtype() {
        DType::F32 => run::<f32>(mode, a, b, g, out_shape),
        DType::F64 => run::<f64>(mode, a, b, g, out_shape),
        dt => panic!("depthwise convolution of {dt:?} (only f32 and f64 have the direct kernel)"),
    }
}

fn run<T: Real>(mode: Depthwise, a: &CpuArray, b: &CpuArray, g: &Geometry, out_shape: &[usize]) -> CpuArray {
    // Contiguous inputs are read in place; strided ones are copied once.
    let [ac, bc] = [a, b].map(|x| x.contiguous_slice::<T>().is_none().then(|| contiguous::<T>(x)));
    let a = ac.as_ref().unwrap_or(a).contiguous_slice::<T>().expect("contiguous");
    let b = bc.as_ref().unwrap_or(b).contiguous_slice::<T>().expect("contiguous");
    let mut out = Storage::filled::<T>(psionic_core::numel(out_shape), T::default());
    let o = out.as_mut_slice::<T>();
    match mode {
        Depthwise::Forward => forward(a, b, g, o),
        Depthwise::InputGrad => input_grad(a, b, g, o),
        Depthwise::WeightGrad => weight_grad(a, b, g, o),
    }
    CpuArray::new(out, out_shape)
}

fn forward<T: Real>(x: &[T], w: &[T], g: &Geometry, out: &mut [T]) {
    let (ip, op, kp) = g.planes();
    let (cout, m, sw) = (g.channels * g.multiplier, g.multiplier, g.stride[2]);
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
    let (cout, m, sw) = (g.channels * g.multiplier, g.multiplier, g.stride[2]);
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
    let (cout, m, sw) = (g.channels * g.multiplier, g.multiplier, g.stride[2]);
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
