//! The interpreter of MLX case programs (the encoding is documented in
//! `oracle/conformance/mlx_program.py`): expressions evaluate to [`Val`]s, calls go to
//! the op table (`ops.rs`) or the transforms (`transforms.rs`).

use super::value::{dtype_from_mlx, Func, Val};
use super::{ops, transforms};
use crate::torch::{unsupported, R};
use psionic_array::Tensor;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Names bound in the enclosing functions.
pub type Env = Arc<HashMap<String, Val>>;

/// The arrays a program names (`{"t": key}`), shared by every closure it creates.
pub type Store = Arc<HashMap<String, Tensor>>;

pub fn eval(j: &Json, env: &Env, store: &Store) -> R<Val> {
    let ev = |x: &Json| eval(x, env, store);
    Ok(match j {
        Json::Null => Val::None,
        Json::Bool(b) => Val::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Val::Str(s.clone()),
        Json::Array(xs) => Val::List(xs.iter().map(ev).collect::<R<_>>()?),
        Json::Object(m) => {
            if let Some(name) = m.get("var").and_then(Json::as_str) {
                return env.get(name).cloned().map_or_else(|| unsupported(format!("unbound {name}")), Ok);
            }
            if let Some(k) = m.get("t").and_then(Json::as_str) {
                return store.get(k).cloned().map(Val::T).map_or_else(|| unsupported(format!("no array {k}")), Ok);
            }
            if let Some(d) = m.get("dtype").and_then(Json::as_str) {
                return Ok(Val::DType(dtype_from_mlx(d)?));
            }
            if let Some(xs) = m.get("list").and_then(Json::as_array) {
                return Ok(Val::List(xs.iter().map(ev).collect::<R<_>>()?));
            }
            if let Some(d) = m.get("dict").and_then(Json::as_object) {
                let mut out = BTreeMap::new();
                for (k, v) in d {
                    out.insert(k.clone(), ev(v)?);
                }
                return Ok(Val::Dict(out));
            }
            if let Some(s) = m.get("slice").and_then(Json::as_array) {
                let part = |i: usize| s.get(i).and_then(Json::as_i64);
                return Ok(Val::Slice([part(0), part(1), part(2)]));
            }
            if let Some(f) = m.get("float").and_then(Json::as_str) {
                return f.parse().map(Val::Float).map_or_else(|_| unsupported(format!("bad float {f}")), Ok);
            }
            if m.contains_key("ellipsis") {
                return Ok(Val::Ellipsis);
            }
            if let Some(f) = m.get("fn") {
                return Ok(Val::Fn(closure(f, env, store)));
            }
            if let Some(f) = m.get("apply") {
                let f = ev(f)?;
                let args = m["args"].as_array().into_iter().flatten().map(ev).collect::<R<Vec<_>>>()?;
                return f.func()?(&args);
            }
            if let Some(c) = m.get("custom") {
                let part = |k: &str| c.get(k).map(|f| ev(f).and_then(|v| v.func().cloned())).transpose();
                return transforms::custom(
                    part("fn")?.expect("custom has fn"),
                    part("vjp")?,
                    part("jvp")?,
                    part("vmap")?,
                );
            }
            if let Some(name) = m.get("call").and_then(Json::as_str) {
                let args = m["args"].as_array().into_iter().flatten().map(ev).collect::<R<Vec<_>>>()?;
                let mut kw = BTreeMap::new();
                for (k, v) in m["kw"].as_object().into_iter().flatten() {
                    kw.insert(k.clone(), ev(v)?);
                }
                return call(name, &args, &kw);
            }
            return unsupported(format!("unknown expression {j}"));
        }
    })
}

/// A function value: its body evaluated with the parameters bound over `env`.
fn closure(f: &Json, env: &Env, store: &Store) -> Func {
    let params: Vec<String> =
        f["params"].as_array().into_iter().flatten().filter_map(Json::as_str).map(String::from).collect();
    let (body, env, store) = (f["body"].clone(), env.clone(), store.clone());
    Arc::new(move |args: &[Val]| {
        if args.len() != params.len() {
            return unsupported(format!("{} arguments for {} parameters", args.len(), params.len()));
        }
        let mut inner = (*env).clone();
        for (p, a) in params.iter().zip(args) {
            inner.insert(p.clone(), a.clone());
        }
        eval(&body, &Arc::new(inner), &store)
    })
}

/// One `mx.<name>(*args, **kw)` call.
pub struct Call<'a> {
    pub name: &'a str,
    pub args: &'a [Val],
    pub kw: &'a BTreeMap<String, Val>,
}

impl Call<'_> {
    /// Positional argument `i`, else keyword `name`.
    pub fn get(&self, i: usize, name: &str) -> Option<&Val> {
        self.args.get(i).or_else(|| self.kw.get(name)).filter(|v| !matches!(v, Val::None))
    }

    /// Keyword `name` (keyword-only parameters).
    pub fn kw(&self, name: &str) -> Option<&Val> {
        self.kw.get(name).filter(|v| !matches!(v, Val::None))
    }

    /// A bool parameter (`v` from [`Call::get`] or [`Call::kw`]), `default` when absent.
    pub fn flag(v: Option<&Val>, default: bool) -> R<bool> {
        v.map_or(Ok(default), Val::bool)
    }

    /// A `dtype=` parameter.
    pub fn dtype(v: Option<&Val>) -> R<Option<psionic_array::DType>> {
        match v {
            None => Ok(None),
            Some(Val::DType(d)) => Ok(Some(*d)),
            Some(_) => unsupported("dtype"),
        }
    }

    pub fn arg(&self, i: usize, name: &str) -> R<&Val> {
        self.get(i, name).map_or_else(|| unsupported(format!("{}: no {name}", self.name)), Ok)
    }

    pub fn x(&self) -> R<Tensor> {
        self.arg(0, "a")?.array()
    }

    /// Every argument must be understood: at most `n` positional ones and only `known`
    /// keywords.
    pub fn only(&self, n: usize, known: &[&str]) -> R<()> {
        if self.args.len() > n {
            return unsupported(format!("{}: {} positional arguments", self.name, self.args.len()));
        }
        match self.kw.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => unsupported(format!("{}: keyword {k}", self.name)),
            None => Ok(()),
        }
    }
}

fn call(name: &str, args: &[Val], kw: &BTreeMap<String, Val>) -> R<Val> {
    let c = Call { name, args, kw };
    if let Some(r) = transforms::call(&c) {
        return r;
    }
    ops::call(&c)
}
