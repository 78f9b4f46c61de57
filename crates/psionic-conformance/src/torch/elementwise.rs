//! Elementwise ops (the tensor_core family) and `torch.nn.functional` activations.

use super::{unsupported, Call, R};
use crate::value::Value;
use psionic_array::{Arg, Tensor};

type Unary = fn(&Tensor) -> Tensor;
type Binary = fn(&Tensor, Arg) -> Tensor;

macro_rules! unary {
    ($($name:literal => $m:ident),* $(,)?) => {
        &[$(($name, |x: &Tensor| x.$m())),*]
    };
}

macro_rules! binary {
    ($($name:literal => $m:ident),* $(,)?) => {
        &[$(($name, |x: &Tensor, o: Arg| x.$m(o))),*]
    };
}

/// Ops that take only the input.
const UNARY: &[(&str, Unary)] = unary! {
    "neg" => neg, "abs" => abs, "sign" => sign, "sqrt" => sqrt, "rsqrt" => rsqrt, "square" => square,
    "reciprocal" => reciprocal, "exp" => exp, "exp2" => exp2, "expm1" => expm1, "log" => log, "log2" => log2,
    "log10" => log10, "log1p" => log1p, "sin" => sin, "cos" => cos, "tan" => tan, "asin" => asin, "acos" => acos,
    "atan" => atan, "sinh" => sinh, "cosh" => cosh, "tanh" => tanh, "asinh" => asinh, "acosh" => acosh,
    "atanh" => atanh, "erf" => erf, "erfc" => erfc, "erfinv" => erfinv, "sigmoid" => sigmoid, "floor" => floor,
    "ceil" => ceil, "trunc" => trunc, "frac" => frac, "isnan" => isnan, "isinf" => isinf, "isposinf" => isposinf,
    "isneginf" => isneginf, "isfinite" => isfinite, "logical_not" => logical_not, "bitwise_not" => bitwise_not,
    "nn.functional.relu" => relu, "nn.functional.relu6" => relu6, "nn.functional.silu" => silu,
    "nn.functional.mish" => mish, "nn.functional.selu" => selu, "nn.functional.hardsigmoid" => hardsigmoid,
    "nn.functional.hardswish" => hardswish, "clone" => deep_clone, "contiguous" => contiguous,
    "positive" => positive, "deg2rad" => deg2rad, "rad2deg" => rad2deg, "sinc" => sinc, "signbit" => signbit,
    "nn.functional.logsigmoid" => logsigmoid, "nn.functional.softsign" => softsign,
    "nn.functional.tanhshrink" => tanhshrink,
};

/// Ops of the input and one other tensor or number.
const BINARY: &[(&str, Binary)] = binary! {
    "mul" => mul, "floor_divide" => floor_divide, "remainder" => remainder, "fmod" => fmod, "pow" => pow,
    "atan2" => atan2, "maximum" => maximum, "minimum" => minimum, "fmax" => fmax, "fmin" => fmin,
    "hypot" => hypot, "copysign" => copysign, "logaddexp" => logaddexp, "xlogy" => xlogy,
    "logical_and" => logical_and, "logical_or" => logical_or, "logical_xor" => logical_xor,
    "bitwise_and" => bitwise_and, "bitwise_or" => bitwise_or, "bitwise_xor" => bitwise_xor,
    "bitwise_left_shift" => bitwise_left_shift, "bitwise_right_shift" => bitwise_right_shift,
    "eq" => eq, "ne" => ne, "lt" => lt, "le" => le, "gt" => gt, "ge" => ge, "true_divide" => div,
    "float_power" => float_power,
};

fn f(c: &Call, i: usize, name: &str, default: f64) -> R<f64> {
    c.param(i, name).map_or(Ok(default), |v| v.f64())
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    if let Some((_, op)) = UNARY.iter().find(|(n, _)| *n == c.op) {
        // `inplace=False` is the functional default; anything else is not this call.
        return Some(c.only(0, &["inplace"]).and_then(|_| Ok(vec![op(c.x()?)])));
    }
    if let Some((_, op)) = BINARY.iter().find(|(n, _)| *n == c.op) {
        return Some(c.only(1, &[]).and_then(|_| {
            let other = c.param(0, "other").map_or_else(|| unsupported("no other operand"), |v| v.arg())?;
            Ok(vec![op(c.x()?, other)])
        }));
    }
    let x = match c.x() {
        Ok(x) => x,
        Err(_) => return None,
    };
    let r = |v: R<Tensor>| Some(v.map(|t| vec![t]));
    match c.op {
        "add" | "sub" => r(c.only(1, &["alpha"]).and_then(|_| {
            let other = c.param(0, "other").map_or_else(|| unsupported("no other operand"), |v| v.arg())?;
            // alpha keeps its Python type: an int alpha leaves integer tensors integer.
            let alpha = match c.kwargs.get("alpha") {
                None => None,
                Some(Value::Int(i)) => Some(psionic_core::Scalar::from(*i)),
                Some(v) => Some(psionic_core::Scalar::from(v.f64()?)),
            };
            Ok(match (c.op, alpha) {
                ("add", None) => x.add(other),
                (_, None) => x.sub(other),
                ("add", Some(a)) => x.add_alpha(other, a),
                (_, Some(a)) => x.sub_alpha(other, a),
            })
        })),
        "div" => r(c.only(1, &["rounding_mode"]).and_then(|_| {
            let other = c.param(0, "other").map_or_else(|| unsupported("no other operand"), |v| v.arg())?;
            let mode = match c.kwargs.get("rounding_mode") {
                Some(Value::Str(s)) => Some(s.as_str()),
                _ => None,
            };
            Ok(x.div_mode(other, mode))
        })),
        "round" => r(c.only(0, &["decimals"]).and_then(|_| {
            Ok(match c.kwargs.get("decimals") {
                Some(d) => x.round_decimals(d.i64()?),
                None => x.round(),
            })
        })),
        "logit" => r(c.only(1, &["eps"]).and_then(|_| {
            Ok(x.logit(match c.param(0, "eps") {
                Some(Value::None) | None => None,
                Some(v) => Some(v.f64()?),
            }))
        })),
        "nan_to_num" => r(c.only(0, &["nan", "posinf", "neginf"]).and_then(|_| {
            let opt = |k: &str| -> R<Option<f64>> {
                match c.kwargs.get(k) {
                    Some(Value::None) | None => Ok(None),
                    Some(v) => v.f64().map(Some),
                }
            };
            Ok(x.nan_to_num(opt("nan")?.unwrap_or(0.0), opt("posinf")?, opt("neginf")?))
        })),
        "nn.functional.gelu" => r(c.only(0, &["approximate"]).map(|_| {
            x.gelu(match c.kwargs.get("approximate") {
                Some(Value::Str(s)) => s.as_str(),
                _ => "none",
            })
        })),
        "nn.functional.elu" => r(c.only(1, &["alpha", "inplace"]).and_then(|_| Ok(x.elu(f(c, 0, "alpha", 1.0)?)))),
        "nn.functional.celu" => r(c.only(1, &["alpha", "inplace"]).and_then(|_| Ok(x.celu(f(c, 0, "alpha", 1.0)?)))),
        "nn.functional.leaky_relu" => r(c
            .only(1, &["negative_slope", "inplace"])
            .and_then(|_| Ok(x.leaky_relu(f(c, 0, "negative_slope", 0.01)?)))),
        "nn.functional.softplus" => r(c
            .only(2, &["beta", "threshold"])
            .and_then(|_| Ok(x.softplus(f(c, 0, "beta", 1.0)?, f(c, 1, "threshold", 20.0)?)))),
        "nn.functional.hardtanh" => r(c
            .only(2, &["min_val", "max_val", "inplace"])
            .and_then(|_| Ok(x.hardtanh(f(c, 0, "min_val", -1.0)?, f(c, 1, "max_val", 1.0)?)))),
        "nn.functional.hardshrink" => r(c.only(1, &["lambd"]).and_then(|_| Ok(x.hardshrink(f(c, 0, "lambd", 0.5)?)))),
        "nn.functional.softshrink" => r(c.only(1, &["lambd"]).and_then(|_| Ok(x.softshrink(f(c, 0, "lambd", 0.5)?)))),
        "clamp" | "clamp_min" | "clamp_max" => r(clamp(c, x)),
        // OpInfo's where is `lambda self, condition, other: torch.where(condition, self, other)`.
        "where" => r(c.only(2, &[]).and_then(|_| {
            let cond = c.args.first().and_then(Value::as_tensor).map_or_else(|| unsupported("tensor condition"), Ok)?;
            Ok(Tensor::where_(cond, x, operand(c, 1, "other")?))
        })),
        "isclose" | "allclose" => {
            let other = c.args.first().and_then(Value::as_tensor)?;
            let go = || -> R<Vec<Tensor>> {
                c.only(4, &["rtol", "atol", "equal_nan"])?;
                let (rt, at) = (f(c, 1, "rtol", 1e-5)?, f(c, 2, "atol", 1e-8)?);
                let nan = c.param(3, "equal_nan").map_or(Ok(false), |v| v.bool())?;
                Ok(vec![if c.op == "isclose" {
                    x.isclose(other, rt, at, nan)
                } else {
                    Tensor::scalar(x.allclose(other, rt, at, nan) as i64 as f64).to_dtype(psionic_core::DType::Bool)
                }])
            };
            Some(go())
        }
        "equal" => {
            let other = c.args.first().and_then(Value::as_tensor)?;
            Some(
                c.only(1, &[])
                    .map(|_| vec![Tensor::scalar(x.equal(other) as i64 as f64).to_dtype(psionic_core::DType::Bool)]),
            )
        }
        "lerp" => r(c.only(2, &[]).and_then(|_| Ok(x.lerp(operand(c, 0, "end")?, operand(c, 1, "weight")?)))),
        "addcmul" | "addcdiv" => r(c.only(2, &["value"]).and_then(|_| {
            let t =
                |i: usize| c.args.get(i).and_then(Value::as_tensor).map_or_else(|| unsupported("tensor operand"), Ok);
            let value = match c.kwargs.get("value") {
                None => psionic_core::Scalar::from(1i64),
                Some(Value::Int(i)) => psionic_core::Scalar::from(*i),
                Some(v) => psionic_core::Scalar::from(v.f64()?),
            };
            Ok(if c.op == "addcmul" { x.addcmul(t(0)?, t(1)?, value) } else { x.addcdiv(t(0)?, t(1)?, value) })
        })),
        _ => None,
    }
}

/// Positional argument `i` (or keyword `name`) as a tensor or number.
fn operand(c: &Call, i: usize, name: &str) -> R<Arg> {
    c.param(i, name).map_or_else(|| unsupported(format!("no {name} operand")), |v| v.arg())
}

fn clamp(c: &Call, x: &Tensor) -> R<Tensor> {
    c.only(2, &["min", "max"])?;
    let tensor = |v: Option<&Value>| matches!(v, Some(Value::Tensor(_)));
    let (lo, hi) = match c.op {
        "clamp_min" => (c.param(0, "min"), None),
        "clamp_max" => (None, c.param(0, "max")),
        _ => (c.param(0, "min"), c.param(1, "max")),
    };
    if tensor(lo) || tensor(hi) {
        return Ok(x.clamp_tensor(lo.and_then(Value::as_tensor), hi.and_then(Value::as_tensor)));
    }
    let bound = |v: Option<&crate::value::Value>| -> R<Option<f64>> {
        match v {
            None | Some(Value::None) => Ok(None),
            Some(Value::Tensor(_)) => unsupported("tensor bounds"),
            Some(v) => v.f64().map(Some),
        }
    };
    let (lo, hi) = match c.op {
        "clamp_min" => (bound(c.param(0, "min"))?, None),
        "clamp_max" => (None, bound(c.param(0, "max"))?),
        _ => (bound(c.param(0, "min"))?, bound(c.param(1, "max"))?),
    };
    Ok(x.clamp(lo, hi))
}
