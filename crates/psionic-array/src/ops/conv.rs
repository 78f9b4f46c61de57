//! Convolutions (PyTorch's `conv{1,2,3}d`, `conv_transpose{1,2,3}d`, `unfold`/`fold`).
//!
//! A convolution of f32 or f64 is one primitive (`Prim::Conv`) whose kernel pads
//! implicitly and lays out a few examples' windows at a time for the matmul kernel
//! (depthwise layers use direct kernels); its gradients are its two sibling products.
//! Other dtypes read the input through the windows view (im2col without copying), lay the
//! windows out as rows `[N * positions, C_in * kernel]` (the one copy) and multiply them
//! by the weight on the matmul kernel; their gradients come from the pieces: the
//! matmul's, then col2im (`Fold`) for the windows view. A transposed convolution is the
//! same product the other way round followed by col2im, which is exactly the input
//! gradient of a convolution.

use super::pad::PadMode;
use crate::autocast;
use crate::mode::{check, raise};
use crate::ops::args::dims_i64;
use crate::prim::{Convolution, Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::{DType, Error};
use psionic_cpu::conv::Product;

/// Padding of a convolution: per spatial dim, or PyTorch's `"same"` / `"valid"`.
#[derive(Clone, Debug, PartialEq)]
pub enum Padding {
    Explicit(Vec<usize>),
    Same,
    Valid,
}

impl Padding {
    /// The (before, after) padding of each spatial dim for a convolution with these
    /// kernel sizes, strides and dilations (one value each per dim).
    #[track_caller]
    pub fn pairs(&self, kernel: &[usize], stride: &[usize], dilation: &[usize]) -> Vec<(usize, usize)> {
        let (op, k) = ("conv", kernel.len());
        match self {
            Padding::Valid => vec![(0, 0); k],
            Padding::Explicit(p) => expand_arg(op, "padding", p, k).into_iter().map(|p| (p, p)).collect(),
            Padding::Same => {
                if stride.iter().any(|&s| s != 1) {
                    raise(Error::invalid(op, "padding='same' is not supported for strided convolutions"));
                }
                // PyTorch puts the odd element of the total on the right.
                (0..k).map(|i| dilation[i] * (kernel[i] - 1)).map(|t| (t / 2, t - t / 2)).collect()
            }
        }
    }
}

/// A per-dim argument given as one value or one per spatial dim (PyTorch's message when
/// the count is wrong).
#[track_caller]
pub fn expand_arg(op: &'static str, name: &str, v: &[usize], k: usize) -> Vec<usize> {
    match v.len() {
        1 => vec![v[0]; k],
        n if n == k => v.to_vec(),
        n => raise(Error::invalid(
            op,
            format!("expected {name} to be a single integer value or a list of {k} values, got {n}"),
        )),
    }
}

/// Windows over the last `kernel.len()` dims (a view).
pub(crate) fn windows(x: &Tensor, kernel: &[usize], stride: &[usize], dilation: &[usize]) -> Tensor {
    check(x.make_view(ViewOp::Windows {
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        dilation: dilation.to_vec(),
    }))
}

/// col2im: `[..., O..., K...]` window values summed onto `[..., spatial...]`.
pub(crate) fn fold_windows(
    cols: &Tensor,
    spatial: &[usize],
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
) -> Tensor {
    let p = Prim::Fold(crate::prim::Fold {
        spatial: spatial.to_vec(),
        kernel: kernel.to_vec(),
        stride: stride.to_vec(),
        dilation: dilation.to_vec(),
    });
    check(Tensor::make(p, &[cols]))
}

/// Zero padding of the last dims, `(left, right)` per dim in order.
pub(crate) fn pad_spatial(x: &Tensor, lr: &[(usize, usize)], value: impl Into<psionic_core::Scalar>) -> Tensor {
    if lr.iter().all(|&(l, r)| l == 0 && r == 0) {
        return x.clone();
    }
    let pads: Vec<i64> = lr.iter().rev().flat_map(|&(l, r)| [l as i64, r as i64]).collect();
    x.pad(&pads, PadMode::Constant, value)
}

/// Adds a leading batch dim to an unbatched input (rank `k + 1`), checking the rank.
pub(crate) fn batched(op: &'static str, x: &Tensor, k: usize) -> (Tensor, bool) {
    match x.dim() {
        d if d == k + 2 => (x.clone(), false),
        d if d == k + 1 => (x.unsqueeze(0), true),
        d => raise(Error::shape(
            op,
            format!(
                "Expected {}D (unbatched) or {}D (batched) input to {op}, but got input of size: {:?} ({d}D)",
                k + 1,
                k + 2,
                x.shape()
            ),
        )),
    }
}

/// Removes the batch dim [`batched`] added.
pub(crate) fn unbatch(t: Tensor, unbatched: bool) -> Tensor {
    if unbatched {
        t.squeeze_dims(&[0])
    } else {
        t
    }
}

/// `out` `[N, C, S...]` plus a per-channel bias.
fn with_bias(out: Tensor, bias: Option<&Tensor>) -> Tensor {
    match bias {
        Some(b) => {
            let mut shape = vec![1i64; out.dim()];
            shape[1] = -1;
            &out + &b.reshape(&shape)
        }
        None => out,
    }
}

/// The permutation between `[N, C, A..., B...]` and `[N, C, B..., A...]` for two blocks
/// of `k` dims (windows `[O..., K...]` and im2col rows `[K..., O...]`); its own inverse.
fn swap_blocks(k: usize) -> Vec<i64> {
    let k = k as i64;
    [vec![0, 1], (2 + k..2 + 2 * k).collect(), (2..2 + k).collect()].concat()
}

impl Tensor {
    /// N-d convolution (cross-correlation) of `self` `[N, C_in, S...]` (or unbatched
    /// `[C_in, S...]`) with `weight` `[C_out, C_in / groups, K...]`.
    #[track_caller]
    pub fn conv(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: &[usize],
        padding: Padding,
        dilation: &[usize],
        groups: usize,
    ) -> Tensor {
        // On autocast's lower-precision list, bias included.
        let (x, w, b) = (autocast::lower(self), autocast::lower(weight), autocast::lower_opt(bias));
        if let Some(y) = autocast::casting(|| x.conv(&w, b.as_ref(), stride, padding.clone(), dilation, groups)) {
            return y;
        }
        let op = "conv";
        let k = weight.dim().checked_sub(2).unwrap_or_else(|| raise(Error::shape(op, "weight needs at least 3 dims")));
        let (x, unbatched) = batched(op, self, k);
        let (stride, dilation) = (expand_arg(op, "stride", stride, k), expand_arg(op, "dilation", dilation, k));
        let ws = weight.shape();
        let kernel = ws[2..].to_vec();
        let (n, cin, cout) = (x.size(0), x.size(1), ws[0]);
        if groups == 0 || cin % groups != 0 || cout % groups != 0 || ws[1] * groups != cin {
            raise(Error::shape(
                op,
                format!("Given groups={groups}, weight of size {ws:?}, expected input{:?} to have {} channels, but got {cin} channels instead", x.shape(), ws[1] * groups),
            ));
        }
        if x.dtype() != weight.dtype() {
            raise(Error::dtype(
                op,
                format!("Input type ({}) and weight type ({}) should be the same", x.dtype(), weight.dtype()),
            ));
        }
        let lr = padding.pairs(&kernel, &stride, &dilation);
        let mut padded = x.shape();
        for (i, &(l, r)) in lr.iter().enumerate() {
            padded[2 + i] += l + r;
        }
        // The windows' layout checks the sizes and gives the output's, without data.
        let wl = check(psionic_core::Layout::contiguous(&padded).windows("windows", &kernel, &stride, &dilation));
        let out_sp: Vec<usize> = wl.shape[2..2 + k].to_vec();
        let out = if matches!(x.dtype(), DType::F32 | DType::F64) {
            // The convolution kernel: padding implicit, windows laid out a run of
            // examples at a time.
            let d = Convolution {
                mode: Product::Forward,
                channels: cin,
                groups,
                input: x.shape()[2..].to_vec(),
                output: out_sp.clone(),
                kernel: kernel.clone(),
                stride: stride.clone(),
                dilation: dilation.clone(),
                padding: lr.iter().map(|p| p.0).collect(),
            };
            check(Tensor::make(Prim::Conv(d), &[&x, weight]))
        } else {
            let w = windows(&pad_spatial(&x, &lr, 0.0), &kernel, &stride, &dilation);
            // [N, C, O..., K...] -> [N, C, K..., O...]: rows run along the output width,
            // so the im2col copy reads the input in long unit-stride runs, and the
            // product `weight @ cols` per sample lands directly in [N, C_out, O...] order.
            let cols = w.permute(&swap_blocks(k));
            let p: usize = out_sp.iter().product();
            let kp: usize = kernel.iter().product();
            let (cg, og) = (cin / groups, cout / groups);
            if groups == 1 {
                let cols = cols.reshape(&[n as i64, (cin * kp) as i64, p as i64]);
                weight.reshape(&[cout as i64, (cin * kp) as i64]).matmul(&cols)
            } else {
                let cols = cols.reshape(&[n as i64, groups as i64, (cg * kp) as i64, p as i64]);
                weight.reshape(&[groups as i64, og as i64, (cg * kp) as i64]).matmul(&cols)
            }
        };
        let mut shape = vec![n as i64, cout as i64];
        shape.extend(dims_i64(&out_sp));
        let out = out.reshape(&shape);
        unbatch(with_bias(out, bias), unbatched)
    }

    /// Transposed convolution of `self` `[N, C_in, S...]` with `weight`
    /// `[C_in, C_out / groups, K...]` (the input gradient of `conv`).
    #[track_caller]
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: &[usize],
        padding: &[usize],
        output_padding: &[usize],
        groups: usize,
        dilation: &[usize],
    ) -> Tensor {
        let (x, w, b) = (autocast::lower(self), autocast::lower(weight), autocast::lower_opt(bias));
        let again = || x.conv_transpose(&w, b.as_ref(), stride, padding, output_padding, groups, dilation);
        if let Some(y) = autocast::casting(again) {
            return y;
        }
        let op = "conv_transpose";
        let k = weight.dim().checked_sub(2).unwrap_or_else(|| raise(Error::shape(op, "weight needs at least 3 dims")));
        let (x, unbatched) = batched(op, self, k);
        let stride = expand_arg(op, "stride", stride, k);
        let dilation = expand_arg(op, "dilation", dilation, k);
        let padding = expand_arg(op, "padding", padding, k);
        let out_pad = expand_arg(op, "output_padding", output_padding, k);
        let ws = weight.shape();
        let kernel = ws[2..].to_vec();
        let (n, cin) = (x.size(0), x.size(1));
        if groups == 0 || ws[0] != cin || cin % groups != 0 {
            raise(Error::shape(op, format!("Given transposed=1, weight of size {ws:?}, expected input{:?} to have {} channels, but got {cin} channels instead", x.shape(), ws[0])));
        }
        if (0..k).any(|i| out_pad[i] >= stride[i].max(dilation[i])) {
            raise(Error::invalid(op, "output padding must be smaller than either stride or dilation"));
        }
        let (cg, og) = (cin / groups, ws[1]);
        let cout = og * groups;
        let in_sp: Vec<usize> = x.shape()[2..].to_vec();
        let ip: usize = in_sp.iter().product();
        let kp: usize = kernel.iter().product();
        // Per sample: `weight^T @ x` gives [C_out * K, I] (per group), i.e. the windows
        // [C_out, K..., I...], which col2im sums onto the output.
        let xs = x.reshape(&[n as i64, groups as i64, cg as i64, ip as i64]);
        let wm = weight.reshape(&[groups as i64, cg as i64, (og * kp) as i64]).transpose(1, 2);
        let cols = wm.matmul(&xs);
        let mut shape = vec![n as i64, cout as i64];
        shape.extend(dims_i64(&kernel));
        shape.extend(dims_i64(&in_sp));
        let cols = cols.reshape(&shape).permute(&swap_blocks(k));
        // Fold onto the span the windows cover, then add output_padding as zeros on the
        // right (it may exceed the stride when the dilation is larger) and crop `padding`
        // from both sides: one pad with negative amounts.
        let span: Vec<usize> = (0..k).map(|i| (in_sp[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1).collect();
        let folded = fold_windows(&cols, &span, &kernel, &stride, &dilation);
        let pads: Vec<i64> =
            (0..k).rev().flat_map(|i| [-(padding[i] as i64), out_pad[i] as i64 - padding[i] as i64]).collect();
        let out = folded.pad(&pads, PadMode::Constant, 0.0);
        unbatch(with_bias(out, bias), unbatched)
    }

    /// `nn.functional.unfold` (im2col): `[N, C, H, W]` -> `[N, C * kh * kw, L]`.
    #[track_caller]
    pub fn im2col(&self, kernel: &[usize], dilation: &[usize], padding: &[usize], stride: &[usize]) -> Tensor {
        let op = "unfold";
        let (x, unbatched) = batched(op, self, 2);
        let (kernel, dilation) = (expand_arg(op, "kernel_size", kernel, 2), expand_arg(op, "dilation", dilation, 2));
        let (padding, stride) = (expand_arg(op, "padding", padding, 2), expand_arg(op, "stride", stride, 2));
        let xp = pad_spatial(&x, &padding.iter().map(|&p| (p, p)).collect::<Vec<_>>(), 0.0);
        let w = windows(&xp, &kernel, &stride, &dilation); // [N, C, oh, ow, kh, kw]
        let (n, c) = (x.size(0) as i64, x.size(1) as i64);
        let l = (w.size(2) * w.size(3)) as i64;
        let out = w.permute(&[0, 1, 4, 5, 2, 3]).reshape(&[n, c * (kernel[0] * kernel[1]) as i64, l]);
        unbatch(out, unbatched)
    }

    /// `nn.functional.fold` (col2im): `[N, C * kh * kw, L]` -> `[N, C, H, W]`, summing
    /// overlapping values.
    #[track_caller]
    pub fn col2im(
        &self,
        output_size: &[usize],
        kernel: &[usize],
        dilation: &[usize],
        padding: &[usize],
        stride: &[usize],
    ) -> Tensor {
        let op = "fold";
        let (x, unbatched) = batched(op, self, 1);
        let (kernel, dilation) = (expand_arg(op, "kernel_size", kernel, 2), expand_arg(op, "dilation", dilation, 2));
        let (padding, stride) = (expand_arg(op, "padding", padding, 2), expand_arg(op, "stride", stride, 2));
        let size = expand_arg(op, "output_size", output_size, 2);
        let full = [size[0] + 2 * padding[0], size[1] + 2 * padding[1]];
        let o: Vec<usize> = (0..2).map(|i| (full[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1).collect();
        let kp = kernel[0] * kernel[1];
        let (n, ck, l) = (x.size(0), x.size(1), x.size(2));
        if ck % kp != 0 || l != o[0] * o[1] {
            raise(Error::shape(op, format!("Expected size of input's dimension 1 to be divisible by the product of kernel_size and dimension 2 to match the calculated number of sliding blocks {} * {} = {}, but got input.size(1)={ck}, input.size(2)={l}", o[0], o[1], o[0] * o[1])));
        }
        let c = ck / kp;
        let cols = x.reshape(&dims_i64(&[n, c, kernel[0], kernel[1], o[0], o[1]])).permute(&[0, 1, 4, 5, 2, 3]);
        let out = fold_windows(&cols, &full, &kernel, &stride, &dilation);
        let out = out.narrow(2, padding[0] as i64, size[0]).narrow(3, padding[1] as i64, size[1]);
        unbatch(out, unbatched)
    }
}
