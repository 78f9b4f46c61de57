//! MLX-style key-based sampling (`mlx.core.random`): a key is two 32-bit words (a tensor
//! of shape `[2]`, stored as int64 since Psionic has no uint32 dtype), `split` derives new
//! keys, and every sampler is a pure function of its key, built on the same words,
//! roundings and approximations as MLX's CPU backend, so results equal MLX's for the same
//! key. Without a key, a global key sequence (`seed`) supplies the next one.

use super::threefry;
use super::{draw::round, mlx_f32};
use crate::mode::raise;
use crate::ops::creation::from_f64s;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};
use std::sync::Mutex;

static SEQUENCE: Mutex<Option<(u32, u32)>> = Mutex::new(None);

fn words_of(seed: u64) -> (u32, u32) {
    ((seed >> 32) as u32, seed as u32)
}

/// `mx.random.key(seed)`: the high and low 32 bits.
pub fn key(seed: u64) -> Tensor {
    let (a, b) = words_of(seed);
    Tensor::from_vec(vec![a as i64, b as i64], &[2])
}

/// `mx.random.seed`: restarts the global key sequence.
pub fn seed(seed: u64) {
    *SEQUENCE.lock().unwrap_or_else(|e| e.into_inner()) = Some(words_of(seed));
}

/// The words of `key`, or the global sequence's next key (which splits it, as MLX does).
fn resolve(op: &'static str, key: Option<&Tensor>) -> (u32, u32) {
    if let Some(k) = key {
        if k.shape() != [2] || k.dtype().is_float() || k.dtype() == DType::Bool {
            raise(Error::shape(
                op,
                format!(
                    "[{op}] Expected a key of shape (2) with integer words, got {:?} {}",
                    k.shape(),
                    k.dtype().name()
                ),
            ));
        }
        let w = k.to_vec::<i64>();
        if w.iter().any(|v| !(0..=u32::MAX as i64).contains(v)) {
            raise(Error::invalid(op, format!("[{op}] key words must be 32-bit unsigned, got {w:?}")));
        }
        return (w[0] as u32, w[1] as u32);
    }
    super::count_host_read();
    let mut s = SEQUENCE.lock().unwrap_or_else(|e| e.into_inner());
    let cur = *s.get_or_insert_with(|| {
        words_of(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64))
    });
    let w = threefry::words(cur, 4);
    *s = Some((w[0], w[1]));
    (w[2], w[3])
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// `mx.random.bits(shape, key=key)`: 32-bit words (as int64).
pub fn bits(shape: &[usize], key: Option<&Tensor>) -> Tensor {
    let w = threefry::words(resolve("bits", key), numel(shape));
    Tensor::from_vec(w.into_iter().map(|v| v as i64).collect(), shape)
}

/// `mx.random.split(key, num)`: `num` new keys, shape `[num, 2]`.
pub fn split(key: &Tensor, num: usize) -> Tensor {
    let w = threefry::words(resolve("split", Some(key)), 2 * num);
    Tensor::from_vec(w.into_iter().map(|v| v as i64).collect(), &[num, 2])
}

/// `mx.random.split(key)`: two keys.
pub fn split2(key: &Tensor) -> (Tensor, Tensor) {
    let s = split(key, 2);
    (s.select(0, 0).contiguous(), s.select(0, 1).contiguous())
}

/// Uniform f32 values in [0, 1) from the words, capped below one at `dtype`'s precision.
fn unit(dtype: DType, w: &[u32]) -> Vec<f32> {
    let upper = match dtype {
        DType::F32 => f32::from_bits(1.0f32.to_bits() - 1),
        DType::F16 => half::f16::from_bits(half::f16::ONE.to_bits() - 1).to_f32(),
        _ => half::bf16::from_bits(half::bf16::ONE.to_bits() - 1).to_f32(),
    };
    w.iter().map(|&v| round(dtype, (v as f32 / u32::MAX as f32).min(upper))).collect()
}

fn uniform_values(op: &'static str, low: f32, high: f32, n: usize, dtype: DType, k: (u32, u32)) -> Vec<f32> {
    if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
        raise(Error::dtype(op, format!("[{op}] Unsupported type {}.", dtype.name())));
    }
    let (lo, hi) = (round(dtype, low), round(dtype, high));
    let range = round(dtype, hi - lo);
    unit(dtype, &threefry::words(k, n)).into_iter().map(|u| round(dtype, round(dtype, range * u) + lo)).collect()
}

fn tensor(v: Vec<f32>, shape: &[usize], dtype: DType) -> Tensor {
    from_f64s(v.into_iter().map(f64::from).collect(), shape, dtype)
}

/// `mx.random.uniform(low, high, shape, dtype, key)`: f32, f16 or bf16.
pub fn uniform(low: f64, high: f64, shape: &[usize], dtype: DType, key: Option<&Tensor>) -> Tensor {
    let k = resolve("uniform", key);
    tensor(uniform_values("uniform", low as f32, high as f32, numel(shape), dtype, k), shape, dtype)
}

/// `mx.random.normal(shape, dtype, loc, scale, key)`: `sqrt(2)·erfinv(u)` for `u`
/// uniform in (-1, 1).
pub fn normal(shape: &[usize], dtype: DType, loc: Option<f64>, scale: Option<f64>, key: Option<&Tensor>) -> Tensor {
    let k = resolve("normal", key);
    if !dtype.is_float() {
        raise(Error::dtype("normal", "[normal] Only floating point and complex64 types are supported."));
    }
    let low = f32::from_bits((-1.0f32).to_bits() - 1);
    let u = uniform_values("normal", low, 1.0, numel(shape), DType::F32, k);
    let r = |x: f32| round(dtype, x);
    let mut s = r(std::f64::consts::SQRT_2 as f32);
    if let Some(sc) = scale {
        s = r(s * r(sc as f32));
    }
    let v = u
        .into_iter()
        .map(|u| {
            let x = r(s * r(mlx_f32::erfinv(u)));
            loc.map_or(x, |l| r(r(l as f32) + x))
        })
        .collect();
    tensor(v, shape, dtype)
}

/// `mx.random.truncated_normal(lower, upper, shape, dtype, key)`: inverse-CDF samples
/// between the bounds (uniform between their erf values), clipped to them.
pub fn truncated_normal(lower: f64, upper: f64, shape: &[usize], dtype: DType, key: Option<&Tensor>) -> Tensor {
    let k = resolve("truncated_normal", key);
    if !dtype.is_float() {
        raise(Error::dtype("truncated_normal", "[trunc_normal] trunc_normal only accepts floating point dtypes."));
    }
    let r = |x: f32| round(dtype, x);
    let sqrt2 = r(std::f64::consts::SQRT_2 as f32);
    let (lo, hi) = (r(lower as f32), r(upper as f32));
    let (a, b) = (r(mlx_f32::erf(r(lo / sqrt2))), r(mlx_f32::erf(r(hi / sqrt2))));
    let u = uniform_values("truncated_normal", a, b, numel(shape), dtype, k);
    let v = u.into_iter().map(|u| r(sqrt2 * r(mlx_f32::erfinv(u))).min(hi).max(lo)).collect();
    tensor(v, shape, dtype)
}

/// `mx.random.gumbel(shape, dtype, key)`: `-log(-log(u))`.
pub fn gumbel(shape: &[usize], dtype: DType, key: Option<&Tensor>) -> Tensor {
    let k = resolve("gumbel", key);
    tensor(gumbel_values(numel(shape), dtype, k), shape, dtype)
}

fn gumbel_values(n: usize, dtype: DType, k: (u32, u32)) -> Vec<f32> {
    let r = |x: f32| round(dtype, x);
    uniform_values("gumbel", 0.0, 1.0, n, dtype, k).into_iter().map(|u| -r(-r(u.ln())).ln()).map(r).collect()
}

/// `mx.random.randint(low, high, shape, dtype, key)`: floor of an f32 uniform in
/// [low, high), clamped to [low, high - 1].
pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType, key: Option<&Tensor>) -> Tensor {
    let k = resolve("randint", key);
    if dtype.is_float() {
        raise(Error::dtype("randint", "[randint] randint only accepts integer dtypes and bool."));
    }
    let u = uniform_values("randint", low as f32, high as f32, numel(shape), DType::F32, k);
    let v = u.into_iter().map(|x| (x.floor() as i64).clamp(low, high - 1) as f64).collect();
    from_f64s(v, shape, dtype)
}

/// `mx.random.bernoulli(p, shape, key)`: a word below `p` times just over 2^32 (so
/// `p >= 1` is always true and `p <= 0` never); `shape` defaults to `p`'s.
pub fn bernoulli(p: &Tensor, shape: Option<&[usize]>, key: Option<&Tensor>) -> Tensor {
    let k = resolve("bernoulli", key);
    if !p.dtype().is_float() {
        raise(Error::dtype("bernoulli", "[bernoulli] bernoulli probability `p` must be a float type."));
    }
    let shape = shape.map_or_else(|| p.shape(), <[usize]>::to_vec);
    let pb = p.to_dtype(DType::F32).broadcast_to(&shape).contiguous().to_vec::<f32>();
    let upper = f32::from_bits((u32::MAX as f32).to_bits() + 1);
    let w = threefry::words(k, numel(&shape));
    let v = w.iter().zip(&pb).map(|(&b, &q)| ((b as f32) < q * upper) as u8 as f64).collect();
    from_f64s(v, &shape, DType::Bool)
}

/// How many categorical samples to draw.
pub enum Draws<'a> {
    /// One per row (logits' shape without `axis`).
    One,
    /// `n` per row, in a new last dim.
    Samples(usize),
    /// Samples of this shape (broadcast with the rows).
    Shape(&'a [usize]),
}

/// `mx.random.categorical(logits, axis, shape | num_samples, key)`: class indices.
/// One-dimensional logits with a sample shape use MLX's inverse-CDF path; everything else
/// the Gumbel-max trick.
pub fn categorical(logits: &Tensor, axis: i64, draws: Draws, key: Option<&Tensor>) -> Tensor {
    let op = "categorical";
    let k = resolve(op, key);
    let nd = logits.dim() as i64;
    let ax = if axis < 0 { axis + nd } else { axis };
    if ax < 0 || ax >= nd {
        raise(Error::shape(op, format!("[categorical] Invalid axis {axis} for logits with {nd} dimensions.")));
    }
    let (logits, ax, shape) = match draws {
        Draws::One => {
            let mut s = logits.shape();
            s.remove(ax as usize);
            (logits.clone(), ax as usize, s)
        }
        Draws::Shape(s) => (logits.clone(), ax as usize, s.to_vec()),
        Draws::Samples(n) => {
            let l = logits.unsqueeze(-1);
            let mut s = l.shape();
            s.remove(ax as usize);
            *s.last_mut().unwrap() = n;
            (l, ax as usize, s)
        }
    };
    let n = logits.shape()[ax];
    if n > 0 && logits.numel() == n && !shape.is_empty() {
        return inverse_cdf(&logits.reshape(&[n as i64]), &shape, k);
    }
    let offset = ax + shape.len() + 1 - logits.dim();
    let mut gshape = shape.clone();
    gshape.insert(offset, n);
    let g = tensor(gumbel_values(numel(&gshape), DType::F32, k), &gshape, DType::F32);
    g.add(logits.to_dtype(DType::F32)).argmax(Some(offset as i64), false)
}

fn inverse_cdf(logits: &Tensor, shape: &[usize], k: (u32, u32)) -> Tensor {
    let x = logits.to_dtype(DType::F32).to_vec::<f32>();
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let w: Vec<f32> = if m.is_infinite() {
        x.iter().map(|&v| (v == m) as u8 as f32).collect()
    } else {
        x.iter().map(|&v| mlx_f32::exp(v - m)).collect()
    };
    let mut cdf = Vec::with_capacity(w.len());
    let mut s = 0.0f32;
    for &v in &w {
        cdf.push(s);
        s += v;
    }
    let u = uniform_values("categorical", 0.0, 1.0, numel(shape), DType::F32, k);
    let v = u.into_iter().map(|u| (cdf.partition_point(|&c| c <= u * s) as i64 - 1) as f64).collect();
    from_f64s(v, shape, DType::I64)
}

/// `mx.random.permutation(n, key)`: the order that sorts `n` random words.
pub fn permutation(n: usize, key: Option<&Tensor>) -> Tensor {
    let w = threefry::words(resolve("permutation", key), n);
    let mut idx: Vec<i64> = (0..n as i64).collect();
    idx.sort_by_key(|&i| w[i as usize]);
    Tensor::from_vec(idx, &[n])
}

/// `mx.random.permutation(x, axis, key)`: `x` with its entries along `axis` shuffled.
pub fn permute(x: &Tensor, axis: i64, key: Option<&Tensor>) -> Tensor {
    let d = if axis < 0 { axis + x.dim() as i64 } else { axis };
    let n = x
        .shape()
        .get(d as usize)
        .copied()
        .unwrap_or_else(|| raise(Error::shape("permutation", format!("axis {axis} out of range"))));
    x.index_select(d, &permutation(n, key))
}
