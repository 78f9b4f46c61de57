//! Conversions, the `*_copy` forms of views, arrangement helpers, and small
//! `nn.functional` composites (activations, regression losses, attention).

use super::shape::list;
use super::{one, unsupported, Call, R, TABLES};
use crate::value::Value;
use psionic_array::ops::arrange::Cut;
use psionic_array::ops::loss::Reduction;
use psionic_array::Tensor;
use psionic_core::DType;

fn conversion(op: &str) -> Option<DType> {
    Some(match op {
        "bfloat16" => DType::BF16,
        "bool" => DType::Bool,
        "byte" => DType::U8,
        "char" => DType::I8,
        "double" => DType::F64,
        "float" => DType::F32,
        "half" => DType::F16,
        "int" => DType::I32,
        "long" => DType::I64,
        "short" => DType::I16,
        _ => return None,
    })
}

fn reduction(c: &Call, i: usize) -> R<Reduction> {
    match c.param(i, "reduction") {
        None => Ok(Reduction::Mean),
        Some(Value::Str(s)) => Reduction::from_name(s).map_or_else(|| unsupported(format!("reduction {s}")), Ok),
        Some(_) => unsupported("reduction form"),
    }
}

/// A split count, or the indices to split before.
fn cut(v: Option<&Value>) -> R<Result<usize, Vec<i64>>> {
    match v {
        Some(Value::Int(n)) if *n > 0 => Ok(Ok(*n as usize)),
        Some(Value::List(v)) => Ok(Err(Value::List(v.clone()).ints()?)),
        _ => unsupported("split form"),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    if let Some(dt) = conversion(c.op) {
        // `memory_format` changes strides only; values are compared.
        return Some(c.x().and_then(|x| c.only(0, &["memory_format"]).and_then(|_| one(x.to_dtype(dt)))));
    }
    if let Some(base) = c.op.strip_suffix("_copy") {
        // A view's `_copy` form: the view, materialised.
        let base = if base == "alias" { "clone" } else { base };
        let inner = Call { op: base, ..*c };
        let r = TABLES.iter().find_map(|t| t(&inner))?;
        return Some(r.map(|outs| outs.iter().map(Tensor::contiguous).collect()));
    }
    match c.op {
        "atleast_1d" | "atleast_2d" | "atleast_3d" if matches!(c.input, Value::List(_)) => {
            return Some(c.only(0, &[]).and_then(|_| {
                let f = match c.op {
                    "atleast_1d" => Tensor::atleast_1d,
                    "atleast_2d" => Tensor::atleast_2d,
                    _ => Tensor::atleast_3d,
                };
                Ok(list(c.input)?.into_iter().map(f).collect())
            }))
        }
        "column_stack" | "dstack" => {
            return Some(c.only(0, &[]).and_then(|_| {
                let t = list(c.input)?;
                one(if c.op == "dstack" { Tensor::dstack(&t) } else { Tensor::column_stack(&t) })
            }))
        }
        _ => {}
    }
    let x = c.x().ok()?;
    let other = || c.tensor(0, "other");
    Some(match c.op {
        "ravel" => c.only(0, &[]).and_then(|_| one(x.ravel())),
        "reshape_as" | "view_as" => c.only(1, &["other"]).and_then(|_| {
            let o = other()?;
            one(if c.op == "view_as" { x.view_as(o) } else { x.reshape_as(o) })
        }),
        "fliplr" => c.only(0, &[]).and_then(|_| one(x.fliplr())),
        "flipud" => c.only(0, &[]).and_then(|_| one(x.flipud())),
        "rot90" => c.only(2, &["k", "dims"]).and_then(|_| {
            let k = c.param(0, "k").map_or(Ok(1), Value::i64)?;
            let dims = c.param(1, "dims").map_or(Ok(vec![0, 1]), Value::ints)?;
            match dims[..] {
                [a, b] => one(x.rot90(k, [a, b])),
                _ => unsupported("rot90 dims"),
            }
        }),
        "atleast_1d" => c.only(0, &[]).and_then(|_| one(x.atleast_1d())),
        "atleast_2d" => c.only(0, &[]).and_then(|_| one(x.atleast_2d())),
        "atleast_3d" => c.only(0, &[]).and_then(|_| one(x.atleast_3d())),
        "hsplit" | "vsplit" | "dsplit" => c.only(1, &["indices_or_sections", "sections", "indices"]).and_then(|_| {
            let how = cut(c.param(0, "indices_or_sections").or(c.kwargs.get("sections")).or(c.kwargs.get("indices")))?;
            let how = match &how {
                Ok(n) => Cut::Sections(*n),
                Err(ix) => Cut::Indices(ix),
            };
            Ok(match c.op {
                "hsplit" => x.hsplit(how),
                "vsplit" => x.vsplit(how),
                _ => x.dsplit(how),
            })
        }),
        "rsub" => c.only(2, &["other", "alpha"]).and_then(|_| {
            let alpha = c.param(1, "alpha").map_or(Ok(1.0), Value::f64)?;
            one(x.rsub(c.param(0, "other").map_or_else(|| unsupported("other"), Value::arg)?, alpha))
        }),
        "sgn" => c.only(0, &[]).and_then(|_| one(x.sgn())),
        "logaddexp2" => c.only(1, &["other"]).and_then(|_| one(x.logaddexp2(other()?))),
        "heaviside" => c.only(1, &["values"]).and_then(|_| one(x.heaviside(c.tensor(0, "values")?))),
        "ldexp" => c.only(1, &["other"]).and_then(|_| one(x.ldexp(other()?))),
        "nn.functional.softmin" => c.only(1, &["dim", "dtype"]).and_then(|_| match c.param(0, "dim") {
            Some(v) => one(super::reductions::cast(c, x)?.softmin(v.i64()?)),
            None => unsupported("implicit softmin dim"),
        }),
        "nn.functional.glu" => {
            c.only(1, &["dim"]).and_then(|_| one(x.glu(c.param(0, "dim").map_or(Ok(-1), Value::i64)?)))
        }
        "nn.functional.threshold" => c.only(3, &["threshold", "value", "inplace"]).and_then(|_| {
            if c.param(2, "inplace").is_some_and(|v| matches!(v, Value::Bool(true))) {
                return unsupported("inplace threshold");
            }
            let t = c.param(0, "threshold").map_or_else(|| unsupported("threshold"), Value::f64)?;
            let v = c.param(1, "value").map_or_else(|| unsupported("value"), Value::f64)?;
            one(x.threshold(t, v))
        }),
        "nn.functional.linear" => {
            c.only(2, &["weight", "bias"]).and_then(|_| one(x.linear(c.tensor(0, "weight")?, c.opt_tensor(1, "bias")?)))
        }
        "nn.functional.mse_loss" | "nn.functional.l1_loss" => c.only(2, &["target", "reduction"]).and_then(|_| {
            let (t, r) = (c.tensor(0, "target")?, reduction(c, 1)?);
            one(if c.op.ends_with("mse_loss") { x.mse_loss(t, r) } else { x.l1_loss(t, r) })
        }),
        "nn.functional.smooth_l1_loss" => c.only(3, &["target", "reduction", "beta"]).and_then(|_| {
            let beta = c.param(2, "beta").map_or(Ok(1.0), Value::f64)?;
            one(x.smooth_l1_loss(c.tensor(0, "target")?, reduction(c, 1)?, beta))
        }),
        "nn.functional.scaled_dot_product_attention" => {
            let known = ["key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"];
            c.only(7, &known).and_then(|_| {
                let dropout_p = c.param(3, "dropout_p").map_or(Ok(0.0), Value::f64)?;
                if dropout_p > 0.0 {
                    // Its values are draws of the generator at the call.
                    return unsupported("random dropout inside attention");
                }
                let o = psionic_nn::functional::Sdpa {
                    attn_mask: c.opt_tensor(2, "attn_mask")?,
                    dropout_p,
                    is_causal: c.flag(4, "is_causal", false)?,
                    scale: c.opt_f64(5, "scale")?,
                    enable_gqa: c.flag(6, "enable_gqa", false)?,
                    generator: None,
                };
                one(psionic_nn::functional::scaled_dot_product_attention(
                    x,
                    c.tensor(0, "key")?,
                    c.tensor(1, "value")?,
                    &o,
                ))
            })
        }
        "nn.functional.huber_loss" => c.only(3, &["target", "reduction", "delta"]).and_then(|_| {
            let delta = c.param(2, "delta").map_or(Ok(1.0), Value::f64)?;
            one(x.huber_loss(c.tensor(0, "target")?, reduction(c, 1)?, delta))
        }),
        _ => return None,
    })
}
