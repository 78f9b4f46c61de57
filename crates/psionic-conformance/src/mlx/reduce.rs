//! MLX reductions, scans and softmax: `axis` (int, list or None for all), `keepdims`,
//! `ddof`, and scans' `reverse`/`inclusive`, expressed with Psionic's reductions.

use super::program::Call;
use super::value::Val;
use crate::torch::{unsupported, R};
use psionic_array::{DType, Tensor};

fn axes(c: &Call) -> R<Option<Vec<i64>>> {
    c.get(1, "axis").map(Val::ints).transpose()
}

fn keepdims(c: &Call, i: usize) -> R<bool> {
    Call::flag(c.get(i, "keepdims"), false)
}

/// Every axis of `x` when `axis` is None.
fn all(x: &Tensor, a: Option<Vec<i64>>) -> Vec<i64> {
    a.unwrap_or_else(|| (0..x.dim() as i64).collect())
}

/// `x` reduced over `dims` one axis at a time by `f(x, dim, keepdim)`, highest axis
/// first so the lower ones keep their numbers.
fn each_axis(x: &Tensor, dims: &[i64], keep: bool, f: impl Fn(&Tensor, i64, bool) -> Tensor) -> Tensor {
    let nd = x.dim().max(1) as i64;
    let mut ds: Vec<i64> = dims.iter().map(|d| d.rem_euclid(nd)).collect();
    ds.sort_unstable_by(|a, b| b.cmp(a));
    ds.iter().fold(x.clone(), |acc, &d| f(&acc, d, keep))
}

/// MLX keeps integer sums and products in the input's integer type (bool counts in int32).
fn int_accumulate(x: &Tensor) -> Option<DType> {
    match x.dtype() {
        DType::Bool => Some(DType::I32),
        d if !d.is_float() => Some(d),
        _ => None,
    }
}

fn scan(x: &Tensor, op: &str, axis: i64, reverse: bool, inclusive: bool) -> R<Tensor> {
    let x = if reverse { x.flip(&[axis]) } else { x.clone() };
    let y = match op {
        "cumsum" => x.cumsum(axis),
        "cumprod" => x.cumprod(axis),
        "cummax" => x.cummax(axis).0,
        "cummin" => x.cummin(axis).0,
        _ => x.logcumsumexp(axis),
    };
    let y = if inclusive {
        y
    } else {
        // Exclusive: each position sees the ones before it; the first sees the identity.
        let identity = match op {
            "cumsum" => 0.0,
            "cumprod" => 1.0,
            "cummax" | "logcumsumexp" => f64::NEG_INFINITY,
            _ => f64::INFINITY,
        };
        let n = y.size(axis);
        let mut first_shape = y.shape();
        let d = axis.rem_euclid(y.dim() as i64) as usize;
        first_shape[d] = 1;
        let first = Tensor::full(&first_shape, identity, y.dtype());
        Tensor::cat(&[&first, &y.narrow(axis, 0, n.saturating_sub(1))], axis)
    };
    Ok(if reverse { y.flip(&[axis]) } else { y })
}

pub fn call(c: &Call) -> Option<R<Val>> {
    let t = |v: Tensor| Ok(Val::T(v));
    Some(match c.name {
        "sum" | "prod" | "max" | "min" | "mean" | "logsumexp" | "all" | "any" => (|| {
            c.only(3, &["axis", "keepdims"])?;
            let (x, keep) = (c.x()?, keepdims(c, 2)?);
            let a = axes(c)?;
            let dims = all(&x, a);
            t(match c.name {
                "sum" => match int_accumulate(&x) {
                    Some(d) => x.sum_dtype(dims, keep, d),
                    None => x.sum(dims, keep),
                },
                "prod" => {
                    let p = each_axis(&x, &dims, keep, |x, d, k| x.prod(d, k));
                    // Psionic multiplies integers in int64; the low bits are MLX's product.
                    int_accumulate(&x).map_or(p.clone(), |d| p.to_dtype(d))
                }
                "max" => x.amax(dims, keep),
                "min" => x.amin(dims, keep),
                "mean" => x.mean(dims, keep),
                "logsumexp" => x.logsumexp(dims, keep),
                "all" => x.all_dims(dims, keep),
                _ => x.any_dims(dims, keep),
            })
        })(),
        "var" | "std" => (|| {
            c.only(4, &["axis", "keepdims", "ddof"])?;
            let x = c.x()?;
            let ddof = c.get(3, "ddof").map_or(Ok(0.0), Val::f64)?;
            let v = x.var(all(&x, axes(c)?), ddof, keepdims(c, 2)?);
            t(if c.name == "std" { v.sqrt() } else { v })
        })(),
        "argmax" | "argmin" => (|| {
            c.only(3, &["axis", "keepdims"])?;
            let x = c.x()?;
            let a = c.get(1, "axis").map(Val::i64).transpose()?;
            let k = keepdims(c, 2)?;
            let r = if c.name == "argmax" { x.argmax(a, k) } else { x.argmin(a, k) };
            // MLX flattens for axis=None but keeps every dim (as ones) under keepdims.
            t(if a.is_none() && k { r.reshape(&vec![1; x.dim()]) } else { r })
        })(),
        "cumsum" | "cumprod" | "cummax" | "cummin" | "logcumsumexp" => (|| {
            c.only(2, &["axis", "reverse", "inclusive"])?;
            let (x, axis) = super::select::along(c, 1, None)?;
            t(scan(&x, c.name, axis, Call::flag(c.kw("reverse"), false)?, Call::flag(c.kw("inclusive"), true)?)?)
        })(),
        "softmax" => (|| {
            c.only(2, &["axis", "precise"])?;
            let x = c.x()?;
            match axes(c)? {
                None => {
                    t(x.reshape(&[-1]).softmax(0).reshape(&x.shape().iter().map(|&d| d as i64).collect::<Vec<_>>()))
                }
                Some(a) if a.len() == 1 => t(x.softmax(a[0])),
                Some(_) => unsupported("softmax over several axes"),
            }
        })(),
        _ => return None,
    })
}
