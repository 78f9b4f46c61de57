//! Factory functions (`arange`, `full`, `eye`, `linspace`, ...) and the `*_like` forms.
//! `device="cpu"` is the only device the fixtures name; `requires_grad=False` is the
//! factories' default.

use super::{unsupported, Call, R};
use crate::value::Value;
use psionic_array::{DType, Scalar, Tensor};

/// The `dtype=` keyword (`None`: the default float dtype, as for torch's factories).
fn dtype(c: &Call) -> R<Option<DType>> {
    match c.kwargs.get("dtype") {
        None | Some(Value::None) => Ok(None),
        Some(Value::DType(d)) => Ok(Some(*d)),
        Some(_) => unsupported("dtype keyword"),
    }
}

/// A Python number, or a 0-d tensor standing for one (the `tensor_overload` variants).
fn number(v: &Value) -> R<Scalar> {
    Ok(match v {
        Value::Int(i) => Scalar::from(*i),
        Value::Float(f) => Scalar::from(*f),
        Value::Bool(b) => Scalar::from(*b),
        Value::Tensor(t) if t.numel() == 1 => match t.dtype() {
            d if d.is_float() => Scalar::from(t.to_dtype(DType::F64).item::<f64>()),
            _ => Scalar::from(t.to_dtype(DType::I64).item::<i64>()),
        },
        _ => return unsupported("expected a number"),
    })
}

fn shape(v: &Value) -> R<Vec<usize>> {
    v.ints()?.into_iter().map(|d| usize::try_from(d).map_or_else(|_| unsupported("negative size"), Ok)).collect()
}

fn count(v: &Value) -> R<usize> {
    usize::try_from(v.i64()?).map_or_else(|_| unsupported("negative count"), Ok)
}

/// Positional argument `i` or keyword `name`, which the call must have.
fn required<'a>(c: &'a Call, i: usize, name: &str) -> R<&'a Value> {
    c.param(i, name).map_or_else(|| unsupported(format!("no {name}")), Ok)
}

const FACTORY_KWARGS: &[&str] = &["device", "dtype", "requires_grad"];

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let one = |t: R<Tensor>| Some(t.map(|t| vec![t]));
    match c.op {
        "zeros" | "ones" => one(c.only(0, FACTORY_KWARGS).and_then(|_| {
            let (s, d) = (shape(c.input)?, dtype(c)?.unwrap_or(DType::default_float()));
            Ok(if c.op == "zeros" { Tensor::zeros(&s, d) } else { Tensor::ones(&s, d) })
        })),
        "full" => one(c.only(1, FACTORY_KWARGS).and_then(|_| {
            let v = number(required(c, 0, "fill_value")?)?;
            // Without a dtype, full infers it from the fill value (int64, bool or float).
            let d = dtype(c)?.unwrap_or(match v {
                Scalar::Bool(_) => DType::Bool,
                Scalar::Int(_) => DType::I64,
                _ => DType::default_float(),
            });
            Ok(Tensor::full(&shape(c.input)?, v, d))
        })),
        "zeros_like" | "ones_like" | "full_like" => one(c.only(1, &["device", "dtype"]).and_then(|_| {
            let x = c.x()?;
            let x = match dtype(c)? {
                Some(d) => x.to_dtype(d),
                None => x.clone(),
            };
            Ok(match c.op {
                "zeros_like" => x.zeros_like(),
                "ones_like" => x.ones_like(),
                _ => x.full_like(number(required(c, 0, "fill_value")?)?),
            })
        })),
        "arange" => one(c.only(2, FACTORY_KWARGS).and_then(|_| {
            let mut ends: Vec<Scalar> = vec![number(c.input)?];
            for a in c.args {
                ends.push(number(a)?);
            }
            let (s, e, st) = match ends[..] {
                [e] => (Scalar::from(0i64), e, Scalar::from(1i64)),
                [s, e] => (s, e, Scalar::from(1i64)),
                [s, e, st] => (s, e, st),
                _ => return unsupported("arange arguments"),
            };
            Ok(match dtype(c)? {
                Some(d) => Tensor::arange_dtype(s, e, st, d),
                None => Tensor::arange(s, e, st),
            })
        })),
        "linspace" | "logspace" => one(c.only(3, FACTORY_KWARGS).and_then(|_| {
            let start = number(c.input)?.to_f64();
            let end = number(required(c, 0, "end")?)?.to_f64();
            let steps = count(required(c, 1, "steps")?)?;
            let d = dtype(c)?.unwrap_or(DType::default_float());
            Ok(if c.op == "linspace" {
                Tensor::linspace(start, end, steps, d)
            } else {
                let base = c.param(2, "base").map_or(Ok(10.0), |b| b.f64())?;
                Tensor::logspace(start, end, steps, base, d)
            })
        })),
        "eye" => one(c.only(1, FACTORY_KWARGS).and_then(|_| {
            let m = match c.param(0, "m") {
                None | Some(Value::None) => None,
                Some(v) => Some(count(v)?),
            };
            Ok(Tensor::eye(count(c.input)?, m, dtype(c)?.unwrap_or(DType::default_float())))
        })),
        _ => None,
    }
}
