//! PyTorch OpInfo names mapped onto Psionic calls. Each family file is a table from the
//! op name to a function of the decoded call; a name that is not in any table, or a call
//! with arguments the mapping does not understand, is `Unsupported` (never guessed).

mod conv;
mod creation;
mod decomp;
mod elementwise;
mod extra;
mod indexing;
mod linalg;
pub mod modules;
mod reductions;
mod resample;
mod shape;
mod special;
pub mod wrappers;

use crate::value::Value;
use psionic_array::Tensor;
use std::collections::BTreeMap;

/// Why a case produced no result to compare.
pub enum Miss {
    Unsupported(String),
}

pub type R<T> = Result<T, Miss>;

pub fn unsupported<T>(why: impl Into<String>) -> R<T> {
    Err(Miss::Unsupported(why.into()))
}

/// A call's single output.
pub fn one(t: Tensor) -> R<Vec<Tensor>> {
    Ok(vec![t])
}

/// One OpInfo call: `op(input, *args, **kwargs)`.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub op: &'a str,
    pub variant: &'a str,
    pub input: &'a Value,
    pub args: &'a [Value],
    pub kwargs: &'a BTreeMap<String, Value>,
}

impl Call<'_> {
    pub fn x(&self) -> R<&Tensor> {
        self.input.as_tensor().map_or_else(|| unsupported("input is not a tensor"), Ok)
    }

    /// Positional argument `i` or keyword `name`.
    pub fn param(&self, i: usize, name: &str) -> Option<&Value> {
        self.args.get(i).or_else(|| self.kwargs.get(name))
    }

    /// A bool argument; `default` when absent or `None`.
    pub fn flag(&self, i: usize, name: &str, default: bool) -> R<bool> {
        match self.param(i, name) {
            None | Some(Value::None) => Ok(default),
            Some(v) => v.bool(),
        }
    }

    /// A keyword-only bool argument; `default` when absent or `None`.
    pub fn kw_flag(&self, name: &str, default: bool) -> R<bool> {
        match self.kwargs.get(name) {
            None | Some(Value::None) => Ok(default),
            Some(v) => v.bool(),
        }
    }

    /// A number argument that may be absent or `None`.
    pub fn opt_f64(&self, i: usize, name: &str) -> R<Option<f64>> {
        match self.param(i, name) {
            None | Some(Value::None) => Ok(None),
            Some(v) => v.f64().map(Some),
        }
    }

    /// A tensor argument that must be there.
    pub fn tensor(&self, i: usize, name: &str) -> R<&Tensor> {
        self.param(i, name).and_then(Value::as_tensor).map_or_else(|| unsupported(format!("no tensor {name}")), Ok)
    }

    /// A tensor argument that may be absent or `None`.
    pub fn opt_tensor(&self, i: usize, name: &str) -> R<Option<&Tensor>> {
        match self.param(i, name) {
            None | Some(Value::None) => Ok(None),
            Some(Value::Tensor(t)) => Ok(Some(t)),
            Some(_) => unsupported(format!("{name} is not a tensor")),
        }
    }

    /// Refuses calls with more than `n` positional arguments or other keywords than
    /// `known`: the mapping must understand every argument it is given.
    pub fn only(&self, n: usize, known: &[&str]) -> R<()> {
        if self.args.len() > n {
            return unsupported(format!("{} positional arguments", self.args.len()));
        }
        if let Some(k) = self.kwargs.keys().find(|k| !known.contains(&k.as_str())) {
            return unsupported(format!("keyword argument {k}"));
        }
        Ok(())
    }
}

impl Value {
    pub fn f64(&self) -> R<f64> {
        match self {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::Bool(b) => Ok(*b as i64 as f64),
            _ => unsupported("expected a number"),
        }
    }

    pub fn i64(&self) -> R<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(*b as i64),
            _ => unsupported("expected an integer"),
        }
    }

    pub fn bool(&self) -> R<bool> {
        match self {
            Value::Bool(b) => Ok(*b),
            _ => unsupported("expected a bool"),
        }
    }

    /// An int or a list of ints (dims, shapes).
    pub fn ints(&self) -> R<Vec<i64>> {
        match self {
            Value::Int(i) => Ok(vec![*i]),
            Value::List(v) => v.iter().map(Value::i64).collect(),
            _ => unsupported("expected ints"),
        }
    }

    /// A tensor, or a Python number as a weak scalar.
    pub fn arg(&self) -> R<psionic_array::Arg> {
        Ok(match self {
            Value::Tensor(t) => t.into(),
            Value::Float(f) => (*f).into(),
            Value::Int(i) => (*i).into(),
            Value::Bool(b) => (*b).into(),
            _ => return unsupported("expected a tensor or a number"),
        })
    }
}

/// Runs the call through Psionic; outputs in the order OpInfo's op returns them.
/// A family table: the call's outputs, or `None` when the op is not in it.
type Table = fn(&Call) -> Option<R<Vec<Tensor>>>;

/// The family tables, asked in order; the first that knows the op answers.
const TABLES: [Table; 11] = [
    creation::call,
    elementwise::call,
    reductions::call,
    linalg::call,
    decomp::call,
    shape::call,
    indexing::call,
    conv::call,
    resample::call,
    special::call,
    extra::call,
];

pub fn call(c: &Call) -> R<Vec<Tensor>> {
    if let Some(r) = TABLES.iter().find_map(|table| table(c)) {
        return r;
    }
    unsupported(format!("no mapping for {}", c.op))
}
