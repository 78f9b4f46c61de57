//! Conv1d/2d/3d and ConvTranspose1d/2d/3d: one type each, the spatial rank a field.

use super::{param, reset_linear_like};
use crate::module::Forward;
use crate::Module;
use psionic_array::ops::conv::expand_arg;
use psionic_array::{PadMode, Padding, Tensor};

/// Constructor arguments beyond the channels and kernel (PyTorch's defaults via
/// `Default`). Per-dim lists may hold one value for every dim.
#[derive(Clone, Debug)]
pub struct ConvOpts {
    pub stride: Vec<usize>,
    pub padding: Padding,
    pub dilation: Vec<usize>,
    pub groups: usize,
    pub bias: bool,
    /// `"zeros"`, `"reflect"`, `"replicate"` or `"circular"`.
    pub padding_mode: &'static str,
    /// Transposed convolutions only.
    pub output_padding: Vec<usize>,
}

impl Default for ConvOpts {
    fn default() -> Self {
        ConvOpts {
            stride: vec![1],
            padding: Padding::Explicit(vec![0]),
            dilation: vec![1],
            groups: 1,
            bias: true,
            padding_mode: "zeros",
            output_padding: vec![0],
        }
    }
}

/// A convolution over `dims` spatial dims; weight `[out, in / groups, k...]`.
#[derive(Module)]
#[module(name = kind_name, repr = repr_args)]
pub struct Conv {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub dims: usize,
    pub opts: ConvOpts,
}

impl Conv {
    /// `Conv{dims}d(in_channels, out_channels, kernel_size, ...)`.
    pub fn new(dims: usize, in_channels: usize, out_channels: usize, kernel: &[usize], opts: ConvOpts) -> Conv {
        assert!((1..=3).contains(&dims), "Conv: 1, 2 or 3 spatial dims");
        assert!(opts.groups > 0 && in_channels.is_multiple_of(opts.groups), "in_channels must be divisible by groups");
        assert!(out_channels.is_multiple_of(opts.groups), "out_channels must be divisible by groups");
        let mut shape = vec![out_channels, in_channels / opts.groups];
        shape.extend(expand_arg("conv", "kernel_size", kernel, dims));
        let weight = param(&shape);
        let bias = opts.bias.then(|| param(&[out_channels]));
        reset_linear_like(&weight, bias.as_ref());
        Conv { weight, bias, dims, opts }
    }

    fn kernel(&self) -> Vec<usize> {
        self.weight.shape()[2..].to_vec()
    }
}

impl Conv {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        ["Conv1d", "Conv2d", "Conv3d"][self.dims - 1]
    }

    /// The constructor arguments shown when printed (PyTorch's `extra_repr`).
    fn repr_args(&self) -> String {
        let w = self.weight.shape();
        format!("{}, {}, kernel_size={:?}, stride={:?}", w[1] * self.opts.groups, w[0], self.kernel(), self.opts.stride)
    }
}

impl Forward for Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        let o = &self.opts;
        let mode = match o.padding_mode {
            "zeros" => None,
            m => Some(PadMode::from_name(m).unwrap_or_else(|| panic!("unknown padding_mode {m:?}"))),
        };
        let Some(mode) = mode else {
            return x.conv(&self.weight, self.bias.as_ref(), &o.stride, o.padding.clone(), &o.dilation, o.groups);
        };
        // Non-zero padding modes pad explicitly, then convolve without padding.
        let (stride, dilation) = (
            expand_arg("conv", "stride", &o.stride, self.dims),
            expand_arg("conv", "dilation", &o.dilation, self.dims),
        );
        let lr = o.padding.pairs(&self.kernel(), &stride, &dilation);
        let pads: Vec<i64> = lr.iter().rev().flat_map(|&(l, r)| [l as i64, r as i64]).collect();
        let padded = x.pad(&pads, mode, 0.0);
        padded.conv(&self.weight, self.bias.as_ref(), &o.stride, Padding::Explicit(vec![0]), &o.dilation, o.groups)
    }
}

/// A transposed convolution over `dims` spatial dims; weight `[in, out / groups, k...]`.
#[derive(Module)]
#[module(name = kind_name)]
pub struct ConvTranspose {
    #[param]
    pub weight: Tensor,
    #[param]
    pub bias: Option<Tensor>,
    pub dims: usize,
    pub opts: ConvOpts,
}

impl ConvTranspose {
    pub fn new(
        dims: usize,
        in_channels: usize,
        out_channels: usize,
        kernel: &[usize],
        opts: ConvOpts,
    ) -> ConvTranspose {
        assert!((1..=3).contains(&dims), "ConvTranspose: 1, 2 or 3 spatial dims");
        assert!(
            opts.groups > 0 && out_channels.is_multiple_of(opts.groups),
            "out_channels must be divisible by groups"
        );
        assert!(matches!(opts.padding, Padding::Explicit(_)), "ConvTranspose takes explicit padding");
        assert!(opts.padding_mode == "zeros", "Only \"zeros\" padding mode is supported for ConvTranspose");
        let mut shape = vec![in_channels, out_channels / opts.groups];
        shape.extend(expand_arg("conv", "kernel_size", kernel, dims));
        let weight = param(&shape);
        let bias = opts.bias.then(|| param(&[out_channels]));
        reset_linear_like(&weight, bias.as_ref());
        ConvTranspose { weight, bias, dims, opts }
    }
}

impl ConvTranspose {
    /// PyTorch's class name.
    fn kind_name(&self) -> &'static str {
        ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"][self.dims - 1]
    }
}

impl Forward for ConvTranspose {
    fn forward(&self, x: &Tensor) -> Tensor {
        let o = &self.opts;
        let Padding::Explicit(p) = &o.padding else { unreachable!("checked at construction") };
        x.conv_transpose(&self.weight, self.bias.as_ref(), &o.stride, p, &o.output_padding, o.groups, &o.dilation)
    }
}
