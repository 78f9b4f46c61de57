//! The PyTorch-style samplers: factories (`rand`, `randn`, `randint`, `randperm`,
//! `normal`, `bernoulli`, `multinomial`), in-place fills (`uniform_`, `normal_`,
//! `exponential_`, `bernoulli_`, `random_`) and `dropout`. Each reads its generator
//! serially in PyTorch's order (in-place fills of a view walk memory order, as PyTorch's
//! iterator does), so the values equal PyTorch's CPU values for the same seed.

use super::draw::{narrow, normal_f64, normal_fill, uniform};
use super::generator::{pick, Engine, Generator};
use crate::mode::{default_device, raise};
use crate::ops::creation::from_f64s;
use crate::tensor::Tensor;
use psionic_core::{DType, Device, Error};

fn require_float(op: &'static str, dt: DType) {
    if !dt.is_float() {
        raise(Error::dtype(op, format!("\"{op}\" not implemented for '{}'", dt.name())));
    }
}

/// Logical (row-major) positions in the order PyTorch's iterator visits a tensor's
/// elements: dims sorted from the largest stride outwards, unit dims ignored.
fn visit_order(shape: &[usize], strides: &[isize]) -> Option<Vec<usize>> {
    let n: usize = shape.iter().product();
    let mut dims: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] > 1).collect();
    if dims.windows(2).all(|w| strides[w[0]].unsigned_abs() >= strides[w[1]].unsigned_abs()) {
        return None;
    }
    dims.sort_by_key(|&d| std::cmp::Reverse(strides[d].unsigned_abs()));
    let row: Vec<usize> = (0..shape.len()).map(|d| shape[d + 1..].iter().product()).collect();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; dims.len()];
    for _ in 0..n {
        out.push(dims.iter().zip(&idx).map(|(&d, &i)| i * row[d]).sum());
        for k in (0..dims.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[dims[k]] {
                break;
            }
            idx[k] = 0;
        }
    }
    Some(out)
}

/// The result of a sampling factory when the default device is `meta`: its shape and
/// dtype, nothing drawn.
fn undrawn(shape: &[usize], dtype: DType) -> Option<Tensor> {
    (default_device() == Device::Meta).then(|| Tensor::empty(shape, dtype))
}

/// `n` values drawn serially from the generator.
fn draw_n(n: usize, g: Option<&Generator>, mut draw: impl FnMut(&mut Engine) -> f64) -> Vec<f64> {
    let mut e = pick(g).lock();
    (0..n).map(|_| draw(&mut e)).collect()
}

/// `n` normals for `dt`: PyTorch's vectorised fill for contiguous storage of 16 or more
/// elements, cached double Box–Muller otherwise.
fn normal_values(dt: DType, n: usize, contiguous: bool, mean: f64, std: f64, g: Option<&Generator>) -> Vec<f64> {
    if n >= 16 && contiguous {
        normal_fill(&mut pick(g).lock(), dt, n, mean, std)
    } else {
        draw_n(n, g, |e| narrow(dt, normal_f64(e, mean, std)))
    }
}

/// `n` exponentials for `dt`: `-log1p(-u) / lambd` for a double uniform `u`.
fn exponential_values(dt: DType, n: usize, lambd: f64, g: Option<&Generator>) -> Vec<f64> {
    draw_n(n, g, |e| narrow(dt, -1.0 / lambd * (-uniform(e, DType::F64, 0.0, 1.0)).ln_1p()))
}

/// Writes the values `draw` makes (in visit order) into `t`. A meta tensor has no values
/// to write: nothing is drawn (PyTorch's meta tensors leave the generator alone too).
fn place(t: &Tensor, op: &'static str, draw: impl FnOnce() -> Vec<f64>) {
    if t.device() == Device::Meta {
        return;
    }
    let values = draw();
    let shape = t.shape();
    let values = match visit_order(&shape, &t.strides()) {
        None => values,
        Some(order) => {
            let mut v = vec![0.0; values.len()];
            for (k, &pos) in order.iter().enumerate() {
                v[pos] = values[k];
            }
            v
        }
    };
    t.write(&from_f64s(values, &shape, t.dtype()), op, true);
}

impl Tensor {
    /// `uniform_(from, to)`: uniform samples in `[from, to)`.
    #[track_caller]
    pub fn uniform_(&self, from: f64, to: f64, g: Option<&Generator>) -> &Self {
        require_float("uniform_", self.dtype());
        if from > to {
            raise(Error::invalid(
                "uniform_",
                format!("uniform_ expects to return a [from, to) range, but found from={from} > to={to}"),
            ));
        }
        let dt = self.dtype();
        place(self, "uniform_", || draw_n(self.numel(), g, |e| uniform(e, dt, from, to)));
        self
    }

    /// `normal_(mean, std)`.
    #[track_caller]
    pub fn normal_(&self, mean: f64, std: f64, g: Option<&Generator>) -> &Self {
        require_float("normal_", self.dtype());
        if std < 0.0 {
            raise(Error::invalid("normal_", format!("normal expects std >= 0.0, but found std {std}")));
        }
        place(self, "normal_", || normal_values(self.dtype(), self.numel(), self.is_contiguous(), mean, std, g));
        self
    }

    /// `exponential_(lambd)`: `-log1p(-u) / lambd` for a double uniform `u`.
    #[track_caller]
    pub fn exponential_(&self, lambd: f64, g: Option<&Generator>) -> &Self {
        require_float("exponential_", self.dtype());
        if lambd <= 0.0 {
            raise(Error::invalid(
                "exponential_",
                format!("exponential_ expects lambda > 0.0, but found lambda={lambd}"),
            ));
        }
        place(self, "exponential_", || exponential_values(self.dtype(), self.numel(), lambd, g));
        self
    }

    /// `bernoulli_(p)`: ones with probability `p` (a double uniform below `p`).
    #[track_caller]
    pub fn bernoulli_(&self, p: f64, g: Option<&Generator>) -> &Self {
        if !(0.0..=1.0).contains(&p) {
            raise(Error::invalid("bernoulli_", format!("bernoulli_ expects p to be in [0, 1], but got p={p}")));
        }
        place(self, "bernoulli_", || draw_n(self.numel(), g, |e| (uniform(e, DType::F64, 0.0, 1.0) < p) as u8 as f64));
        self
    }

    /// `random_(from, to)`: integers in `[from, to)`.
    #[track_caller]
    pub fn random_(&self, from: i64, to: i64, g: Option<&Generator>) -> &Self {
        let draw = int_draw("random_", from, to, self.dtype());
        place(self, "random_", || draw_n(self.numel(), g, draw));
        self
    }
}

/// `random_from_to`: the word (64 bits for ranges of 2^32 or more on 64-bit-capable
/// dtypes) modulo the range, plus `from`.
fn int_draw(op: &'static str, from: i64, to: i64, dt: DType) -> impl FnMut(&mut Engine) -> f64 {
    if from >= to {
        raise(Error::invalid(
            op,
            format!("random_ expects 'from' to be less than 'to', but got from={from} >= to={to}"),
        ));
    }
    let range = to.wrapping_sub(from) as u64;
    let wide = range >= 1 << 32 && matches!(dt, DType::I64 | DType::F64 | DType::F32 | DType::BF16);
    move |e: &mut Engine| {
        let w = if wide { e.u64() } else { e.u32() as u64 };
        (w % range).wrapping_add(from as u64) as i64 as f64
    }
}

/// `torch.rand`.
#[track_caller]
pub fn rand(shape: &[usize], dtype: DType, g: Option<&Generator>) -> Tensor {
    require_float("uniform_", dtype);
    if let Some(t) = undrawn(shape, dtype) {
        return t;
    }
    from_f64s(draw_n(shape.iter().product(), g, |e| uniform(e, dtype, 0.0, 1.0)), shape, dtype)
}

/// `torch.randn`.
#[track_caller]
pub fn randn(shape: &[usize], dtype: DType, g: Option<&Generator>) -> Tensor {
    require_float("normal_", dtype);
    if let Some(t) = undrawn(shape, dtype) {
        return t;
    }
    from_f64s(normal_values(dtype, shape.iter().product(), true, 0.0, 1.0, g), shape, dtype)
}

/// `torch.randint(low, high, shape, dtype=dtype)`.
#[track_caller]
pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType, g: Option<&Generator>) -> Tensor {
    let draw = int_draw("random_", low, high, dtype);
    if let Some(t) = undrawn(shape, dtype) {
        return t;
    }
    from_f64s(draw_n(shape.iter().product(), g, draw), shape, dtype)
}

/// `torch.rand_like`, `torch.randn_like`.
pub fn rand_like(x: &Tensor, g: Option<&Generator>) -> Tensor {
    rand(&x.shape(), x.dtype(), g)
}

pub fn randn_like(x: &Tensor, g: Option<&Generator>) -> Tensor {
    randn(&x.shape(), x.dtype(), g)
}

/// `torch.randperm(n)`: Fisher–Yates, one 32-bit word per step; from 2^32/20 elements on,
/// PyTorch's inside-out shuffle on 64-bit words.
#[track_caller]
pub fn randperm(n: usize, dtype: DType, g: Option<&Generator>) -> Tensor {
    let mut e = pick(g).lock();
    let mut p: Vec<i64> = (0..n as i64).collect();
    if (n as u64) < u32::MAX as u64 / 20 {
        for i in 0..n.saturating_sub(1) {
            let z = (e.u32() as u64 % (n - i) as u64) as usize;
            p.swap(i, i + z);
        }
    } else {
        for i in 0..n {
            let z = (e.u64() % (i as u64 + 1)) as usize;
            p[i] = p[z];
            p[z] = i as i64;
        }
    }
    drop(e);
    Tensor::from_vec(p, &[n]).to_dtype(dtype)
}

/// `torch.normal(mean, std)` for tensors: standard normals (the `normal_` fill of the
/// broadcast shape) scaled by `std` and shifted by `mean`.
#[track_caller]
pub fn normal(mean: &Tensor, std: &Tensor, g: Option<&Generator>) -> Tensor {
    let dt = psionic_core::promote_types(mean.dtype(), std.dtype());
    require_float("normal", dt);
    let shape = crate::mode::check(psionic_core::broadcast_shapes("normal", &mean.shape(), &std.shape()));
    let z = randn(&shape, dt, g);
    z.mul(std).add(mean).detach()
}

/// `torch.bernoulli(p)`: one draw per probability, a float uniform for f32 `p` and a
/// double one for f64.
#[track_caller]
pub fn bernoulli(p: &Tensor, g: Option<&Generator>) -> Tensor {
    let dt = p.dtype();
    if !matches!(dt, DType::F32 | DType::F64) {
        raise(Error::dtype("bernoulli", format!("\"bernoulli_tensor_cpu_p_\" not implemented for '{}'", dt.name())));
    }
    let probs = p.to_vec::<f64>();
    if let Some(bad) = probs.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        raise(Error::invalid("bernoulli", format!("Expected p_in >= 0 && p_in <= 1 to be true, but got {bad}")));
    }
    let mut e = pick(g).lock();
    let v = probs.iter().map(|&q| (uniform(&mut e, dt, 0.0, 1.0) < q) as u8 as f64).collect();
    drop(e);
    from_f64s(v, &p.shape(), dt)
}

/// `torch.multinomial(probs, num_samples, replacement)` for 1-D or 2-D `probs`.
/// With replacement: a cumulative table per row and a binary search per double uniform.
/// Without (or for one sample): PyTorch's exponential race, `argmax`/`topk` of
/// `probs / Exp(1)`.
#[track_caller]
pub fn multinomial(probs: &Tensor, num_samples: usize, replacement: bool, g: Option<&Generator>) -> Tensor {
    let op = "multinomial";
    let dt = probs.dtype();
    require_float(op, dt);
    let shape = probs.shape();
    if shape.is_empty() || shape.len() > 2 {
        raise(Error::shape(op, "prob_dist must be 1 or 2 dim"));
    }
    let cats = shape[shape.len() - 1];
    if num_samples == 0 {
        raise(Error::invalid(op, "cannot sample n_sample <= 0 samples"));
    }
    if !replacement && num_samples > cats {
        raise(Error::invalid(op, "cannot sample n_sample > prob_dist.size(-1) samples without replacement"));
    }
    let rows_data = probs.to_vec::<f64>();
    for row in rows_data.chunks(cats.max(1)) {
        if row.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            raise(Error::invalid(op, "probability tensor contains either `inf`, `nan` or element < 0"));
        }
        if row.iter().sum::<f64>() <= 0.0 {
            raise(Error::invalid(op, "invalid multinomial distribution (sum of probabilities <= 0)"));
        }
    }
    let mut out_shape = shape.clone();
    *out_shape.last_mut().unwrap() = num_samples;
    if !replacement || num_samples == 1 {
        let q = from_f64s(exponential_values(dt, probs.numel(), 1.0, g), &shape, dt);
        let ratio = probs.div(&q);
        return if num_samples == 1 { ratio.argmax(Some(-1), true) } else { ratio.topk(num_samples, -1, true).1 };
    }
    let mut e = pick(g).lock();
    let mut out = Vec::with_capacity(rows_data.len() / cats * num_samples);
    for row in rows_data.chunks(cats) {
        let cum = cumulative(row, dt);
        for _ in 0..num_samples {
            let u = uniform(&mut e, DType::F64, 0.0, 1.0);
            out.push(cum.partition_point(|&c| c < u) as i64);
        }
    }
    drop(e);
    Tensor::from_vec(out, &out_shape)
}

/// A row's running sums divided by the total, in the dtype's accumulation precision
/// (f32 for f32 and the 16-bit types, f64 for f64), the last set to exactly 1.
fn cumulative(row: &[f64], dt: DType) -> Vec<f64> {
    let mut cum: Vec<f64> = if dt == DType::F64 {
        let mut s = 0.0;
        let c: Vec<f64> = row
            .iter()
            .map(|v| {
                s += v;
                s
            })
            .collect();
        c.iter().map(|v| v / s).collect()
    } else {
        let mut s = 0.0f32;
        let c: Vec<f32> = row
            .iter()
            .map(|v| {
                s += *v as f32;
                s
            })
            .collect();
        c.iter().map(|v| (v / s) as f64).collect()
    };
    *cum.last_mut().unwrap() = 1.0;
    cum
}

/// `torch.nn.functional.dropout(x, p, training)`: `x` times a mask drawn by
/// `bernoulli_(1 - p)` in `x`'s dtype and divided by `1 - p`. Differentiable in `x`.
#[track_caller]
pub fn dropout(x: &Tensor, p: f64, training: bool, g: Option<&Generator>) -> Tensor {
    if !(0.0..=1.0).contains(&p) {
        raise(Error::invalid("dropout", format!("dropout probability has to be between 0 and 1, but got {p}")));
    }
    if p == 0.0 || !training || x.numel() == 0 {
        return x.clone();
    }
    if p == 1.0 {
        return x.mul(Tensor::zeros(&[], x.dtype()));
    }
    let dt = x.dtype();
    let keep = 1.0 - p;
    let scale = if dt == DType::F64 { 1.0 / keep } else { super::draw::round(dt, 1.0 / keep as f32) as f64 };
    let v = draw_n(x.numel(), g, |e| if uniform(e, DType::F64, 0.0, 1.0) < keep { scale } else { 0.0 });
    let mask = from_f64s(v, &x.shape(), dt);
    x.mul(&mask)
}
