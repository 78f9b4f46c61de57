//! Sampling at arbitrary coordinates: `grid_sample` (bilinear, nearest or bicubic, with
//! zeros, border or reflection padding) and `affine_grid`, which makes the coordinates
//! of an affine warp. Both are composed from ordinary ops: source coordinates are
//! computed from the grid as tensors, each tap is a `gather` from the flattened input
//! planes, and taps are summed with their weights in PyTorch's order. Gradients reach
//! the input through the gathers and the grid through the weights (and the padding's
//! clamps and reflections); nearest sampling gives the grid no gradient, as in PyTorch.

use crate::autocast;
use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

/// `grid_sample`'s `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridMode {
    /// Linear in every spatial dim (bilinear for 4-D input, trilinear for 5-D).
    Bilinear,
    Nearest,
    /// 4-D input only.
    Bicubic,
}

/// `grid_sample`'s `padding_mode`: what a coordinate outside the input reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridPadding {
    Zeros,
    Border,
    Reflection,
}

impl GridMode {
    pub fn from_name(name: &str) -> Option<GridMode> {
        Some(match name {
            "bilinear" => GridMode::Bilinear,
            "nearest" => GridMode::Nearest,
            "bicubic" => GridMode::Bicubic,
            _ => return None,
        })
    }
}

impl GridPadding {
    pub fn from_name(name: &str) -> Option<GridPadding> {
        Some(match name {
            "zeros" => GridPadding::Zeros,
            "border" => GridPadding::Border,
            "reflection" => GridPadding::Reflection,
            _ => return None,
        })
    }
}

/// Grid values in [-1, 1] to pixel coordinates along a dim of `size`.
fn unnormalize(g: &Tensor, size: usize, align: bool) -> Tensor {
    let s = size as f64;
    if align {
        (g + 1.0).mul((s - 1.0) / 2.0)
    } else {
        (&(g + 1.0) * s - 1.0).div(2.0)
    }
}

/// Reflects `x` into `[lo/2, hi/2]` (bounds given doubled, as in PyTorch).
fn reflect(x: &Tensor, twice_lo: f64, twice_hi: f64) -> Tensor {
    if twice_lo == twice_hi {
        return x.mul(0.0);
    }
    let min = twice_lo / 2.0;
    let span = (twice_hi - twice_lo) / 2.0;
    let d = (x - min).abs();
    let extra = d.fmod(span);
    let even = d.div(span).floor().remainder(2.0).eq(0.0);
    Tensor::where_(&even, &(&extra + min), &(&extra.neg() + (span + min)))
}

/// Applies the padding mode to source coordinates (PyTorch's `compute_coordinates`).
fn pad_coordinates(c: &Tensor, size: usize, padding: GridPadding, align: bool) -> Tensor {
    let hi = size as f64 - 1.0;
    match padding {
        GridPadding::Zeros => c.clone(),
        GridPadding::Border => c.clamp(Some(0.0), Some(hi)),
        GridPadding::Reflection => {
            let r = if align { reflect(c, 0.0, 2.0 * hi) } else { reflect(c, -1.0, 2.0 * size as f64 - 1.0) };
            r.clamp(Some(0.0), Some(hi))
        }
    }
}

/// One tap along one dim: integer positions, their weight (`None`: 1) and whether they
/// fall inside the input.
struct Tap {
    at: Tensor,
    weight: Option<Tensor>,
    inside: Tensor,
}

impl Tap {
    fn new(pos: &Tensor, weight: Option<Tensor>, size: usize) -> Tap {
        let inside = pos.ge(0.0).logical_and(pos.le(size as f64 - 1.0));
        let at = Tensor::where_(&inside, pos, 0.0).to_dtype(DType::I64);
        Tap { at, weight, inside }
    }
}

/// Keys' cubic convolution coefficients (a = -0.75) for fraction `t`, as PyTorch's
/// `get_cubic_upsample_coefficients`.
fn cubic_coefficients(t: &Tensor) -> [Tensor; 4] {
    const A: f64 = -0.75;
    let near = |x: &Tensor| &(&(&(x * (A + 2.0)) - (A + 3.0)) * x).mul(x) + 1.0;
    let far = |x: &Tensor| &(&(&(&(x * A) - 5.0 * A) * x) + 8.0 * A).mul(x) - 4.0 * A;
    let u = t.neg() + 1.0;
    [far(&(t + 1.0)), near(t), near(&u), far(&(&u + 1.0))]
}

impl Tensor {
    /// `F.grid_sample(input, grid, mode, padding_mode, align_corners)`: input
    /// `[N, C, H, W]` with grid `[N, Ho, Wo, 2]`, or `[N, C, D, H, W]` with
    /// `[N, Do, Ho, Wo, 3]`; the grid's last dim holds (x, y[, z]) in [-1, 1].
    #[track_caller]
    pub fn grid_sample(&self, grid: &Tensor, mode: GridMode, padding: GridPadding, align_corners: bool) -> Tensor {
        let (x, g) = (autocast::full(self), autocast::full(grid));
        if let Some(y) = autocast::casting(|| x.grid_sample(&g, mode, padding, align_corners)) {
            return y;
        }
        let op = "grid_sampler";
        let (s, gs) = (self.shape(), grid.shape());
        let k = s.len().wrapping_sub(2);
        if !(k == 2 || k == 3) || gs.len() != s.len() {
            raise(Error::shape(op, format!("grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got input with sizes {s:?} and grid with sizes {gs:?}")));
        }
        if s[0] != gs[0] {
            raise(Error::shape(op, format!("grid_sampler(): expected grid and input to have same batch size, but got input with sizes {s:?} and grid with sizes {gs:?}")));
        }
        if gs[k + 1] != k {
            raise(Error::shape(
                op,
                format!(
                    "grid_sampler(): expected grid to have size {k} in last dimension, but got grid with sizes {gs:?}"
                ),
            ));
        }
        if !self.dtype().is_float() || self.dtype() != grid.dtype() {
            raise(Error::dtype(
                op,
                format!(
                    "grid_sampler(): expected input and grid to have same dtype, but input has {} and grid has {}",
                    self.dtype().name(),
                    grid.dtype().name()
                ),
            ));
        }
        if mode == GridMode::Bicubic && k != 2 {
            raise(Error::invalid(op, "grid_sampler(): bicubic interpolation only supports 4D input"));
        }
        if s[2..].contains(&0) {
            raise(Error::shape(
                op,
                format!(
                    "grid_sampler(): expected input to have non-empty spatial dimensions, but input has sizes {s:?}"
                ),
            ));
        }
        let (n, c) = (s[0], s[1]);
        let sizes = &s[2..];
        let out = &gs[1..k + 1];
        let positions: usize = out.iter().product();
        // Pixel coordinates per spatial dim (d = 0 is the outermost: depth or height),
        // flattened to [N, positions]; the grid lists them innermost first.
        let coords: Vec<Tensor> = (0..k)
            .map(|d| unnormalize(&grid.select(-1, (k - 1 - d) as i64), sizes[d], align_corners))
            .map(|g| g.reshape(&[n as i64, positions as i64]))
            .collect();
        let taps: Vec<Vec<Tap>> = coords
            .iter()
            .enumerate()
            .map(|(d, c)| match mode {
                GridMode::Bilinear => {
                    let c = pad_coordinates(c, sizes[d], padding, align_corners);
                    let lo = c.floor().detach();
                    let hi = &lo + 1.0;
                    vec![Tap::new(&lo, Some(&hi - &c), sizes[d]), Tap::new(&hi, Some(&c - &lo), sizes[d])]
                }
                GridMode::Nearest => {
                    let c = pad_coordinates(c, sizes[d], padding, align_corners).detach();
                    vec![Tap::new(&c.round(), None, sizes[d])]
                }
                GridMode::Bicubic => {
                    let lo = c.floor().detach();
                    let w = cubic_coefficients(&(c - &lo));
                    w.into_iter()
                        .enumerate()
                        .map(|(j, w)| {
                            let p = pad_coordinates(&(&lo + (j as f64 - 1.0)), sizes[d], padding, align_corners);
                            Tap::new(&p, Some(w), sizes[d])
                        })
                        .collect()
                }
            })
            .collect();
        let planes = self.reshape(&[n as i64, c as i64, -1]);
        let read = |picks: &[&Tap]| -> Tensor {
            let mut at = Tensor::zeros(&[], DType::I64);
            let mut inside = Tensor::ones(&[], DType::Bool);
            for (d, t) in picks.iter().enumerate() {
                at = &(&at * sizes[d] as i64) + &t.at;
                inside = inside.logical_and(&t.inside);
            }
            let v = planes.gather(2, &at.unsqueeze(1).broadcast_to(&[n, c, positions]));
            Tensor::where_(&inside.unsqueeze(1), &v, 0.0)
        };
        let weigh = |v: Tensor, w: &Option<Tensor>| match w {
            Some(w) => &v * &w.unsqueeze(1),
            None => v,
        };
        let y = if mode == GridMode::Bicubic {
            // Along x within each of the four rows, then along y, as PyTorch sums.
            let rows = taps[0].iter().map(|ty| {
                let row = taps[1].iter().map(|tx| weigh(read(&[ty, tx]), &tx.weight)).reduce(|a, b| &a + &b);
                weigh(row.expect("four taps"), &ty.weight)
            });
            rows.reduce(|a, b| &a + &b).expect("four taps")
        } else {
            // Every combination of one tap per dim, in row-major order, weighted by the
            // product of the per-dim weights.
            let mut acc: Option<Tensor> = None;
            let count = taps[0].len().pow(k as u32);
            for combo in 0..count {
                let mut rem = combo;
                let mut picks = vec![];
                for d in (0..k).rev() {
                    picks.push(&taps[d][rem % taps[d].len()]);
                    rem /= taps[d].len();
                }
                picks.reverse();
                // x's weight first, as PyTorch multiplies them.
                let w = picks.iter().rev().filter_map(|t| t.weight.clone()).reduce(|a, b| &a * &b);
                let v = weigh(read(&picks), &w);
                acc = Some(match acc {
                    Some(a) => &a + &v,
                    None => v,
                });
            }
            acc.expect("at least one tap")
        };
        let mut shape = vec![n as i64, c as i64];
        shape.extend(out.iter().map(|&o| o as i64));
        y.reshape(&shape)
    }

    /// `F.affine_grid(theta, size, align_corners)`: the sampling grid of the affine maps
    /// `theta` (`[N, 2, 3]` for `size = [N, C, H, W]`, `[N, 3, 4]` for
    /// `[N, C, D, H, W]`), as `[N, H, W, 2]` or `[N, D, H, W, 3]`.
    #[track_caller]
    pub fn affine_grid(&self, size: &[usize], align_corners: bool) -> Tensor {
        let op = "affine_grid";
        let k = size.len().wrapping_sub(2);
        let ts = self.shape();
        if !(k == 2 || k == 3) {
            raise(Error::shape(op, format!("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size {size:?}.")));
        }
        if !self.dtype().is_float() || ts != [size[0], k, k + 1] {
            raise(Error::shape(
                op,
                format!(
                    "Expected a batch of {k}D affine matrices of shape Nx{k}x{} for size {size:?}. Got {ts:?}.",
                    k + 1
                ),
            ));
        }
        if size[2..].contains(&0) {
            raise(Error::shape(op, format!("Expected non-zero, positive output size. Got {size:?}")));
        }
        let dt = self.dtype();
        // Coordinates of pixel centres (or corners) in [-1, 1] along a dim.
        let axis = |len: usize| {
            if len <= 1 {
                Tensor::zeros(&[len], dt)
            } else {
                let r = Tensor::linspace(-1.0, 1.0, len, dt);
                if align_corners {
                    r
                } else {
                    r.mul((len as f64 - 1.0) / len as f64)
                }
            }
        };
        let spatial = &size[2..];
        let mut comps: Vec<Tensor> = (0..k)
            .map(|c| {
                // Component c (x, y, z) varies along spatial dim k - 1 - c.
                let d = k - 1 - c;
                let mut shape = vec![1i64; k];
                shape[d] = spatial[d] as i64;
                axis(spatial[d]).reshape(&shape).broadcast_to(spatial)
            })
            .collect();
        comps.push(Tensor::ones(spatial, dt));
        let base = Tensor::stack(&comps.iter().collect::<Vec<_>>(), -1).reshape(&[1, -1, (k + 1) as i64]);
        let grid = base.matmul(&self.mT());
        let mut shape = vec![size[0] as i64];
        shape.extend(spatial.iter().map(|&d| d as i64));
        shape.push(k as i64);
        grid.reshape(&shape)
    }
}
