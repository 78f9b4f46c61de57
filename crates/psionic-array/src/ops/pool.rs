//! Max and average pooling over the last 1-3 dims, read through the windows view.
//! Max pooling picks each window's first maximum (NaN counts as the maximum) with a
//! gather, so its gradient goes to that one element as in PyTorch; average pooling sums
//! the windows and divides by PyTorch's divisor (the window within the padded input, or
//! only its real elements, or an override).

use super::conv::{batched, expand_arg, pad_spatial, unbatch, windows};
use super::resample::adaptive_window;
use crate::autocast;
use crate::mode::{check, raise};
use crate::ops::args::dims_i64;
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};
use psionic_cpu::pool::PoolGeometry;

/// What every pooling op is given, per spatial dim.
#[derive(Clone, Debug)]
pub struct Pool {
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub padding: Vec<usize>,
    pub dilation: Vec<usize>,
    pub ceil_mode: bool,
}

impl Pool {
    /// `stride` empty means the kernel size (PyTorch's default).
    pub fn new(
        k: usize,
        kernel: &[usize],
        stride: &[usize],
        padding: &[usize],
        dilation: &[usize],
        ceil_mode: bool,
    ) -> Pool {
        let op = "pool";
        let kernel = expand_arg(op, "kernel_size", kernel, k);
        let stride = if stride.is_empty() { kernel.clone() } else { expand_arg(op, "stride", stride, k) };
        let padding = expand_arg(op, "padding", padding, k);
        let dilation = expand_arg(op, "dilation", dilation, k);
        if (0..k).any(|i| 2 * padding[i] > kernel[i]) {
            raise(Error::invalid(op, "pad should be at most half of effective kernel size"));
        }
        Pool { kernel, stride, padding, dilation, ceil_mode }
    }

    /// Output size along dim `i` of an input of size `s`, and the extra right padding
    /// that ceil mode needs to read it.
    fn out_size(&self, i: usize, s: usize) -> (usize, usize) {
        let (k, st, p, d) = (self.kernel[i], self.stride[i], self.padding[i], self.dilation[i]);
        let span = d * (k - 1) + 1;
        let room = (s + 2 * p).checked_sub(span).unwrap_or_else(|| {
            raise(Error::shape(
                "pool",
                format!("Output size is too small (input size {s}, padding {p}, dilated kernel {span})"),
            ))
        });
        let mut o = if self.ceil_mode { room.div_ceil(st) + 1 } else { room / st + 1 };
        // A last window that would start in the right padding is dropped.
        if self.ceil_mode && (o - 1) * st >= s + p {
            o -= 1;
        }
        let need = (o - 1) * st + span;
        (o, need.saturating_sub(s + 2 * p))
    }

    /// The batched input, whether a batch dim was added, its spatial sizes, the output
    /// sizes with their ceil-mode extras, and the `(left, right)` padding that reads them.
    fn prepare(&self, op: &'static str, x: &Tensor) -> Prepared {
        let k = self.kernel.len();
        let (x, unbatched) = batched(op, x, k);
        let spatial: Vec<usize> = x.shape()[2..].to_vec();
        let sizes: Vec<(usize, usize)> = (0..k).map(|i| self.out_size(i, spatial[i])).collect();
        let lr = (0..k).map(|i| (self.padding[i], self.padding[i] + sizes[i].1)).collect();
        Prepared { x, unbatched, spatial, sizes, lr }
    }
}

struct Prepared {
    x: Tensor,
    unbatched: bool,
    spatial: Vec<usize>,
    sizes: Vec<(usize, usize)>,
    lr: Vec<(usize, usize)>,
}

/// Row-major coordinates of the flat positions `flat` within a block of `sizes`.
fn unravel(flat: &Tensor, sizes: &[usize]) -> Vec<Tensor> {
    let mut rem = flat.clone();
    let mut coords = vec![];
    for &size in sizes.iter().rev() {
        coords.push(rem.remainder(size as i64));
        rem = rem.div_mode(size as i64, Some("floor"));
    }
    coords.reverse();
    coords
}

impl Tensor {
    /// Max pooling over the last `p.kernel.len()` dims: values and the flat position of
    /// each maximum within its input plane (PyTorch's `return_indices`). One kernel finds
    /// the positions; the values are a gather through them, whose gradient routes each
    /// output's gradient to the element it picked.
    #[track_caller]
    pub fn max_pool(&self, p: &Pool) -> (Tensor, Tensor) {
        // 3-d pooling is on autocast's float32 list.
        if p.kernel.len() == 3 {
            let x = autocast::full(self);
            if let Some(y) = autocast::casting(|| x.max_pool(p)) {
                return y;
            }
        }
        let k = p.kernel.len();
        let Prepared { x, unbatched, spatial, sizes, .. } = p.prepare("max_pool", self);
        let output: Vec<usize> = sizes.iter().map(|s| s.0).collect();
        let geom = PoolGeometry {
            input: spatial.clone(),
            output: output.clone(),
            kernel: p.kernel.clone(),
            stride: p.stride.clone(),
            padding: p.padding.clone(),
            dilation: p.dilation.clone(),
        };
        let pos = check(Tensor::make(Prim::MaxPoolIndex(geom), &[&x]));
        let lead = dims_i64(&x.shape()[..x.dim() - k]);
        let flat = |t: &Tensor| t.reshape(&[lead.clone(), vec![-1]].concat());
        let values = flat(&x).gather(-1, &flat(&pos)).reshape(&[lead.clone(), dims_i64(&output)].concat());
        (unbatch(values, unbatched), unbatch(pos, unbatched))
    }

    /// Average pooling; `count_include_pad` counts the zero padding in the divisor,
    /// `divisor` overrides it.
    #[track_caller]
    pub fn avg_pool(&self, p: &Pool, count_include_pad: bool, divisor: Option<i64>) -> Tensor {
        if p.kernel.len() == 3 {
            let x = autocast::full(self);
            if let Some(y) = autocast::casting(|| x.avg_pool(p, count_include_pad, divisor)) {
                return y;
            }
        }
        let k = p.kernel.len();
        let Prepared { x, unbatched, spatial: sp, sizes, lr } = p.prepare("avg_pool", self);
        if x.dtype() == DType::Bool {
            raise(Error::dtype("avg_pool", "\"avg_pool\" not implemented for 'Bool'"));
        }
        let win_dims: Vec<i64> = (0..k).map(|i| -(i as i64) - 1).collect();
        let sums = windows(&pad_spatial(&x, &lr, 0.0), &p.kernel, &p.stride, &p.dilation).sum(win_dims.clone(), false);
        // Integer averages truncate toward zero, as PyTorch's do.
        let divide = |s: &Tensor, d: &Tensor| {
            if x.dtype().is_float() {
                s / d
            } else {
                s.div_mode(d.to_dtype(DType::I64), Some("trunc")).to_dtype(x.dtype())
            }
        };
        let count_dtype = if x.dtype().is_float() { x.dtype() } else { DType::I64 };
        let out = match divisor {
            Some(0) => raise(Error::invalid("avg_pool", "divisor must be not zero")),
            Some(d) => divide(&sums, &Tensor::scalar(d).to_dtype(count_dtype)),
            None => {
                // Which padded positions count: the real ones, plus the declared padding
                // (never ceil mode's extra) when it is included.
                let ones = Tensor::ones(&sp, count_dtype);
                let counted = if count_include_pad {
                    let inner: Vec<(usize, usize)> = (0..k).map(|i| (p.padding[i], p.padding[i])).collect();
                    pad_spatial(
                        &pad_spatial(&ones, &inner, 1.0),
                        &(0..k).map(|i| (0, sizes[i].1)).collect::<Vec<_>>(),
                        0.0,
                    )
                } else {
                    pad_spatial(&ones, &lr, 0.0)
                };
                let count = windows(&counted, &p.kernel, &p.stride, &p.dilation).sum(win_dims, false);
                divide(&sums, &count)
            }
        };
        unbatch(out, unbatched)
    }
}

impl Tensor {
    /// `F.lp_pool{1,2,3}d(x, p, kernel, stride, ceil_mode)`: `(sum over the window of
    /// x^p)^(1/p)`, computed as PyTorch does from the average (so ceil mode's partial
    /// windows are scaled the same way).
    #[track_caller]
    pub fn lp_pool(&self, norm: f64, p: &Pool) -> Tensor {
        let avg = self.pow(norm).avg_pool(p, true, None);
        let count: usize = p.kernel.iter().product();
        (&avg.sign() * &avg.abs().relu()).mul(count as f64).pow(1.0 / norm)
    }

    /// `F.max_unpool{k}d(x, indices, kernel, stride, padding, output_size)`: places each
    /// value at its flat position (per channel) in a zero tensor of the unpooled size.
    #[track_caller]
    pub fn max_unpool(&self, indices: &Tensor, k: usize, p: &Pool, output_size: Option<&[usize]>) -> Tensor {
        let s = self.shape();
        if s.len() < k + 1 || indices.shape() != s {
            raise(Error::shape("max_unpool", format!("Expected shape of indices to be same as that of the input tensor ({s:?}) but got indices tensor with shape: {:?}", indices.shape())));
        }
        let lead = &s[..s.len() - k];
        let default: Vec<usize> = (0..k)
            .map(|i| ((s[s.len() - k + i] - 1) * p.stride[i] + p.kernel[i]).saturating_sub(2 * p.padding[i]))
            .collect();
        let out = match output_size {
            Some(o) => o[o.len() - k..].to_vec(),
            None => default,
        };
        let flat: usize = out.iter().product();
        let mut fs = dims_i64(lead);
        fs.push(-1);
        let mut zs = lead.to_vec();
        zs.push(flat);
        let y = Tensor::zeros(&zs, self.dtype()).scatter(-1, &indices.reshape(&fs), self.reshape(&fs));
        let full = dims_i64(&[lead, &out].concat());
        y.reshape(&full)
    }

    /// `F.adaptive_max_pool{k}d(x, output_size, return_indices=True)` over the last
    /// `output.len()` dims: PyTorch's adaptive windows (`[floor(i*in/out),
    /// ceil((i+1)*in/out))`), each window's first maximum in row-major order (NaN counts
    /// as the maximum) and its flat position within the input plane.
    #[track_caller]
    pub fn adaptive_max_pool(&self, output: &[usize]) -> (Tensor, Tensor) {
        let k = output.len();
        let nd = self.dim();
        let shape = self.shape();
        let op = "adaptive_max_pool";
        if !(nd == k + 1 || nd == k + 2) || shape[nd - k - 1..].contains(&0) {
            raise(Error::shape(
                op,
                format!(
                    "adaptive_max_pool{k}d(): Expected {}D or {}D tensor with non-zero sizes, but got: {shape:?}",
                    k + 1,
                    k + 2
                ),
            ));
        }
        if !self.dtype().is_float() {
            raise(Error::dtype(op, format!("\"adaptive_max_pool{k}d\" not implemented for '{}'", self.dtype().name())));
        }
        let lead = nd - k;
        let spatial = &shape[lead..];
        // Each dim in turn becomes `[out, widest]`: window starts plus offsets, offsets
        // past a window's end repeating its last element (never a first maximum).
        let mut y = self.clone();
        let mut widest = vec![];
        let mut ends = vec![];
        for (i, &o) in output.iter().enumerate() {
            let win: Vec<(usize, usize)> = (0..o).map(|j| adaptive_window(j, spatial[i], o)).collect();
            let wide = win.iter().map(|(a, b)| b - a).max().unwrap_or(1);
            let table: Vec<i64> =
                win.iter().flat_map(|&(a, b)| (0..wide).map(move |t| (a + t.min(b - a - 1)) as i64)).collect();
            let d = (lead + 2 * i) as i64;
            y = y.index_select(d, &Tensor::from_vec(table, &[o * wide])).unflatten(d, &[o as i64, wide as i64]);
            widest.push(wide);
            ends.push(win);
        }
        let perm: Vec<i64> = (0..lead)
            .chain((0..k).map(|i| lead + 2 * i))
            .chain((0..k).map(|i| lead + 2 * i + 1))
            .map(|d| d as i64)
            .collect();
        let y = y.permute(&perm).flatten(lead as i64 + k as i64, -1);
        let arg = y.argmax(Some(-1), true);
        let values = y.gather(-1, &arg).squeeze_dims(&[-1]);
        let offsets = unravel(&arg.squeeze_dims(&[-1]), &widest);
        let mut pos = Tensor::zeros(&[], DType::I64);
        for (i, win) in ends.iter().enumerate() {
            let mut bshape = vec![1i64; k];
            bshape[i] = output[i] as i64;
            let column = |f: &dyn Fn(&(usize, usize)) -> usize| {
                Tensor::from_vec(win.iter().map(|w| f(w) as i64).collect(), &[output[i]]).reshape(&bshape)
            };
            let at = &column(&|w| w.0) + &offsets[i].minimum(column(&|w| w.1 - w.0 - 1));
            pos = &(&pos * spatial[i] as i64) + &at;
        }
        (values, pos)
    }
}
