//! Resampling along spatial dims: `interpolate` (nearest, nearest-exact, linear,
//! bilinear, trilinear, bicubic, area; antialiased bilinear/bicubic), adaptive average
//! pooling, pixel (un)shuffle, one_hot.
//! Every mode but nearest is separable: per spatial dim, a weight matrix `[out, in]`
//! (built on the host from PyTorch's source-index rules) is applied with a matmul, so
//! gradients, jvp and vmap come from the matmul's. Nearest modes select rows instead
//! (exact for any dtype).

use crate::autocast;
use crate::mode::raise;
use crate::ops::args::dims_i64;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};
use std::ops::{Add, Div, Mul, Sub};

/// `interpolate`'s `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    Nearest,
    NearestExact,
    /// linear, bilinear or trilinear (by the number of spatial dims).
    Linear,
    Bicubic,
    Area,
    /// Bilinear with `antialias=True`: a triangle filter widened by the downscale factor.
    LinearAntialias,
    /// Bicubic with `antialias=True`: Keys' cubic (a = -0.5) widened likewise.
    BicubicAntialias,
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

    /// The mode with `antialias=True`; only linear and bicubic have one (PyTorch refuses
    /// the flag elsewhere).
    pub fn antialiased(self) -> Option<Resize> {
        match self {
            Resize::Linear | Resize::LinearAntialias => Some(Resize::LinearAntialias),
            Resize::Bicubic | Resize::BicubicAntialias => Some(Resize::BicubicAntialias),
            _ => None,
        }
    }

    /// Whether this is one of the antialiased modes.
    pub fn is_antialiased(self) -> bool {
        self.antialiased() == Some(self)
    }
}

/// Applies `m` (`[out, in]`) along `dim` of `x`.
fn apply_along(x: &Tensor, dim: i64, m: &[f64], out: usize, inp: usize) -> Tensor {
    let w = Tensor::from_vec(m.to_vec(), &[out, inp]).to_dtype(x.dtype());
    // A product inside a resampling op, which autocast leaves in its input's dtype.
    x.movedim(&[dim], &[-1]).product(&w.mT()).movedim(&[-1], &[dim])
}

/// Linear interpolation along `dim` of `x` from each output's two taps `(i0, i1, l0, l1)`,
/// rounded as PyTorch's kernel rounds it: `fma(x[i0], l0, x[i1] * l1)` (its
/// `t0 * w0 + t1 * w1`, contracted). Inputs of magnitude ~10 interpolated to ~0.01
/// cancel, and any other order of roundings lands a few input ulps away, outside the
/// f32 tolerance. The fma is formed in f64, where the f32 product is exact.
fn linear_along(x: &Tensor, dim: i64, taps: &[(i64, i64, f64, f64)]) -> Tensor {
    let d = x.dim() as i64;
    let along = |v: Vec<f64>| {
        let mut shape = vec![taps.len()];
        shape.extend(std::iter::repeat_n(1, (d - 1 - dim) as usize));
        Tensor::from_vec(v, &shape)
    };
    let index =
        |f: fn(&(i64, i64, f64, f64)) -> i64| Tensor::from_vec(taps.iter().map(f).collect::<Vec<_>>(), &[taps.len()]);
    let (x0, x1) = (x.index_select(dim, &index(|t| t.0)), x.index_select(dim, &index(|t| t.1)));
    let (l0, l1) = (along(taps.iter().map(|t| t.2).collect()), along(taps.iter().map(|t| t.3).collect()));
    // The lambdas were computed in x's precision (`linear_taps`), so they are exact in
    // f64 and in x's dtype alike.
    let p1 = x1.mul(&l1.to_dtype(x.dtype()));
    if x.dtype() == DType::F64 {
        return x0.mul(&l0).add(&p1);
    }
    x0.to_dtype(DType::F64).mul(&l0).add(&p1.to_dtype(DType::F64)).to_dtype(x.dtype())
}

/// PyTorch's adaptive window `[start, end)` of output `i`.
pub(super) fn adaptive_window(i: usize, inp: usize, out: usize) -> (usize, usize) {
    ((i * inp) / out, ((i + 1) * inp).div_ceil(out))
}

/// The float type a dim's source indices and weights are computed in (PyTorch's
/// `opmath_t` is f64 for f64 input, f32 for every other).
trait Real: Copy + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self> {
    fn of(v: f64) -> Self;
    fn get(self) -> f64;
    fn abs(self) -> Self;
}

impl Real for f32 {
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn get(self) -> f64 {
        self as f64
    }
    fn abs(self) -> f32 {
        f32::abs(self)
    }
}

impl Real for f64 {
    fn of(v: f64) -> f64 {
        v
    }
    fn get(self) -> f64 {
        self
    }
    fn abs(self) -> f64 {
        f64::abs(self)
    }
}

/// PyTorch's scale from output to input coordinates (`area_pixel_compute_scale`).
fn coordinate_scale<T: Real>(inp: usize, out: usize, align_corners: bool, scale: Option<f64>) -> T {
    if align_corners {
        if out > 1 {
            T::of(inp as f64 - 1.0) / T::of(out as f64 - 1.0)
        } else {
            T::of(0.0)
        }
    } else {
        match scale {
            Some(s) if s > 0.0 => T::of(1.0 / s),
            _ => T::of(inp as f64) / T::of(out as f64),
        }
    }
}

/// Keys' cubic kernel for distances below one and between one and two.
fn cubic_near<T: Real>(x: T, a: T) -> T {
    ((a + T::of(2.0)) * x - (a + T::of(3.0))) * x * x + T::of(1.0)
}

fn cubic_far<T: Real>(x: T, a: T) -> T {
    ((a * x - T::of(5.0) * a) * x + T::of(8.0) * a) * x - T::of(4.0) * a
}

/// The four bicubic weights for fraction `t` (`get_cubic_upsample_coefficients`).
fn cubic_weights<T: Real>(t: T) -> [T; 4] {
    let a = T::of(-0.75);
    let one = T::of(1.0);
    let u = one - t;
    [cubic_far(t + one, a), cubic_near(t, a), cubic_near(u, a), cubic_far(u + one, a)]
}

/// Antialiased row `o` (PyTorch's `_compute_indices_min_size_weights_aa`, as PIL
/// does it): the filter of support `radius` is stretched by the downscale factor `s`,
/// centred on `s (o + 1/2)`, cut to the input and normalized to sum to one. The mix of
/// f64 and `T` steps is PyTorch's.
fn antialias_row<T: Real>(row: &mut [f64], o: usize, s: T, radius: f64, filter: impl Fn(T) -> T) {
    let inp = row.len() as i64;
    let big = s >= T::of(1.0);
    let support = if big { T::of(radius * s.get()) } else { T::of(radius) };
    let inv = if big { T::of(1.0 / s.get()) } else { T::of(1.0) };
    let wide = support.get().ceil() as i64 * 2 + 1;
    let center = T::of(s.get() * (o as f64 + 0.5));
    let lo = (((center - support).get() + 0.5) as i64).max(0);
    let len = ((((center + support).get() + 0.5) as i64).min(inp) - lo).clamp(0, wide);
    let taps: Vec<T> =
        (0..len).map(|j| filter(T::of(((T::of((j + lo) as f64) - center).get() + 0.5) * inv.get()))).collect();
    let total = taps.iter().fold(T::of(0.0), |acc, &w| acc + w);
    for (j, &w) in taps.iter().enumerate() {
        row[lo as usize + j] = if total != T::of(0.0) { (w / total).get() } else { w.get() };
    }
}

/// The triangle (linear) kernel as a function of signed distance.
fn triangle<T: Real>(x: T) -> T {
    let x = x.abs();
    if x < T::of(1.0) {
        T::of(1.0) - x
    } else {
        T::of(0.0)
    }
}

/// Keys' cubic kernel with parameter `a` as a function of signed distance.
fn keys_cubic<T: Real>(a: f64, x: T) -> T {
    let x = x.abs();
    if x < T::of(1.0) {
        cubic_near(x, T::of(a))
    } else if x < T::of(2.0) {
        cubic_far(x, T::of(a))
    } else {
        T::of(0.0)
    }
}

/// The `[out, in]` weights of one dim for the separable modes, computed in `T`.
fn weights_in<T: Real>(mode: Resize, inp: usize, out: usize, align_corners: bool, scale: Option<f64>) -> Vec<f64> {
    let mut m = vec![0.0; out * inp];
    let s: T = coordinate_scale(inp, out, align_corners, scale);
    let half = T::of(0.5);
    // `area_pixel_compute_source_index`; linear clamps at zero, cubic does not.
    let source = |o: usize| if align_corners { s * T::of(o as f64) } else { s * (T::of(o as f64) + half) - half };
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
                let src = source(o);
                let src = if src < T::of(0.0) { T::of(0.0) } else { src };
                let i0 = (src.get().floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                // PyTorch's lambdas: the fraction clamped to [0, 1], and one minus it, in T.
                let l1 = T::of((src - T::of(i0 as f64)).get().clamp(0.0, 1.0));
                row[i0] += (T::of(1.0) - l1).get();
                row[i1] += l1.get();
            }
            Resize::Bicubic => {
                let src = source(o);
                let i = (src.get().floor() as i64).min(inp as i64 - 1);
                let t = src - T::of(i as f64);
                for (k, w) in cubic_weights(t).iter().enumerate() {
                    let j = (i - 1 + k as i64).clamp(0, inp as i64 - 1) as usize;
                    row[j] += w.get();
                }
            }
            Resize::LinearAntialias => antialias_row(row, o, s, 1.0, triangle),
            Resize::BicubicAntialias => antialias_row(row, o, s, 2.0, |x| keys_cubic(-0.5, x)),
            Resize::Nearest | Resize::NearestExact => unreachable!("nearest modes select"),
        }
    }
    m
}

/// The two taps `(i0, i1, l0, l1)` of each output of a linear dim, computed in `T`
/// (PyTorch's `opmath_t`: f32 for every input but f64).
fn linear_taps<T: Real>(inp: usize, out: usize, align_corners: bool, scale: Option<f64>) -> Vec<(i64, i64, f64, f64)> {
    let s: T = coordinate_scale(inp, out, align_corners, scale);
    let half = T::of(0.5);
    (0..out)
        .map(|o| {
            // `area_pixel_compute_source_index`, clamped at zero for linear modes.
            let src = if align_corners { s * T::of(o as f64) } else { s * (T::of(o as f64) + half) - half };
            let src = if src < T::of(0.0) { T::of(0.0) } else { src };
            let i0 = (src.get().floor() as usize).min(inp - 1);
            let i1 = (i0 + 1).min(inp - 1);
            // PyTorch's lambdas: the fraction clamped to [0, 1], and one minus it, in T.
            let l1 = T::of((src - T::of(i0 as f64)).get().clamp(0.0, 1.0));
            (i0 as i64, i1 as i64, (T::of(1.0) - l1).get(), l1.get())
        })
        .collect()
}

/// The weights for input of dtype `dt`. The antialiased filters are computed in
/// PyTorch's precision for the dtype (its f32 normalization shows in the results); the
/// others in f64, which measured closer to PyTorch's f32 bicubic than f32 weights did.
fn weights(dt: DType, mode: Resize, inp: usize, out: usize, align_corners: bool, scale: Option<f64>) -> Vec<f64> {
    if dt == DType::F64 || !mode.is_antialiased() {
        weights_in::<f64>(mode, inp, out, align_corners, scale)
    } else {
        weights_in::<f32>(mode, inp, out, align_corners, scale)
    }
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
        if mode.is_antialiased() && nd != 4 {
            raise(Error::invalid(
                op,
                "Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D tensor as input",
            ));
        }
        if align_corners.is_some() && mode.antialiased().is_none() {
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
        self.upsample(&out, &scales, mode, align)
    }

    /// ATen's `upsample_*`/`_upsample_*_aa`: resizes the dims after batch and channel to
    /// `out`, mapping coordinates with `1 / scales[i]` where given (else `in / out`).
    #[track_caller]
    pub fn upsample(&self, out: &[usize], scales: &[Option<f64>], mode: Resize, align: bool) -> Tensor {
        let op = "interpolate";
        let shape = self.shape();
        let k = out.len();
        if shape.len() != k + 2 || scales.len() != k {
            raise(Error::shape(
                op,
                format!(
                    "expected {} spatial sizes and scales for input of shape {shape:?}",
                    shape.len().saturating_sub(2)
                ),
            ));
        }
        if mode == Resize::Area {
            return self.adaptive_avg_pool(out);
        }
        // PyTorch's kernels interpolate half types in f32 and round once; separable
        // passes in the half type would round after each dim. (Nearest only copies.)
        let nearest = matches!(mode, Resize::Nearest | Resize::NearestExact);
        if self.dtype().opmath() != self.dtype() && !nearest {
            return self.to_dtype(DType::F32).upsample(out, scales, mode, align).to_dtype(self.dtype());
        }
        let mut y = self.clone();
        // Innermost dim first: PyTorch interpolates along the last dim, then combines
        // those results along the ones before, and the roundings follow that order.
        for i in (0..k).rev() {
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
                Resize::Linear if self.dtype() == DType::F64 => {
                    linear_along(&y, dim, &linear_taps::<f64>(inp, o, align, scales[i]))
                }
                Resize::Linear => linear_along(&y, dim, &linear_taps::<f32>(inp, o, align, scales[i])),
                _ => apply_along(&y, dim, &weights(self.dtype(), mode, inp, o, align, scales[i]), o, inp),
            };
        }
        y
    }

    /// `F.adaptive_avg_pool{1,2,3}d` with one output size per spatial dim (the last
    /// `output.len()` dims).
    #[track_caller]
    pub fn adaptive_avg_pool(&self, output: &[usize]) -> Tensor {
        if output.len() == 3 {
            let x = autocast::full(self);
            if let Some(y) = autocast::casting(|| x.adaptive_avg_pool(output)) {
                return y;
            }
        }
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
            y = apply_along(&y, dim as i64, &weights(self.dtype(), Resize::Area, inp, o, false, None), o, inp);
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
}
