//! Replaying one case: forward outputs, then (for differentiable cases) the gradients of
//! the oracle's cotangents, each compared with the oracle; panics and typed errors from
//! Psionic become `refused` with their message.

use crate::compare::compare;
use crate::fixture::Case;
use crate::report::{CaseResult, Status};
use crate::torch::{call, Call, Miss};
use crate::value::Value;
use psionic_array::autodiff::{autograd, GradOpts};
use psionic_array::{fallible, Tensor};

/// A copy of `v` in which tensor number `i` (manifest order) is `with(i, t)`.
fn remap(v: &Value, next: &mut usize, with: &dyn Fn(usize, &Tensor) -> Tensor) -> Value {
    match v {
        Value::Tensor(t) => {
            let i = *next;
            *next += 1;
            Value::Tensor(with(i, t))
        }
        Value::List(xs) => Value::List(xs.iter().map(|x| remap(x, next, with)).collect()),
        other => other.clone(),
    }
}

fn result(case: &Case, status: Status, detail: impl Into<String>) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        op: case.op.clone(),
        family: case.family.clone(),
        dtype: case.dtype.name().to_string(),
        status,
        detail: detail.into(),
    }
}

/// Replays `case`; `outputs_override` replaces Psionic's outputs (the comparator test
/// feeds a wrong result through it).
pub fn run_case(case: &Case, outputs_override: Option<&dyn Fn(Vec<Tensor>) -> Vec<Tensor>>) -> CaseResult {
    // Fresh leaves for the differentiable inputs, so gradients can be taken.
    let with = |i: usize, t: &Tensor| {
        if case.grads.contains_key(&i) {
            t.deep_clone().requires_grad_(true).clone()
        } else {
            t.clone()
        }
    };
    let mut n = 0;
    let input = remap(&case.input, &mut n, &with);
    let args: Vec<Value> = case.args.iter().map(|a| remap(a, &mut n, &with)).collect();
    let kwargs = case.kwargs.iter().map(|(k, v)| (k.clone(), remap(v, &mut n, &with))).collect();
    let mut leaves = vec![];
    collect(&input, &mut leaves);
    args.iter().for_each(|a| collect(a, &mut leaves));
    case.kwargs.keys().for_each(|k| collect(&kwargs_get(&kwargs, k), &mut leaves));
    let c = Call { op: &case.op, variant: &case.variant, input: &input, args: &args, kwargs: &kwargs };
    let outs = match guarded(|| call(&c)) {
        Err(e) => return e.into_result(case),
        Ok(Err(Miss::Unsupported(why))) => return result(case, Status::Unsupported, why),
        Ok(Ok(o)) => o,
    };
    let outs = match outputs_override {
        Some(f) => f(outs),
        None => outs,
    };
    let want: Vec<&Value> = case.outputs.iter().collect();
    if outs.len() != want.len() {
        return result(case, Status::Fail, format!("{} outputs, expected {}", outs.len(), want.len()));
    }
    for (i, (o, w)) in outs.iter().zip(&want).enumerate() {
        let w = match w {
            Value::Tensor(t) => t.clone(),
            Value::Bool(b) => Tensor::scalar(*b as i64 as f64).to_dtype(psionic_core::DType::Bool),
            _ => return result(case, Status::Unsupported, format!("output {i} is not a tensor")),
        };
        match guarded(|| compare(o, &w, &case.family)) {
            Err(e) => return e.into_result(case),
            Ok(Err(e)) => return result(case, Status::Fail, format!("output {i}: {e}")),
            Ok(Ok(())) => {}
        }
    }
    if case.cotangents.is_empty() {
        return result(case, Status::Pass, "");
    }
    match guarded(|| grads(case, &outs, &leaves)) {
        Err(e) => e.into_result(case),
        Ok(Err(e)) => result(case, Status::Fail, e),
        Ok(Ok(())) => result(case, Status::Pass, ""),
    }
}

/// How a call went wrong: Psionic's typed refusal, or a panic that is not one (a bug).
enum Abort {
    Refused(String),
    Panic(String),
}

impl Abort {
    fn into_result(self, case: &Case) -> CaseResult {
        match self {
            Abort::Refused(e) => result(case, Status::Refused, e),
            Abort::Panic(e) => result(case, Status::Fail, format!("panic: {e}")),
        }
    }
}

/// Runs `f`, turning op errors into `Refused` and any other panic into `Panic`, with the
/// panic hook silenced meanwhile (a case's panic is a result here, not noise).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Abort> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fallible(f)));
    std::panic::set_hook(hook);
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Abort::Refused(e.to_string())),
        Err(p) => Err(Abort::Panic(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        )),
    }
}

fn kwargs_get(m: &std::collections::BTreeMap<String, Value>, k: &str) -> Value {
    m.get(k).cloned().unwrap_or(Value::None)
}

fn collect(v: &Value, out: &mut Vec<Tensor>) {
    match v {
        Value::Tensor(t) => out.push(t.clone()),
        Value::List(xs) => xs.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

/// Compares the gradients of `sum(out * cotangent)` over the differentiable outputs.
fn grads(case: &Case, outs: &[Tensor], leaves: &[Tensor]) -> Result<(), String> {
    let diff: Vec<&Tensor> = outs.iter().filter(|o| o.requires_grad()).collect();
    if diff.len() != case.cotangents.len() {
        return Err(format!("{} differentiable outputs, expected {}", diff.len(), case.cotangents.len()));
    }
    let targets: Vec<(usize, &Tensor)> = case.grads.keys().map(|&i| (i, &leaves[i])).collect();
    let mut total = Tensor::scalar(0.0).to_dtype(psionic_core::DType::F64);
    for (o, u) in diff.iter().zip(&case.cotangents) {
        total = &total + &(*o * u).to_dtype(psionic_core::DType::F64).sum_all();
    }
    let refs: Vec<&Tensor> = targets.iter().map(|(_, t)| *t).collect();
    let got = autograd::grad(&[&total], &refs, GradOpts { allow_unused: true, ..Default::default() });
    for ((i, leaf), g) in targets.iter().zip(got) {
        let want = case.grads[i].clone();
        match (g, want) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                compare(&g.to_dtype(leaf.dtype()), &w, &case.family).map_err(|e| format!("grad of input {i}: {e}"))?
            }
            (None, Some(w)) => {
                compare(&leaf.zeros_like(), &w, &case.family).map_err(|e| format!("grad of input {i} (none): {e}"))?
            }
            (Some(_), None) => {}
        }
    }
    Ok(())
}
