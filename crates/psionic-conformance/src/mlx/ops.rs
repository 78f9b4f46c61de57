//! `mx.<op>` (and `mlx.nn` activations) mapped onto Psionic calls, with MLX's argument
//! conventions (`axis`/`keepdims`, `ddof`, `reverse`/`inclusive` scans, int32 default
//! integers) translated explicitly. Names not here are `unsupported`, never guessed.

use super::program::Call;
use super::value::{from_nested, pack, Val};
use crate::torch::{unsupported, R};
use psionic_array::autodiff::stop_gradient;
use psionic_array::{DType, Scalar, Tensor};

type Unary = fn(&Tensor) -> Tensor;

macro_rules! table {
    ($($name:literal => $f:expr),* $(,)?) => { &[$(($name, $f)),*] };
}

/// Elementwise ops of one array (and activations of `mlx.nn` that take only it).
const UNARY: &[(&str, Unary)] = table! {
    "abs" => Tensor::abs, "negative" => Tensor::neg, "sign" => Tensor::sign, "floor" => Tensor::floor,
    "ceil" => Tensor::ceil, "round" => Tensor::round, "trunc" => Tensor::trunc, "exp" => Tensor::exp,
    "expm1" => Tensor::expm1, "log" => Tensor::log, "log2" => Tensor::log2, "log10" => Tensor::log10,
    "log1p" => Tensor::log1p, "sin" => Tensor::sin, "cos" => Tensor::cos, "tan" => Tensor::tan,
    "arcsin" => Tensor::asin, "arccos" => Tensor::acos, "arctan" => Tensor::atan, "sinh" => Tensor::sinh,
    "cosh" => Tensor::cosh, "tanh" => Tensor::tanh, "arcsinh" => Tensor::asinh, "arccosh" => Tensor::acosh,
    "arctanh" => Tensor::atanh, "sigmoid" => Tensor::sigmoid, "erf" => Tensor::erf, "erfinv" => Tensor::erfinv,
    "sqrt" => Tensor::sqrt, "rsqrt" => Tensor::rsqrt, "square" => Tensor::square, "reciprocal" => Tensor::reciprocal,
    "degrees" => Tensor::rad2deg, "radians" => Tensor::deg2rad, "logical_not" => Tensor::logical_not,
    "isnan" => Tensor::isnan, "isinf" => Tensor::isinf, "isfinite" => Tensor::isfinite,
    "isposinf" => Tensor::isposinf, "isneginf" => Tensor::isneginf, "stop_gradient" => stop_gradient,
    "zeros_like" => Tensor::zeros_like, "ones_like" => Tensor::ones_like,
    "nn.relu" => Tensor::relu, "nn.relu6" => Tensor::relu6, "nn.selu" => Tensor::selu, "nn.silu" => Tensor::silu,
    "nn.mish" => Tensor::mish, "nn.log_sigmoid" => Tensor::logsigmoid, "nn.hardswish" => Tensor::hardswish,
    "nn.softsign" => Tensor::softsign, "nn.sigmoid" => Tensor::sigmoid, "nn.tanh" => Tensor::tanh,
    "nn.gelu" => |x| x.gelu("none"), "nn.gelu_approx" => |x| x.gelu("tanh"),
    "nn.softplus" => |x| x.softplus(1.0, 20.0),
};

type Binary = fn(&Tensor, psionic_array::Arg) -> Tensor;

const BINARY: &[(&str, Binary)] = table! {
    "add" => |a, b| a.add(b), "subtract" => |a, b| a.sub(b), "multiply" => |a, b| a.mul(b),
    "divide" => |a, b| a.div(b), "maximum" => |a, b| a.maximum(b), "minimum" => |a, b| a.minimum(b),
    "power" => |a, b| a.pow(b), "logaddexp" => |a, b| a.logaddexp(b), "arctan2" => |a, b| a.atan2(b),
    "remainder" => |a, b| a.remainder(b), "floor_divide" => |a, b| a.floor_divide(b),
    "equal" => |a, b| a.eq(b), "not_equal" => |a, b| a.ne(b), "less" => |a, b| a.lt(b),
    "less_equal" => |a, b| a.le(b), "greater" => |a, b| a.gt(b), "greater_equal" => |a, b| a.ge(b),
    "logical_and" => |a, b| a.logical_and(b), "logical_or" => |a, b| a.logical_or(b),
};

pub(super) fn t(v: Tensor) -> R<Val> {
    Ok(Val::T(v))
}

fn scalar(v: &Val) -> R<Scalar> {
    Ok(match v {
        Val::Int(i) => Scalar::from(*i),
        Val::Float(f) => Scalar::from(*f),
        Val::Bool(b) => Scalar::from(*b),
        _ => return unsupported("expected a number"),
    })
}

/// The dtype MLX gives a Python scalar (int32, float32, bool).
fn scalar_dtype(s: Scalar) -> DType {
    match s {
        Scalar::Bool(_) => DType::Bool,
        Scalar::Int(_) => DType::I32,
        Scalar::Float(_) => DType::F32,
    }
}

pub fn call(c: &Call) -> R<Val> {
    if let Some((_, f)) = UNARY.iter().find(|(n, _)| *n == c.name) {
        c.only(1, &[])?;
        return t(f(&c.x()?));
    }
    if let Some((_, f)) = BINARY.iter().find(|(n, _)| *n == c.name) {
        c.only(2, &[])?;
        let (a, b) = (c.arg(0, "a")?, c.arg(1, "b")?);
        // A Python number on the left: the array operand decides the dtype either way.
        return match (a, b) {
            (Val::T(_), _) => t(f(&a.array()?, b.operand()?)),
            (_, Val::T(bt)) => t(f(&bt.full_like(scalar(a)?), b.operand()?)),
            _ => t(f(&a.array()?, b.operand()?)),
        };
    }
    if let Some(r) = super::reduce::call(c) {
        return r;
    }
    if let Some(r) = super::shape::call(c) {
        return r;
    }
    if let Some(r) = super::select::call(c) {
        return r;
    }
    match c.name {
        "array" => {
            c.only(2, &["dtype"])?;
            let d = Call::dtype(c.get(1, "dtype"))?;
            let x = match c.arg(0, "a")? {
                Val::T(x) => x.deep_clone(),
                v => from_nested(v, d)?,
            };
            t(d.map_or(x.clone(), |d| x.to_dtype(d)))
        }
        "astype" => match c.arg(1, "dtype")? {
            Val::DType(d) => t(c.x()?.to_dtype(*d)),
            _ => unsupported("astype target"),
        },
        "where" => {
            c.only(3, &[])?;
            let cond = c.arg(0, "condition")?.array()?;
            let (a, b) = (c.arg(1, "x")?, c.arg(2, "y")?);
            t(Tensor::where_(&cond, a.operand()?, b.operand()?))
        }
        "clip" => {
            c.only(3, &[])?;
            let bound = |i: usize, n: &str| c.get(i, n).map(Val::f64).transpose();
            t(c.x()?.clamp(bound(1, "a_min")?, bound(2, "a_max")?))
        }
        "nan_to_num" => {
            c.only(1, &["nan", "posinf", "neginf"])?;
            let opt = |n: &str| c.kw.get(n).filter(|v| !matches!(v, Val::None)).map(Val::f64).transpose();
            t(c.x()?.nan_to_num(opt("nan")?.unwrap_or(0.0), opt("posinf")?, opt("neginf")?))
        }
        "isclose" | "allclose" => {
            c.only(2, &["rtol", "atol", "equal_nan"])?;
            let (a, b) = (c.x()?, c.arg(1, "b")?.array()?);
            let f = |n: &str, d: f64| c.kw.get(n).map_or(Ok(d), Val::f64);
            let (rt, at, nan) = (f("rtol", 1e-5)?, f("atol", 1e-8)?, Call::flag(c.kw("equal_nan"), false)?);
            t(if c.name == "isclose" { a.isclose(&b, rt, at, nan) } else { a.isclose(&b, rt, at, nan).all() })
        }
        "array_equal" => {
            c.only(2, &["equal_nan"])?;
            let (a, b) = (c.x()?, c.arg(1, "b")?.array()?);
            let same = a.shape() == b.shape() && {
                let (a, b) = (a.to_dtype(DType::F64), b.to_dtype(DType::F64));
                let eq = if Call::flag(c.kw("equal_nan"), false)? { a.isclose(&b, 0.0, 0.0, true) } else { a.eq(&b) };
                eq.all().item::<bool>()
            };
            t(Tensor::scalar(same as i64 as f64).to_dtype(DType::Bool))
        }
        "divmod" => {
            c.only(2, &[])?;
            let (a, b) = (c.x()?, c.arg(1, "b")?.operand()?);
            Ok(pack(vec![a.floor_divide(b.clone()), a.remainder(b)], false))
        }
        "matmul" => {
            c.only(2, &[])?;
            t(c.x()?.matmul(&c.arg(1, "b")?.array()?))
        }
        "addmm" => {
            c.only(3, &["alpha", "beta"])?;
            let f = |n: &str| c.kw.get(n).map_or(Ok(1.0), Val::f64);
            let (ci, a, b) = (c.x()?, c.arg(1, "a")?.array()?, c.arg(2, "b")?.array()?);
            t(ci.addmm(&a, &b, f("beta")?, f("alpha")?))
        }
        "outer" => t(c.x()?.outer(&c.arg(1, "b")?.array()?)),
        "inner" => t(c.x()?.tensordot(&c.arg(1, "b")?.array()?, &[-1], &[-1])),
        "kron" => t(c.x()?.kron(&c.arg(1, "b")?.array()?)),
        "tensordot" => {
            c.only(3, &["axes"])?;
            let (a, b) = (c.x()?, c.arg(1, "b")?.array()?);
            match c.get(2, "axes").unwrap_or(&Val::Int(2)) {
                Val::Int(n) => {
                    let ra = a.dim() as i64;
                    t(a.tensordot(&b, &(ra - n..ra).collect::<Vec<_>>(), &(0..*n).collect::<Vec<_>>()))
                }
                Val::List(v) if v.len() == 2 => t(a.tensordot(&b, &v[0].ints()?, &v[1].ints()?)),
                _ => unsupported("tensordot axes"),
            }
        }
        "einsum" => {
            let eq = match c.arg(0, "subscripts")? {
                Val::Str(s) => s.clone(),
                _ => return unsupported("einsum subscripts"),
            };
            let ops = c.args[1..].iter().map(Val::array).collect::<R<Vec<_>>>()?;
            t(Tensor::einsum(&eq, &ops.iter().collect::<Vec<_>>()))
        }
        "zeros" | "ones" => {
            c.only(2, &["dtype"])?;
            let (s, d) = (c.arg(0, "shape")?.usizes()?, Call::dtype(c.get(1, "dtype"))?.unwrap_or(DType::F32));
            t(if c.name == "zeros" { Tensor::zeros(&s, d) } else { Tensor::ones(&s, d) })
        }
        "full" => {
            c.only(3, &["dtype"])?;
            let (s, v) = (c.arg(0, "shape")?.usizes()?, c.arg(1, "vals")?);
            match v {
                Val::T(_) => unsupported("full with array values"),
                v => {
                    let v = scalar(v)?;
                    t(Tensor::full(&s, v, Call::dtype(c.get(2, "dtype"))?.unwrap_or(scalar_dtype(v))))
                }
            }
        }
        "arange" => {
            c.only(3, &["dtype", "start", "stop", "step"])?;
            let nums = c.args.iter().map(scalar).collect::<R<Vec<_>>>()?;
            let (s, e, st) = match nums[..] {
                [e] => (Scalar::from(0i64), e, Scalar::from(1i64)),
                [s, e] => (s, e, Scalar::from(1i64)),
                [s, e, st] => (s, e, st),
                _ => return unsupported("arange arguments"),
            };
            let float = nums.iter().any(|n| matches!(n, Scalar::Float(_)));
            let d = Call::dtype(c.kw("dtype"))?.unwrap_or(if float { DType::F32 } else { DType::I32 });
            // MLX returns an empty range where the step points away from the stop;
            // PyTorch (and Psionic's arange) refuse it.
            if (e.to_f64() - s.to_f64()) / st.to_f64() <= 0.0 {
                return t(Tensor::zeros(&[0], d));
            }
            t(Tensor::arange_dtype(s, e, st, d))
        }
        "linspace" => {
            c.only(3, &["dtype"])?;
            let (a, b) = (c.arg(0, "start")?.f64()?, c.arg(1, "stop")?.f64()?);
            let n = c.get(2, "num").map_or(Ok(50), Val::i64)?;
            t(Tensor::linspace(a, b, n.max(0) as usize, Call::dtype(c.kw("dtype"))?.unwrap_or(DType::F32)))
        }
        "eye" | "tri" => {
            c.only(3, &["k", "dtype"])?;
            let n = c.arg(0, "n")?.i64()? as usize;
            let m = c.get(1, "m").map_or(Ok(n as i64), Val::i64)? as usize;
            let k = c.get(2, "k").map_or(Ok(0), Val::i64)?;
            let ones = Tensor::ones(&[n, m], Call::dtype(c.kw("dtype"))?.unwrap_or(DType::F32));
            t(if c.name == "eye" { ones.tril(k).triu(k) } else { ones.tril(k) })
        }
        "identity" => {
            t(Tensor::eye(c.arg(0, "n")?.i64()? as usize, None, Call::dtype(c.get(1, "dtype"))?.unwrap_or(DType::F32)))
        }
        "nn.leaky_relu" => t(c.x()?.leaky_relu(c.kw.get("negative_slope").map_or(Ok(0.01), Val::f64)?)),
        "nn.elu" => t(c.x()?.elu(c.kw.get("alpha").map_or(Ok(1.0), Val::f64)?)),
        "nn.celu" => t(c.x()?.celu(c.kw.get("alpha").map_or(Ok(1.0), Val::f64)?)),
        "nn.hard_tanh" => {
            let f = |n: &str, d: f64| c.kw.get(n).map_or(Ok(d), Val::f64);
            t(c.x()?.hardtanh(f("min_val", -1.0)?, f("max_val", 1.0)?))
        }
        "nn.hard_shrink" => t(c.x()?.hardshrink(c.kw.get("lambd").map_or(Ok(0.5), Val::f64)?)),
        "nn.softmin" => t(c.x()?.neg().softmax(c.kw.get("axis").map_or(Ok(-1), Val::i64)?)),
        "nn.log_softmax" => t(c.x()?.log_softmax(c.kw.get("axis").map_or(Ok(-1), Val::i64)?)),
        n if n.starts_with("nn.losses.") => super::train::loss(c),
        "optimizers.apply_gradients" => super::train::apply_gradients(c),
        n if n.starts_with("distributed.") => unsupported(format!("{n}: Psionic has no distributed backend yet")),
        "load" => load(c),
        "quantize" | "dequantize" => unsupported(format!("{}: Psionic has no quantization yet", c.name)),
        other => unsupported(format!("no mapping for mx.{other}")),
    }
}

/// `mx.load` of a file's bytes (a uint8 array) in the named format: one array for
/// `.npy`, a dict of arrays otherwise. A file Psionic cannot read is refused.
fn load(c: &Call) -> R<Val> {
    c.only(2, &[])?;
    let bytes = c.arg(0, "file")?.tensor()?.to_vec::<u8>();
    let format = match c.arg(1, "format")? {
        Val::Str(f) => psionic_io::Format::of_extension(f),
        _ => None,
    };
    let Some(format) = format else { return unsupported("load: format argument") };
    let loaded = psionic_io::read(&bytes, format);
    let loaded =
        loaded.unwrap_or_else(|e| psionic_array::mode::raise(psionic_core::Error::invalid("load", e.to_string())));
    Ok(match loaded {
        psionic_io::Loaded::Array(t) => Val::T(t),
        psionic_io::Loaded::Named(v) => Val::Dict(v.into_iter().map(|(k, t)| (k, Val::T(t))).collect()),
    })
}
