//! Resampling along spatial dims: `interpolate` (nearest, nearest-exact, linear,
//! bilinear, trilinear, bicubic, area), adaptive average pooling, pixel (un)shuffle.
//! Every mode but nearest is separable: per spatial dim, a weight matrix `[out, in]`
//! (built on the host from PyTorch's source-index rules) is applied with a matmul, so
//! gradients, jvp and vmap come from the matmul's. Nearest modes select rows instead
//! (exact for any dtype).

use crate::mode::raise;
use crate::ops::args::dims_i64;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

/// `interpolate`'s `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    Nearest,
    NearestExact,
    /// linear, bilinear or trilinear (by the number of spatial dims).
    Linear,
    Bicubic,
    Area,
}

impl Resize {
    pub fn from_name(name: &str) -> Option<Resize> {
        Some(match name {
            "nearest" => Resize::Nearest,
            "nearest-exact" => Resize::NearestExact,
            "linear" | "bilinear" | "trilinear" => Resize::Linear,
            "bicubic" => Resize::Bicubic,
            "area" => Resize::Area,
            _ => return None,
        })
    }
}

/// Applies `m` (`[out, in]`) along `dim` of `x`.
fn apply_along(x: &Tensor, dim: i64, m: &[f64], out: usize, inp: usize) -> Tensor {
    let w = Tensor::from_vec(m.to_vec(), &[out, inp]).to_dtype(x.dtype());
    x.movedim(&[dim], &[-1]).matmul(&w.mT()).movedim(&[-1], &[dim])
}

/// PyTorch's adaptive window `[start, end)` of output `i`.
fn adaptive_window(i: usize, inp: usize, out: usize) -> (usize, usize) {
    ((i * inp) / out, ((i + 1) * inp).div_ceil(out))
}

/// PyTorch's scale from output to input coordinates.
fn coordinate_scale(inp: usize, out: usize, align_corners: bool, scale: Option<f64>) -> f64 {
    if align_corners {
        if out > 1 {
            (inp as f64 - 1.0) / (out as f64 - 1.0)
        } else {
            0.0
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => 1.0 / s,
            _ => inp as f64 / out as f64,
        }
    }
}

fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// The `[out, in]` weights of one dim for the separable modes.
fn weights(mode: Resize, inp: usize, out: usize, align_corners: bool, scale: Option<f64>) -> Vec<f64> {
    let mut m = vec![0.0; out * inp];
    let s = coordinate_scale(inp, out, align_corners, scale);
    for o in 0..out {
        let row = &mut m[o * inp..(o + 1) * inp];
        match mode {
            Resize::Area => {
                let (a, b) = adaptive_window(o, inp, out);
                for w in &mut row[a..b] {
                    *w = 1.0 / (b - a) as f64;
                }
            }
            Resize::Linear => {
                let src = if align_corners { s * o as f64 } else { (s * (o as f64 + 0.5) - 0.5).max(0.0) };
                let i0 = (src.floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                let l1 = src - i0 as f64;
                row[i0] += 1.0 - l1;
                row[i1] += l1;
            }
            Resize::Bicubic => {
                let src = if align_corners { s * o as f64 } else { s * (o as f64 + 0.5) - 0.5 };
                let i = src.floor();
                let cw = cubic_weights(src - i);
                for (k, w) in cw.iter().enumerate() {
                    let j = (i as i64 - 1 + k as i64).clamp(0, inp as i64 - 1) as usize;
                    row[j] += w;
                }
            }
            Resize::Nearest | Resize::NearestExact => unreachable!("nearest modes select"),
        }
    }
    m
}

/// Source rows of the nearest modes, computed in f32 as PyTorch's CPU kernels do.
fn nearest_rows(mode: Resize, inp: usize, out: usize, scale: Option<f64>) -> Vec<i64> {
    let s = match scale {
        Some(s) if s > 0.0 => (1.0 / s) as f32,
        _ => inp as f32 / out as f32,
    };
    (0..out)
        .map(|o| {
            let src =
                if mode == Resize::NearestExact { ((o as f32 + 0.5) * s).floor() } else { (o as f32 * s).floor() };
            (src as i64).min(inp as i64 - 1)
        })
        .collect()
}

impl Tensor {
    /// `F.interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor)`
    /// over the dims after batch and channel. `size` or `scale` (one per spatial dim, or one
    /// for all) gives the output size; a given scale also sets the coordinate map unless
    /// `recompute_scale` is set.
    #[track_caller]
    pub fn interpolate(
        &self,
        size: Option<&[usize]>,
        scale: Option<&[f64]>,
        mode: Resize,
        align_corners: Option<bool>,
        recompute_scale: bool,
    ) -> Tensor {
        let op = "interpolate";
        let nd = self.dim();
        if nd < 3 {
            raise(Error::shape(op, format!("Input Error: Only 3D, 4D and 5D input Tensors supported (got {nd}D)")));
        }
        let k = nd - 2;
        let align = align_corners.unwrap_or(false);
        if align_corners.is_some() && !matches!(mode, Resize::Linear | Resize::Bicubic) {
            raise(Error::invalid(op, "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"));
        }
        let spread = |v: &[f64]| if v.len() == 1 { vec![v[0]; k] } else { v.to_vec() };
        let shape = self.shape();
        let (out, scales): (Vec<usize>, Vec<Option<f64>>) = match (size, scale) {
            (Some(s), None) => {
                let s: Vec<usize> = if s.len() == 1 { vec![s[0]; k] } else { s.to_vec() };
                (s, vec![None; k])
            }
            (None, Some(f)) => {
                let f = spread(f);
                let out = (0..k).map(|i| (shape[i + 2] as f64 * f[i]).floor() as usize).collect();
                (out, f.into_iter().map(|v| if recompute_scale { None } else { Some(v) }).collect())
            }
            _ => raise(Error::invalid(op, "only one of size or scale_factor should be defined")),
        };
        if out.len() != k {
            raise(Error::shape(op, format!("Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of {:?} and output size of {out:?}", &shape[2..])));
        }
        if mode == Resize::Area {
            return self.adaptive_avg_pool(&out);
        }
        let mut y = self.clone();
        for i in 0..k {
            let (inp, o, dim) = (shape[i + 2], out[i], (i + 2) as i64);
            if o == 0 || inp == 0 {
                raise(Error::shape(
                    op,
                    format!(
                        "Input and output sizes should be greater than 0, but got input {:?} and output {out:?}",
                        &shape[2..]
                    ),
                ));
            }
            y = match mode {
                Resize::Nearest | Resize::NearestExact => {
                    let rows = nearest_rows(mode, inp, o, scales[i]);
                    y.index_select(dim, &Tensor::from_vec(rows, &[o]))
                }
                _ => apply_along(&y, dim, &weights(mode, inp, o, align, scales[i]), o, inp),
            };
        }
        y
    }

    /// `F.adaptive_avg_pool{1,2,3}d` with one output size per spatial dim (the last
    /// `output.len()` dims).
    #[track_caller]
    pub fn adaptive_avg_pool(&self, output: &[usize]) -> Tensor {
        let k = output.len();
        let nd = self.dim();
        if nd < k + 1 || !self.dtype().is_float() {
            raise(Error::shape(
                "adaptive_avg_pool",
                format!(
                    "adaptive_avg_pool{k}d(): Expected {}D or {}D tensor of floats, but got {nd}D {}",
                    k + 1,
                    k + 2,
                    self.dtype().name()
                ),
            ));
        }
        let shape = self.shape();
        let mut y = self.clone();
        for (i, &o) in output.iter().enumerate() {
            let dim = nd - k + i;
            let inp = shape[dim];
            y = apply_along(&y, dim as i64, &weights(Resize::Area, inp, o, false, None), o, inp);
        }
        y
    }

    /// `F.pixel_shuffle`: `[*, C r^2, H, W]` to `[*, C, H r, W r]`.
    #[track_caller]
    pub fn pixel_shuffle(&self, r: usize) -> Tensor {
        let s = self.shape();
        let n = s.len();
        if n < 3 || r == 0 || !s[n - 3].is_multiple_of(r * r) {
            raise(Error::shape("pixel_shuffle", format!("pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but input.size(-3)={} is not divisible by {}", s.get(n.wrapping_sub(3)).copied().unwrap_or(0), r * r)));
        }
        let lead = dims_i64(&s[..n - 3]);
        let (c, h, w) = ((s[n - 3] / (r * r)) as i64, s[n - 2] as i64, s[n - 1] as i64);
        let r = r as i64;
        let b = lead.len() as i64;
        let x = self.reshape(&[lead.clone(), vec![c, r, r, h, w]].concat());
        let perm: Vec<i64> = (0..b).chain([b, b + 3, b + 1, b + 4, b + 2]).collect();
        x.permute(&perm).reshape(&[lead, vec![c, h * r, w * r]].concat())
    }

    /// `F.pixel_unshuffle`: `[*, C, H r, W r]` to `[*, C r^2, H, W]`.
    #[track_caller]
    pub fn pixel_unshuffle(&self, r: usize) -> Tensor {
        let s = self.shape();
        let n = s.len();
        if n < 3 || r == 0 || !s[n - 2].is_multiple_of(r) || !s[n - 1].is_multiple_of(r) {
            raise(Error::shape(
                "pixel_unshuffle",
                format!("pixel_unshuffle expects height and width to be divisible by downscale_factor {r}, got {s:?}"),
            ));
        }
        let lead = dims_i64(&s[..n - 3]);
        let (c, h, w) = (s[n - 3] as i64, (s[n - 2] / r) as i64, (s[n - 1] / r) as i64);
        let r = r as i64;
        let b = lead.len() as i64;
        let x = self.reshape(&[lead.clone(), vec![c, h, r, w, r]].concat());
        let perm: Vec<i64> = (0..b).chain([b, b + 2, b + 4, b + 1, b + 3]).collect();
        x.permute(&perm).reshape(&[lead, vec![c * r * r, h, w]].concat())
    }

    /// `F.one_hot(x, num_classes)` (i64 in, i64 out); `None` is `max(x) + 1`.
    #[track_caller]
    pub fn one_hot(&self, num_classes: Option<usize>) -> Tensor {
        if self.dtype() != DType::I64 {
            raise(Error::dtype("one_hot", "one_hot is only applicable to index tensor of type LongTensor."));
        }
        if self.numel() == 0 && num_classes.is_none() {
            raise(Error::invalid("one_hot", "Can not infer total number of classes from empty tensor."));
        }
        // The class range is read once (PyTorch checks it eagerly too).
        let (lo, hi) =
            if self.numel() > 0 { (self.min_all().item::<i64>(), self.max_all().item::<i64>()) } else { (0, -1) };
        let n = num_classes.unwrap_or((hi + 1).max(0) as usize);
        if lo < 0 {
            raise(Error::invalid("one_hot", "Class values must be non-negative."));
        }
        if hi >= 0 && hi as usize >= n {
            raise(Error::invalid("one_hot", "Class values must be smaller than num_classes."));
        }
        let classes = Tensor::arange_dtype(0, n as i64, 1, DType::I64);
        self.unsqueeze(-1).eq(&classes).to_dtype(DType::I64)
    }

    /// `F.embedding(indices, weight, padding_idx)`: rows of `weight` (this tensor) at
    /// `indices`; the `padding_idx` row receives no gradient.
    #[track_caller]
    pub fn embedding(&self, indices: &Tensor, padding_idx: Option<i64>) -> Tensor {
        if self.dim() != 2 {
            raise(Error::shape("embedding", "'weight' must be 2-D"));
        }
        let rows = self.shape()[0] as i64;
        let w = match padding_idx {
            Some(p) => {
                let p = if p < 0 { p + rows } else { p };
                if !(0..rows).contains(&p) {
                    raise(Error::invalid("embedding", "Padding_idx must be within num_embeddings"));
                }
                let is_pad = Tensor::arange_dtype(0, rows, 1, DType::I64).eq(p).unsqueeze(-1);
                Tensor::where_(&is_pad, self.detach(), self)
            }
            None => self.clone(),
        };
        let mut shape = dims_i64(&indices.shape());
        shape.push(self.shape()[1] as i64);
        w.index_select(0, &indices.reshape(&[-1])).reshape(&shape)
    }
}
