//! Replaying one case: forward outputs, then (for differentiable cases) the gradients of
//! the oracle's cotangents, each compared with the oracle; panics and typed errors from
//! Psionic become `refused` with their message.

use crate::compare::{compare, sums_long_axes};
use crate::fixture::Case;
use crate::report::{CaseResult, Status};
use crate::torch::{call, wrappers, Call, Miss};
use crate::value::Value;
use psionic_array::autodiff::{autograd, GradOpts};
use psionic_array::{fallible, Tensor};

/// A copy of `v` for the call: tensor number `i` (manifest order, `leaves.len()` when it
/// is reached) becomes a fresh leaf requiring grad when the case differentiates it, and
/// every tensor is pushed onto `leaves` in that order. With `strided`, every tensor of at
/// least one dim is replaced by a non-contiguous view of the same values (every other
/// element of a buffer twice as long), as OpInfo's `noncontiguous()` samples are.
pub(crate) fn remap(v: &Value, case: &Case, leaves: &mut Vec<Tensor>, strided: bool) -> Value {
    match v {
        Value::Tensor(t) => {
            let t = if strided && t.dim() > 0 && t.numel() > 0 {
                let mut reps = vec![1; t.dim() + 1];
                reps[t.dim()] = 2;
                t.unsqueeze(-1).repeat(&reps).select(-1, 0)
            } else {
                t.clone()
            };
            let t = if case.grads.contains_key(&leaves.len()) {
                let leaf = if strided { t.detach() } else { t.deep_clone() };
                leaf.requires_grad_(true).clone()
            } else {
                t
            };
            leaves.push(t.clone());
            Value::Tensor(t)
        }
        Value::List(xs) => Value::List(xs.iter().map(|x| remap(x, case, leaves, strided)).collect()),
        other => other.clone(),
    }
}

/// Whether `case` has a non-contiguous twin: a float32/float64 case with a tensor of at
/// least one dim (`as_strided` addresses storage, so its inputs must stay contiguous).
pub fn has_strided_twin(case: &Case) -> bool {
    matches!(case.dtype, psionic_core::DType::F32 | psionic_core::DType::F64)
        && case.op != "as_strided"
        && case.tensors.iter().any(|t| t.dim() > 0 && t.numel() > 0)
}

pub(crate) fn result(case: &Case, status: Status, detail: impl Into<String>) -> CaseResult {
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
    run_case_with(case, outputs_override, false)
}

/// [`run_case`] on non-contiguous inputs; its id is the case's with `~noncontiguous`.
pub fn run_strided(case: &Case) -> CaseResult {
    let mut r = run_case_with(case, None, true);
    r.id.push_str("~noncontiguous");
    r
}

fn run_case_with(
    case: &Case,
    outputs_override: Option<&dyn Fn(Vec<Tensor>) -> Vec<Tensor>>,
    strided: bool,
) -> CaseResult {
    if crate::nn::is_module(&case.op) {
        return crate::nn::run_module(case, strided);
    }
    if case.op.starts_with("lr_scheduler.") {
        return crate::sched::run_scheduler(case);
    }
    if case.op.starts_with("optim.") {
        // Optimizer cases have no input tensors, hence no non-contiguous twin.
        return crate::nn::run_optim(case);
    }
    let mut leaves = vec![];
    let input = remap(&case.input, case, &mut leaves, strided);
    let args: Vec<Value> = case.args.iter().map(|a| remap(a, case, &mut leaves, strided)).collect();
    let kwargs = case.kwargs.iter().map(|(k, v)| (k.clone(), remap(v, case, &mut leaves, strided))).collect();
    let input = match &case.wrapper {
        None => input,
        Some(w) => match guarded(|| wrappers::wrap(w, &input, &kwargs)) {
            Err(e) => return e.into_result(|s, d| result(case, s, d)),
            Ok(Err(Miss::Unsupported(why))) => return result(case, Status::Unsupported, why),
            Ok(Ok(v)) => v,
        },
    };
    let c = Call { op: &case.op, variant: &case.variant, input: &input, args: &args, kwargs: &kwargs };
    let run = || {
        let outs = call(&c)?;
        match &case.process {
            None => Ok(outs),
            Some(p) => wrappers::process(p, &case.op, c.x().ok(), outs),
        }
    };
    let outs = match guarded(run) {
        Err(e) => return e.into_result(|s, d| result(case, s, d)),
        Ok(Err(Miss::Unsupported(why))) => return result(case, Status::Unsupported, why),
        Ok(Ok(o)) => o,
    };
    let outs = match outputs_override {
        Some(f) => f(outs),
        None => outs,
    };
    let want = &case.outputs;
    if outs.len() != want.len() {
        return result(case, Status::Fail, format!("{} outputs, expected {}", outs.len(), want.len()));
    }
    for (i, (o, w)) in outs.iter().zip(want).enumerate() {
        let w = match w {
            Value::Tensor(t) => t.clone(),
            Value::Bool(b) => Tensor::scalar(*b as i64 as f64).to_dtype(psionic_core::DType::Bool),
            _ => return result(case, Status::Unsupported, format!("output {i} is not a tensor")),
        };
        let checked = guarded(|| match tie_free_indices(case, &c, i) {
            Some(dim) => same_up_to_ties(c.x().ok(), o, &w, dim),
            None => compare(o, &w, sums_long_axes(&case.family, &case.op)),
        });
        match checked {
            Err(e) => return e.into_result(|s, d| result(case, s, d)),
            Ok(Err(e)) => return result(case, Status::Fail, format!("output {i}: {e}")),
            Ok(Ok(())) => {}
        }
    }
    if case.cotangents.is_empty() {
        return result(case, Status::Pass, "");
    }
    match guarded(|| grads(case, &outs, &leaves)) {
        Err(e) => e.into_result(|s, d| result(case, s, d)),
        Ok(Err(e)) => result(case, Status::Fail, e),
        Ok(Ok(())) => result(case, Status::Pass, ""),
    }
}

/// The dim along which output `i` of `case` holds positions whose choice among equal
/// values PyTorch leaves unspecified: the indices of topk and kthvalue (its CPU kernels
/// select with partitioning, so which of several equal values is named follows no
/// documented rule).
fn tie_free_indices(case: &Case, c: &Call, i: usize) -> Option<i64> {
    if !matches!(case.op.as_str(), "topk" | "kthvalue") || i != 1 {
        return None;
    }
    c.param(1, "dim").map_or(Some(-1), |v| v.i64().ok())
}

/// Indices `got` pass against the oracle's `want` when they are distinct along `dim` and
/// pick the same values from `x` (so they differ only in which of equal values they name).
fn same_up_to_ties(x: Option<&Tensor>, got: &Tensor, want: &Tensor, dim: i64) -> Result<(), String> {
    let x = x.ok_or("no input tensor")?;
    if got.shape() != want.shape() {
        return compare(got, want, false);
    }
    if x.dim() == 0 {
        return compare(got, want, false);
    }
    // kthvalue without keepdim drops the dim its indices run along.
    let (got, want) =
        if got.dim() < x.dim() { (got.unsqueeze(dim), want.unsqueeze(dim)) } else { (got.clone(), want.clone()) };
    let (got, want) = (&got, &want);
    compare(&x.gather(dim, got), &x.gather(dim, want), false).map_err(|e| format!("picks other values: {e}"))?;
    let sorted = got.sort(dim, false).0;
    let n = sorted.size(dim);
    if n > 1 && sorted.narrow(dim, 1, n - 1).eq(sorted.narrow(dim, 0, n - 1)).any().item::<bool>() {
        return Err("repeats an index".into());
    }
    Ok(())
}

/// How a call went wrong: Psionic's typed refusal, a mapping miss raised from inside a
/// transform (where it cannot be returned), or a panic that is neither (a bug).
pub(crate) enum Abort {
    Refused(String),
    Unsupported(String),
    Panic(String),
}

impl Abort {
    pub(crate) fn into_result(self, result: impl Fn(Status, String) -> CaseResult) -> CaseResult {
        match self {
            Abort::Refused(e) => result(Status::Refused, e),
            Abort::Unsupported(e) => result(Status::Unsupported, e),
            Abort::Panic(e) => result(Status::Fail, format!("panic: {e}")),
        }
    }
}

/// Runs `f`, turning op errors into `Refused`, mapping misses into `Unsupported` and any
/// other panic into `Panic`, with the panic hook silenced meanwhile (a case's panic is a
/// result here, not noise).
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Abort> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fallible(f)));
    std::panic::set_hook(hook);
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Abort::Refused(e.to_string())),
        Err(p) => Err(match p.downcast::<Miss>() {
            Ok(m) => match *m {
                Miss::Unsupported(why) => Abort::Unsupported(why),
            },
            Err(p) => Abort::Panic(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            ),
        }),
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
    // The gradient of an input smaller than an output sums over the broadcast dims.
    let widest = outs.iter().map(Tensor::numel).max().unwrap_or(0);
    let long = |leaf: &Tensor| sums_long_axes(&case.family, &case.op) || leaf.numel() < widest;
    let got = autograd::grad(&[&total], &refs, GradOpts { allow_unused: true, ..Default::default() });
    for ((i, leaf), g) in targets.iter().zip(got) {
        let want = case.grads[i].clone();
        match (g, want) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                compare(&g.to_dtype(leaf.dtype()), &w, long(leaf)).map_err(|e| format!("grad of input {i}: {e}"))?
            }
            (None, Some(w)) => {
                compare(&leaf.zeros_like(), &w, long(leaf)).map_err(|e| format!("grad of input {i} (none): {e}"))?
            }
            (Some(_), None) => {}
        }
    }
    Ok(())
}
