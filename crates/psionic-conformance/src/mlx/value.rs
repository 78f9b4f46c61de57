//! Values of the MLX case programs while they run on Psionic: arrays, Python values,
//! containers, and functions (what `mx.grad(f)` returns).

use crate::torch::{unsupported, R};
use psionic_array::{DType, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A function value; it may be called from inside Psionic's transforms, which need
/// `Send + Sync` closures.
pub type Func = Arc<dyn Fn(&[Val]) -> R<Val> + Send + Sync>;

#[derive(Clone)]
pub enum Val {
    T(Tensor),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
    DType(DType),
    List(Vec<Val>),
    Dict(BTreeMap<String, Val>),
    /// `start:stop:step` inside an index.
    Slice([Option<i64>; 3]),
    Ellipsis,
    Fn(Func),
}

impl Val {
    pub fn tensor(&self) -> R<&Tensor> {
        match self {
            Val::T(t) => Ok(t),
            _ => unsupported("expected an array"),
        }
    }

    /// An array, or a Python scalar made into one as MLX does (int32, float32, bool).
    pub fn array(&self) -> R<Tensor> {
        Ok(match self {
            Val::T(t) => t.clone(),
            Val::Int(i) => Tensor::scalar(*i as f64).to_dtype(DType::I32),
            Val::Float(f) => Tensor::scalar(*f).to_dtype(DType::F32),
            Val::Bool(b) => Tensor::scalar(*b as i64 as f64).to_dtype(DType::Bool),
            Val::List(_) => from_nested(self, None)?,
            _ => return unsupported("expected an array or a number"),
        })
    }

    /// An operand of a binary op: arrays stay arrays, Python numbers stay weak scalars
    /// (MLX, like PyTorch, lets them take the array's dtype).
    pub fn operand(&self) -> R<psionic_array::Arg> {
        Ok(match self {
            Val::T(t) => t.into(),
            Val::Int(i) => (*i).into(),
            Val::Float(f) => (*f).into(),
            Val::Bool(b) => (*b).into(),
            _ => return unsupported("expected an array or a number"),
        })
    }

    pub fn f64(&self) -> R<f64> {
        match self {
            Val::Int(i) => Ok(*i as f64),
            Val::Float(f) => Ok(*f),
            Val::Bool(b) => Ok(*b as i64 as f64),
            Val::T(t) if t.numel() == 1 => Ok(t.to_dtype(DType::F64).item::<f64>()),
            _ => unsupported("expected a number"),
        }
    }

    pub fn i64(&self) -> R<i64> {
        match self {
            Val::Int(i) => Ok(*i),
            Val::Bool(b) => Ok(*b as i64),
            _ => unsupported("expected an integer"),
        }
    }

    pub fn bool(&self) -> R<bool> {
        match self {
            Val::Bool(b) => Ok(*b),
            _ => unsupported("expected a bool"),
        }
    }

    /// A shape (or repetition counts): an int or a list of non-negative ints.
    pub fn usizes(&self) -> R<Vec<usize>> {
        self.ints()?.into_iter().map(|d| usize::try_from(d).map_or_else(|_| unsupported("negative size"), Ok)).collect()
    }

    /// An int or a list of ints (axes, shapes).
    pub fn ints(&self) -> R<Vec<i64>> {
        match self {
            Val::Int(i) => Ok(vec![*i]),
            Val::List(v) => v.iter().map(Val::i64).collect(),
            _ => unsupported("expected ints"),
        }
    }

    pub fn list(&self) -> R<&[Val]> {
        match self {
            Val::List(v) => Ok(v),
            _ => unsupported("expected a list"),
        }
    }

    pub fn func(&self) -> R<&Func> {
        match self {
            Val::Fn(f) => Ok(f),
            _ => unsupported("expected a function"),
        }
    }

    /// The arrays of a result, flattened as the oracle flattens them (lists in order,
    /// dicts by sorted key); Python numbers become MLX-typed 0-d arrays.
    pub fn flatten(&self, out: &mut Vec<Tensor>) -> R<()> {
        match self {
            Val::List(v) => v.iter().try_for_each(|x| x.flatten(out)),
            Val::Dict(m) => m.values().try_for_each(|x| x.flatten(out)),
            other => {
                out.push(other.array()?);
                Ok(())
            }
        }
    }
}

/// Tensors as a list value, or the one tensor itself when `single`.
pub fn pack(ts: Vec<Tensor>, single: bool) -> Val {
    if single && ts.len() == 1 {
        Val::T(ts.into_iter().next().unwrap())
    } else {
        Val::List(ts.into_iter().map(Val::T).collect())
    }
}

/// Call arguments as arrays (Python numbers made into arrays as MLX does).
pub fn arrays(args: &[Val]) -> R<Vec<Tensor>> {
    args.iter().map(Val::array).collect()
}

/// The arrays of `v` (one array, or a list of them).
pub fn tensors(v: &Val) -> R<Vec<Tensor>> {
    match v {
        Val::T(t) => Ok(vec![t.clone()]),
        Val::List(xs) => xs.iter().map(|x| x.tensor().cloned()).collect(),
        _ => unsupported("expected arrays"),
    }
}

/// `mx.array(nested list)`: MLX infers bool when every leaf is a bool, float32 when any
/// is a float, int32 otherwise; ragged lists are refused by MLX and here.
pub fn from_nested(v: &Val, dtype: Option<DType>) -> R<Tensor> {
    fn walk(v: &Val, depth: usize, shape: &mut Vec<usize>, leaves: &mut Vec<Val>) -> R<()> {
        match v {
            Val::List(xs) => {
                if shape.len() == depth {
                    shape.push(xs.len());
                } else if shape.get(depth) != Some(&xs.len()) {
                    ragged()
                }
                xs.iter().try_for_each(|x| walk(x, depth + 1, shape, leaves))
            }
            Val::T(t) if t.dim() == 0 => {
                leaves.push(Val::Float(t.to_dtype(DType::F64).item::<f64>()));
                Ok(())
            }
            Val::Int(_) | Val::Float(_) | Val::Bool(_) => {
                if shape.len() > depth {
                    ragged()
                }
                leaves.push(v.clone());
                Ok(())
            }
            _ => unsupported("array from this value"),
        }
    }
    let (mut shape, mut leaves) = (vec![], vec![]);
    walk(v, 0, &mut shape, &mut leaves)?;
    if leaves.len() != shape.iter().product::<usize>() {
        ragged()
    }
    let inferred = if leaves.iter().any(|l| matches!(l, Val::Float(_))) {
        DType::F32
    } else if !leaves.is_empty() && leaves.iter().all(|l| matches!(l, Val::Bool(_))) {
        DType::Bool
    } else {
        DType::I32
    };
    let vals = leaves.iter().map(Val::f64).collect::<R<Vec<f64>>>()?;
    Ok(Tensor::from_vec(vals, &shape).to_dtype(dtype.unwrap_or(inferred)))
}

/// Psionic's typed refusal of a ragged nested list (which MLX refuses too).
fn ragged() -> ! {
    psionic_array::mode::raise(psionic_array::Error::shape("array", "Initialization encountered non-uniform length."))
}

/// An mx dtype name.
pub fn dtype_from_mlx(name: &str) -> R<DType> {
    crate::value::dtype_from_torch(name).map_or_else(|_| unsupported(format!("dtype {name}")), Ok)
}
