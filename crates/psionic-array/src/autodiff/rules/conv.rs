//! Rules of the convolution primitive. Its three products are bilinear and each is the
//! adjoint of another in one argument: `<F(x, w), g> = <x, I(g, w)> = <w, W(x, g)>`. So
//! every vjp and jvp is one of the three products again, and grad of grad stays on the
//! convolution kernels.

use crate::prim::{Convolution, Prim};
use crate::tensor::Tensor;
use psionic_core::Result;
use psionic_cpu::conv::Product;

fn apply(d: &Convolution, mode: Product, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Tensor::make(Prim::Conv(Convolution { mode, ..d.clone() }), &[a, b])
}

/// Gradients of the inputs `needs` asks for, for cotangent `g`.
pub(super) fn vjp(d: &Convolution, x: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
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
pub(super) fn jvp(d: &Convolution, x: &[Tensor], t: &[Option<Tensor>]) -> Result<Tensor> {
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
pub(super) fn batch(d: &Convolution, full: impl Fn(usize) -> Tensor, size: usize) -> Result<Tensor> {
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
