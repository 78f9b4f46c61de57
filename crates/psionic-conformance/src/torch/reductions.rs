//! Reductions, scans and softmax (the reductions family).

use super::{one, unsupported, Call, R};
use crate::value::Value;
use psionic_array::linalg::MatrixOrd;
use psionic_array::{Interpolation, NormOrd, Tensor};

/// `dim` (int, list, or absent/None for all dims) and `keepdim`.
fn dims(c: &Call, i: usize) -> R<Option<Vec<i64>>> {
    match c.param(i, "dim") {
        None | Some(Value::None) => Ok(None),
        Some(v) => v.ints().map(Some),
    }
}

fn keepdim(c: &Call, i: usize) -> R<bool> {
    c.param(i, "keepdim").map_or(Ok(false), |v| v.bool())
}

/// A `dtype=` keyword: the input is cast first, as torch does.
pub(super) fn cast(c: &Call, x: &Tensor) -> R<Tensor> {
    match c.kwargs.get("dtype") {
        None | Some(Value::None) => Ok(x.clone()),
        Some(Value::DType(d)) => Ok(x.to_dtype(*d)),
        Some(_) => unsupported("dtype keyword"),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let x = c.x().ok()?;
    let all = |d: Option<Vec<i64>>| d.unwrap_or_default();
    Some(match c.op {
        "sum" | "mean" | "amax" | "amin" | "logsumexp" => c.only(2, &["dim", "keepdim", "dtype"]).and_then(|_| {
            let (d, k, x) = (dims(c, 0)?, keepdim(c, 1)?, cast(c, x)?);
            one(match c.op {
                "sum" => x.sum(all(d), k),
                "mean" => x.mean(all(d), k),
                "amax" => x.amax(all(d), k),
                "amin" => x.amin(all(d), k),
                _ => x.logsumexp(all(d), k),
            })
        }),
        "prod" => c.only(2, &["dim", "keepdim", "dtype"]).and_then(|_| {
            let x = cast(c, x)?;
            match dims(c, 0)? {
                None => one(x.prod_all()),
                Some(d) if d.len() == 1 => one(x.prod(d[0], keepdim(c, 1)?)),
                Some(_) => unsupported("prod over several dims"),
            }
        }),
        "argmax" | "argmin" => c.only(2, &["dim", "keepdim"]).and_then(|_| {
            let d = dims(c, 0)?.map(|d| d[0]);
            let k = keepdim(c, 1)?;
            one(if c.op == "argmax" { x.argmax(d, k) } else { x.argmin(d, k) })
        }),
        "all" | "any" => c.only(2, &["dim", "keepdim"]).and_then(|_| match dims(c, 0)? {
            None => one(if c.op == "all" { x.all() } else { x.any() }),
            Some(d) => {
                let k = keepdim(c, 1)?;
                one(if c.op == "all" { x.all_dims(d, k) } else { x.any_dims(d, k) })
            }
        }),
        "softmax" | "log_softmax" => c.only(1, &["dim", "dtype"]).and_then(|_| {
            let d = c.param(0, "dim").map_or_else(|| unsupported("implicit softmax dim"), |v| v.i64())?;
            let x = cast(c, x)?;
            one(if c.op == "softmax" { x.softmax(d) } else { x.log_softmax(d) })
        }),
        "cumsum" | "cumprod" | "logcumsumexp" => c.only(1, &["dim", "dtype"]).and_then(|_| {
            let d = c.param(0, "dim").map_or_else(|| unsupported("no dim"), |v| v.i64())?;
            let x = cast(c, x)?;
            one(match c.op {
                "cumsum" => x.cumsum(d),
                "cumprod" => x.cumprod(d),
                _ => x.logcumsumexp(d),
            })
        }),
        "cummax" | "cummin" => c.only(1, &["dim"]).and_then(|_| {
            let d = c.param(0, "dim").map_or_else(|| unsupported("no dim"), |v| v.i64())?;
            let (v, i) = if c.op == "cummax" { x.cummax(d) } else { x.cummin(d) };
            Ok(vec![v, i])
        }),
        "max" | "min" => extreme(c, x),
        "var" | "std" | "var_mean" | "std_mean" => var_std(c, x),
        "count_nonzero" => c.only(1, &["dim"]).and_then(|_| one(x.count_nonzero(all(dims(c, 0)?)))),
        "norm" => norm(c, x),
        "median" | "nanmedian" => c.only(2, &["dim", "keepdim"]).and_then(|_| match c.param(0, "dim") {
            None => one(if c.op == "median" { x.median() } else { x.nanmedian() }),
            Some(d) => {
                let (d, k) = (d.i64()?, keepdim(c, 1)?);
                let (v, i) = if c.op == "median" { x.median_dim(d, k) } else { x.nanmedian_dim(d, k) };
                Ok(vec![v, i])
            }
        }),
        "mode" => c.only(2, &["dim", "keepdim"]).and_then(|_| {
            let d = c.param(0, "dim").map_or(Ok(-1), |v| v.i64())?;
            let (v, i) = x.mode(d, keepdim(c, 1)?);
            Ok(vec![v, i])
        }),
        "kthvalue" => c.only(3, &["k", "dim", "keepdim"]).and_then(|_| {
            let k = c.param(0, "k").map_or_else(|| unsupported("no k"), |v| v.i64())?;
            let d = c.param(1, "dim").map_or(Ok(-1), |v| v.i64())?;
            let (v, i) = x.kthvalue(k as usize, d, keepdim(c, 2)?);
            Ok(vec![v, i])
        }),
        "quantile" | "nanquantile" => c.only(4, &["q", "dim", "keepdim", "interpolation"]).and_then(|_| {
            let q = match c.param(0, "q") {
                Some(Value::Tensor(t)) => t.clone(),
                Some(v) => Tensor::full(&[], v.f64()?, x.dtype()),
                None => return unsupported("no q"),
            };
            let d = dims(c, 1)?.map(|d| d[0]);
            let interp = match c.param(3, "interpolation") {
                None => Interpolation::Linear,
                Some(Value::Str(s)) => {
                    Interpolation::from_name(s).map_or_else(|| unsupported(format!("interpolation {s}")), Ok)?
                }
                Some(_) => return unsupported("interpolation"),
            };
            let k = keepdim(c, 2)?;
            one(if c.op == "quantile" { x.quantile(&q, d, k, interp) } else { x.nanquantile(&q, d, k, interp) })
        }),
        "nansum" | "nanmean" => c.only(2, &["dim", "keepdim", "dtype"]).and_then(|_| {
            let (d, k, x) = (all(dims(c, 0)?), keepdim(c, 1)?, cast(c, x)?);
            one(if c.op == "nansum" { x.nansum(&d, k) } else { x.nanmean(&d, k) })
        }),
        _ => return None,
    })
}

/// `torch.max`/`torch.min`: of everything, along `dim` (values and indices), or
/// elementwise against another tensor (the `binary` variant).
fn extreme(c: &Call, x: &Tensor) -> R<Vec<Tensor>> {
    c.only(2, &["dim", "keepdim", "other"])?;
    let max = c.op == "max";
    match c.param(0, "dim") {
        None => one(if max { x.max_all() } else { x.min_all() }),
        Some(Value::Tensor(o)) => one(if max { x.maximum(o) } else { x.minimum(o) }),
        Some(d) => {
            let (d, k) = (d.i64()?, keepdim(c, 1)?);
            let (v, i) = if max { x.max_dim(d, k) } else { x.min_dim(d, k) };
            Ok(vec![v, i])
        }
    }
}

fn var_std(c: &Call, x: &Tensor) -> R<Vec<Tensor>> {
    c.only(3, &["dim", "unbiased", "correction", "keepdim"])?;
    // Positional forms: (unbiased) or (dim, unbiased, keepdim).
    let (d, correction, k) = match c.args.first() {
        Some(Value::Bool(u)) => (None, if *u { 1.0 } else { 0.0 }, false),
        _ => {
            let unbiased = c.param(1, "unbiased").map_or(Ok(true), |v| v.bool())?;
            let corr = match c.kwargs.get("correction") {
                None | Some(Value::None) => {
                    if unbiased {
                        1.0
                    } else {
                        0.0
                    }
                }
                Some(v) => v.f64()?,
            };
            (dims(c, 0)?, corr, keepdim(c, 2)?)
        }
    };
    let d = d.unwrap_or_default();
    let v = x.var(d.clone(), correction, k);
    Ok(match c.op {
        "var" => vec![v],
        "std" => vec![v.sqrt()],
        "var_mean" => vec![v, x.mean(d, k)],
        _ => vec![v.sqrt(), x.mean(d, k)],
    })
}

fn norm(c: &Call, x: &Tensor) -> R<Vec<Tensor>> {
    c.only(3, &["p", "dim", "keepdim", "dtype"])?;
    // The nuclear norm is a matrix norm: over `dim` (two dims), or the whole 2-d input.
    if let Some(Value::Str(s)) = c.param(0, "p") {
        if s == "nuc" {
            let d = dims(c, 1)?.unwrap_or_else(|| vec![0, 1]);
            let [a, b] = d[..] else { return unsupported(format!("nuclear norm over {} dims", d.len())) };
            let m = psionic_array::linalg::matrix_norm(&cast(c, x)?, MatrixOrd::Nuc, (a, b), keepdim(c, 2)?);
            return one(m);
        }
    }
    let p = match c.param(0, "p") {
        None | Some(Value::None) => NormOrd::Fro,
        Some(Value::Str(s)) if s == "fro" => NormOrd::Fro,
        Some(Value::Float(f)) if f.is_infinite() => {
            if *f > 0.0 {
                NormOrd::Inf
            } else {
                NormOrd::NegInf
            }
        }
        Some(v) => NormOrd::P(v.f64()?),
    };
    let d = dims(c, 1)?.unwrap_or_default();
    one(cast(c, x)?.norm(p, d, keepdim(c, 2)?))
}
