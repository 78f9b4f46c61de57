//! Convolutions of f32 and f64 with zero padding done implicitly: the three products of a
//! convolution (the convolution itself, its input gradient, its weight gradient) over up
//! to three spatial dims, for any grouping. Depthwise layers (one input channel per
//! group) go to the direct kernels of [`crate::depthwise`]; every other grouping goes to
//! [`crate::conv_gemm`], which lays out a run of examples' windows at a time and
//! multiplies them on the matmul kernel. Both read the input in place: taps that fall in
//! the padding are skipped, so the padded input is never built.

use crate::array::CpuArray;
use crate::element::Element;
use crate::elementwise::contiguous;
use crate::storage::Storage;
use crate::window::lift3;
use psionic_core::DType;

/// Which of the three products to compute (`G` groups, `C` input channels, `M` output
/// channels; `S`, `O`, `K` the input, output and kernel sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// `(x [N, C, S...], w [M, C / G, K...]) -> [N, M, O...]`.
    Forward,
    /// `(g [N, M, O...], w [M, C / G, K...]) -> [N, C, S...]`.
    InputGrad,
    /// `(x [N, C, S...], g [N, M, O...]) -> [M, C / G, K...]`.
    WeightGrad,
}

/// Sizes of one convolution, spatial dims padded to three.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub batch: usize,
    /// Input channels.
    pub channels: usize,
    pub groups: usize,
    pub out_channels: usize,
    pub input: [usize; 3],
    pub output: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    /// Zeros before the input along each dim (those after follow from the output size).
    pub padding: [usize; 3],
}

/// Per-dim sizes of a convolution (1 to 3 values each).
#[derive(Clone, Copy, Debug)]
pub struct Spatial<'a> {
    pub input: &'a [usize],
    pub output: &'a [usize],
    pub kernel: &'a [usize],
    pub stride: &'a [usize],
    pub dilation: &'a [usize],
    pub padding: &'a [usize],
}

impl Geometry {
    pub fn new(batch: usize, channels: usize, groups: usize, out_channels: usize, s: Spatial) -> Geometry {
        Geometry {
            batch,
            channels,
            groups,
            out_channels,
            input: lift3(s.input, 1),
            output: lift3(s.output, 1),
            kernel: lift3(s.kernel, 1),
            stride: lift3(s.stride, 1),
            dilation: lift3(s.dilation, 1),
            padding: lift3(s.padding, 0),
        }
    }

    /// Whether each group holds one input channel (the direct kernels' case).
    pub fn is_depthwise(&self) -> bool {
        self.groups == self.channels
    }

    /// Elements of an input plane, an output plane and a kernel.
    pub(crate) fn planes(&self) -> (usize, usize, usize) {
        let p = |a: [usize; 3]| a.iter().product::<usize>();
        (p(self.input), p(self.output), p(self.kernel))
    }

    /// Input position of output `o` at kernel offset `k` along dim `i` (may be outside).
    fn at(&self, i: usize, o: usize, k: usize) -> isize {
        (o * self.stride[i] + k * self.dilation[i]) as isize - self.padding[i] as isize
    }

    /// Every (kernel offset, output row) pair whose taps meet the input, in the fixed
    /// summation order (kernel offsets row-major, then output rows, so the rows of one
    /// tap are in increasing output order). The list is the same for every plane, so it
    /// is built once per call: a plane then costs only its multiply-adds or copies,
    /// which matters for small planes with many short rows.
    pub(crate) fn plan(&self) -> Vec<Row> {
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
pub(crate) struct Row {
    pub tap: usize,
    pub input: usize,
    pub output: usize,
    pub len: usize,
}

/// The element types the convolution kernels take.
pub(crate) trait Real:
    Element + crate::matmul::GemmScalar + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self>
{
}
impl Real for f32 {}
impl Real for f64 {}

/// Runs `mode` on `a` and `b` (f32 or f64; either layout) with geometry `g`.
pub fn conv(mode: Product, a: &CpuArray, b: &CpuArray, g: &Geometry, out_shape: &[usize]) -> CpuArray {
    match a.dtype() {
        DType::F32 => run::<f32>(mode, a, b, g, out_shape),
        DType::F64 => run::<f64>(mode, a, b, g, out_shape),
        dt => panic!("convolution kernel of {dt:?} (only f32 and f64 have one)"),
    }
}

fn run<T: Real>(mode: Product, a: &CpuArray, b: &CpuArray, g: &Geometry, out_shape: &[usize]) -> CpuArray {
    // Contiguous inputs are read in place; strided ones are copied once.
    let [ac, bc] = [a, b].map(|x| x.contiguous_slice::<T>().is_none().then(|| contiguous::<T>(x)));
    let a = ac.as_ref().unwrap_or(a).contiguous_slice::<T>().expect("contiguous");
    let b = bc.as_ref().unwrap_or(b).contiguous_slice::<T>().expect("contiguous");
    let n = psionic_core::numel(out_shape);
    // Kernels that sum into their output get it zeroed; the others write every element.
    let dense = !g.is_depthwise();
    let mut out = if dense && crate::conv_gemm::overwrites(mode, g) {
        Storage::uninit::<T>(n)
    } else {
        Storage::filled::<T>(n, T::default())
    };
    let o = out.as_mut_slice::<T>();
    if dense {
        crate::conv_gemm::run(mode, a, b, g, o);
    } else {
        crate::depthwise::run(mode, a, b, g, o);
    }
    CpuArray::new(out, out_shape)
}
