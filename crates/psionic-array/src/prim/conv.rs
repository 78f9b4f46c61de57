//! The convolution primitive and its adjoint window sum (`Fold`, col2im). A
//! convolution's three products are bilinear and each is the adjoint of another in one
//! argument: `<F(x, w), g> = <x, I(g, w)> = <w, W(x, g)>`. So every vjp and jvp is one of
//! the three products again, and grad of grad stays on the convolution kernels.

use super::{BatchCtx, Jvp, JvpCtx, Meta, Prim, Primitive, Saves, ViewOp, VjpCtx};
use crate::tensor::Tensor;
use psionic_core::{DType, Error, Layout, Result};
use psionic_cpu::conv::{Geometry, Product, Spatial};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// A convolution of `channels` input channels of spatial size `input` in `groups` groups,
/// zero padded by `padding` before each dim, with kernels of size `kernel`, giving outputs
/// of spatial size `output`; the product `mode` computes (psionic-cpu's `conv`): the
/// convolution `(x, w)`, its input gradient `(g, w)` or its weight gradient `(x, g)`.
/// Output channels are a multiple of `groups`.
#[derive(Clone, Debug, PartialEq)]
pub struct Convolution {
    pub mode: Product,
    pub channels: usize,
    pub groups: usize,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub dilation: Vec<usize>,
    pub padding: Vec<usize>,
}

impl Convolution {
    /// Batch size and output channels, from the two inputs (checked against the sizes).
    /// Any output size is safe to compute: the kernels skip taps outside the input.
    fn sizes(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize)> {
        let k = self.kernel.len();
        let bad = || Error::shape("conv", format!("inputs {a:?} and {b:?} do not fit {self:?}"));
        let lists = [&self.input, &self.output, &self.stride, &self.dilation, &self.padding];
        let (c, groups) = (self.channels, self.groups);
        if a.len() != k + 2 || b.len() != k + 2 || groups == 0 || c % groups != 0 || lists.iter().any(|l| l.len() != k)
        {
            return Err(bad());
        }
        let (input, output, kernel, cg) = (&self.input[..], &self.output[..], &self.kernel[..], c / groups);
        let (n, cout, ok) = match self.mode {
            Product::Forward => (a[0], b[0], a[1] == c && a[2..] == *input && b[1] == cg && b[2..] == *kernel),
            Product::InputGrad => (a[0], b[0], a[1] == b[0] && a[2..] == *output && b[1] == cg && b[2..] == *kernel),
            Product::WeightGrad => (a[0], b[1], a[0] == b[0] && a[1] == c && a[2..] == *input && b[2..] == *output),
        };
        if !ok || cout % groups != 0 || self.stride.contains(&0) {
            return Err(bad());
        }
        Ok((n, cout))
    }

    pub(crate) fn geometry(&self, batch: usize, cout: usize) -> Geometry {
        let spatial = Spatial {
            input: &self.input,
            output: &self.output,
            kernel: &self.kernel,
            stride: &self.stride,
            dilation: &self.dilation,
            padding: &self.padding,
        };
        Geometry::new(batch, self.channels, self.groups, cout, spatial)
    }
}

impl Primitive for Convolution {
    fn backward_name(&self) -> Cow<'static, str> {
        "Convolution".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let (a, b) = (&inputs[0], &inputs[1]);
        if a.dtype != b.dtype || !matches!(a.dtype, DType::F32 | DType::F64) {
            return Err(Error::dtype("conv", "the convolution kernel needs two f32 or two f64 inputs"));
        }
        let (n, cout) = self.sizes(&a.shape, &b.shape)?;
        let shape = match self.mode {
            Product::Forward => [vec![n, cout], self.output.clone()].concat(),
            Product::InputGrad => [vec![n, self.channels], self.input.clone()].concat(),
            Product::WeightGrad => [vec![cout, self.channels / self.groups], self.kernel.clone()].concat(),
        };
        Ok(Meta::new(shape, a.dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        let (n, cout) = self.sizes(inputs[0].shape(), inputs[1].shape())?;
        Ok(psionic_cpu::conv::conv(self.mode, inputs[0], inputs[1], &self.geometry(n, cout), &out.shape))
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        vjp(self, c.x, c.g, c.needs)
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        jvp(self, c.x, c.t).map(Jvp::Tangent)
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        batch(self, |i| c.full(i), c.size)
    }
    fn saves(&self) -> Saves {
        Saves::of(0b11, false)
    }
}

/// The adjoint of `ViewOp::Windows`: sums `[..., O..., K...]` window values back onto
/// positions of a tensor whose last dims are `spatial` (col2im).
#[derive(Clone, Debug, PartialEq)]
pub struct Fold {
    pub spatial: Vec<usize>,
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub dilation: Vec<usize>,
}

impl Primitive for Fold {
    fn backward_name(&self) -> Cow<'static, str> {
        "Col2Im".into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let x = &inputs[0].shape;
        let k = self.kernel.len();
        let want = Layout::contiguous(&[x[..x.len().saturating_sub(2 * k)].to_vec(), self.spatial.clone()].concat())
            .windows("fold", &self.kernel, &self.stride, &self.dilation)?;
        if x.len() < 2 * k || want.shape != *x {
            return Err(Error::shape("fold", format!("windows of shape {x:?} do not fold onto {:?}", self.spatial)));
        }
        let mut shape = x[..x.len() - 2 * k].to_vec();
        shape.extend(&self.spatial);
        Ok(Meta::new(shape, inputs[0].dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        let (k, s, d) = (&self.kernel, &self.stride, &self.dilation);
        Ok(psionic_cpu::fold::fold(inputs[0], &out.shape, self.spatial.len(), k, s, d))
    }
    /// The windows view is its adjoint.
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        let (kernel, stride, dilation) = (self.kernel.clone(), self.stride.clone(), self.dilation.clone());
        Ok(vec![Some(c.g.view_op(ViewOp::Windows { kernel, stride, dilation }))])
    }
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        c.same(&[&c.tz(0)])
    }
    /// Folding works on the last dims; the batch joins the leading ones.
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&[c.full(0)])
    }
    fn saves(&self) -> Saves {
        Saves::NOTHING
    }
}

fn apply(d: &Convolution, mode: Product, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Tensor::make(Prim::Conv(Convolution { mode, ..d.clone() }), &[a, b])
}

/// Gradients of the inputs `needs` asks for, for cotangent `g`.
fn vjp(d: &Convolution, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    use Product::*;
    let (a, b) = (&x[0], &x[1]);
    let (ma, mb, sa, sb) = match d.mode {
        Forward => (InputGrad, WeightGrad, [g, b], [a, g]),
        InputGrad => (Forward, WeightGrad, [g, b], [g, a]),
        WeightGrad => (InputGrad, Forward, [b, g], [a, g]),
    };
    let ga = if needs[0] { Some(apply(d, ma, sa[0], sa[1])?) } else { None };
    let gb = if needs[1] { Some(apply(d, mb, sb[0], sb[1])?) } else { None };
    Ok(vec![ga, gb])
}

/// Output tangent: bilinear, so the product of each tangent with the other input.
fn jvp(d: &Convolution, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Tensor> {
    let mut out: Option<Tensor> = None;
    for (i, ti) in t.iter().enumerate() {
        if let Some(ti) = ti {
            let term = if i == 0 { apply(d, d.mode, ti, &x[1])? } else { apply(d, d.mode, &x[0], ti)? };
            out = Some(match out {
                Some(o) => &o + &term,
                None => term,
            });
        }
    }
    match out {
        Some(o) => Ok(o),
        None => Ok(apply(d, d.mode, &x[0], &x[1])?.zeros_like()),
    }
}

/// The channel dim of each input and of the output, per example.
fn channel_dims(mode: Product) -> ([usize; 2], usize) {
    match mode {
        Product::Forward | Product::InputGrad => ([1, 0], 1),
        Product::WeightGrad => ([1, 1], 0),
    }
}

/// vmap: the batch joins the channels (batch-major) and multiplies the groups, which
/// keeps every output channel reading its own example's input channels; `full(i)` has
/// the batch in dim 0.
fn batch(d: &Convolution, full: impl Fn(usize) -> Tensor, size: usize) -> Result<Tensor> {
    let (ins, out_dim) = channel_dims(d.mode);
    let merged: Vec<Tensor> = (0..2)
        .map(|i| {
            let c = ins[i] as i64;
            full(i).movedim(&[0], &[c]).flatten(c, c + 1)
        })
        .collect();
    let wide = Convolution { channels: d.channels * size, groups: d.groups * size, ..d.clone() };
    let y = Tensor::make(Prim::Conv(wide), &[&merged[0], &merged[1]])?;
    let c = out_dim as i64;
    let per = y.shape()[out_dim] / size;
    Ok(y.unflatten(c, &[size as i64, per as i64]).movedim(&[c], &[0]))
}
