//! Replaying module cases (`nn.<Class>`: fixed weights loaded by state_dict name, then
//! forward outputs, buffers after the call, input and parameter gradients) and optimizer
//! cases (`optim.<Class>`: ten steps on the oracle's gradients, every parameter compared
//! after every step).

use crate::compare::compare;
use crate::fixture::Case;
use crate::report::{CaseResult, Status};
use crate::run::{guarded, remap, result};
use crate::torch::modules::build;
use crate::torch::{unsupported, Miss, R};
use crate::value::Value;
use psionic_array::autodiff::{autograd, GradOpts};
use psionic_array::{DType, Tensor};
use psionic_nn::ModuleExt;
use psionic_optim::*;
use std::collections::BTreeMap;

/// Whether `op` names a module class (`nn.Linear`) rather than a function
/// (`nn.functional.relu`).
pub fn is_module(op: &str) -> bool {
    op.strip_prefix("nn.").is_some_and(|c| c.as_bytes().first().is_some_and(u8::is_ascii_uppercase))
}

pub(crate) fn finish(case: &Case, r: Result<R<Result<(), String>>, crate::run::Abort>) -> CaseResult {
    match r {
        Err(e) => e.into_result(|s, d| result(case, s, d)),
        Ok(Err(Miss::Unsupported(why))) => result(case, Status::Unsupported, why),
        Ok(Ok(Err(e))) => result(case, Status::Fail, e),
        Ok(Ok(Ok(()))) => result(case, Status::Pass, ""),
    }
}

pub fn run_module(case: &Case, strided: bool) -> CaseResult {
    let mut leaves = vec![];
    let input = remap(&case.input, case, &mut leaves, strided);
    let args: Vec<Value> = case.args.iter().map(|a| remap(a, case, &mut leaves, strided)).collect();
    finish(case, guarded(|| module_case(case, &input, &args, &leaves)))
}

fn module_case(case: &Case, input: &Value, args: &[Value], leaves: &[Tensor]) -> R<Result<(), String>> {
    let cls = &case.op[3..];
    // Seeding and drawing from the global generator must not interleave with another
    // thread's cases (the test harness runs several reports at once).
    let built = {
        let _only = crate::random::GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seed) = case.seed {
            psionic_array::random::manual_seed(seed);
        }
        build(cls, &case.kwargs, case.dtype)?
    };
    let m = built.module();
    m.to_dtype(case.dtype);
    // The default initialisation, drawn from the seeded global generator as PyTorch's.
    let init: BTreeMap<String, Tensor> = m.state_dict().into_iter().collect();
    for (name, want) in &case.init_state {
        let Some(got) = init.get(name) else { return Ok(Err(format!("no state_dict entry {name}"))) };
        if let Err(e) = compare(got, want, false) {
            return Ok(Err(format!("default initialisation of {name}: {e}")));
        }
    }
    if init.len() != case.init_state.len() {
        let keys: Vec<&String> = init.keys().collect();
        return Ok(Err(format!("state_dict keys {keys:?}, expected {} entries", case.init_state.len())));
    }
    if let Err(e) = m.load_state_dict(&case.state, true) {
        return Ok(Err(format!("load_state_dict: {e}")));
    }
    if case.eval {
        m.eval();
    }
    let mut xs = vec![];
    for v in std::iter::once(input).chain(args) {
        match v {
            Value::Tensor(t) => xs.push(t.clone()),
            _ => return unsupported("module inputs must be tensors"),
        }
    }
    let outs = built.run(&xs, &case.call_kwargs)?;
    if outs.len() != case.outputs.len() {
        return Ok(Err(format!("{} outputs, expected {}", outs.len(), case.outputs.len())));
    }
    for (i, (o, w)) in outs.iter().zip(&case.outputs).enumerate() {
        let Value::Tensor(w) = w else { return unsupported("non-tensor output") };
        if let Err(e) = compare(o, w, true) {
            return Ok(Err(format!("output {i}: {e}")));
        }
    }
    let buffers: BTreeMap<String, Tensor> = m.named_buffers().into_iter().collect();
    for (name, want) in &case.buffers_after {
        let Some(got) = buffers.get(name) else { return Ok(Err(format!("no buffer {name}"))) };
        if let Err(e) = compare(got, want, true) {
            return Ok(Err(format!("buffer {name} after forward: {e}")));
        }
    }
    if case.cotangents.is_empty() {
        return Ok(Ok(()));
    }
    let diff: Vec<&Tensor> = outs.iter().filter(|o| o.requires_grad()).collect();
    if diff.len() != case.cotangents.len() {
        return Ok(Err(format!("{} differentiable outputs, expected {}", diff.len(), case.cotangents.len())));
    }
    let mut total = Tensor::scalar(0.0f64);
    for (o, u) in diff.iter().zip(&case.cotangents) {
        total = total.add(o.mul(u).to_dtype(DType::F64).sum_all());
    }
    let params: BTreeMap<String, Tensor> = m.named_parameters().into_iter().collect();
    let inputs: Vec<(String, &Tensor)> = case.grads.keys().map(|&i| (format!("input {i}"), &leaves[i])).collect();
    let mut targets: Vec<(String, &Tensor)> = inputs;
    targets.extend(params.iter().map(|(k, v)| (k.clone(), v)));
    let refs: Vec<&Tensor> = targets.iter().map(|(_, t)| *t).collect();
    let got = autograd::grad(&[&total], &refs, GradOpts { allow_unused: true, ..Default::default() });
    for ((name, t), g) in targets.iter().zip(got) {
        let want = match name.strip_prefix("input ") {
            Some(i) => case.grads[&i.parse::<usize>().unwrap()].clone(),
            None => case.state_grads.get(name).cloned(),
        };
        let g = g.unwrap_or_else(|| t.zeros_like());
        if let Some(w) = want {
            if let Err(e) = compare(&g.to_dtype(t.dtype()), &w, true) {
                return Ok(Err(format!("grad of {name}: {e}")));
            }
        }
    }
    Ok(Ok(()))
}

pub fn run_optim(case: &Case) -> CaseResult {
    if case.op == "optim.LBFGS" {
        return finish(case, guarded(|| lbfgs_case(case)));
    }
    finish(case, guarded(|| optim_case(case)))
}

/// LBFGS on the oracle's objective `sum((p - c)^2 (1 + p^2/2)) + 0.1 sum(p)^2`.
fn lbfgs_case(case: &Case) -> R<Result<(), String>> {
    let params: Vec<Tensor> = case.state.iter().map(|(_, t)| t.deep_clone().requires_grad_(true).clone()).collect();
    let kw = &case.kwargs;
    let Some(Value::List(targets)) = kw.get("targets") else { return unsupported("LBFGS targets") };
    let targets: Vec<Tensor> = targets.iter().filter_map(|v| v.as_tensor().cloned()).collect();
    let mut o = LbfgsOpts::default();
    for (k, v) in kw {
        match (k.as_str(), v) {
            ("targets", _) => {}
            ("line_search_fn", Value::Str(s)) if s == "strong_wolfe" => o.strong_wolfe = true,
            ("lr", v) => o.lr = v.f64()?,
            ("max_iter", v) => o.max_iter = v.f64()? as usize,
            ("history_size", v) => o.history_size = v.f64()? as usize,
            (other, _) => return unsupported(format!("LBFGS argument {other}")),
        }
    }
    let mut opt = Lbfgs::new(params.clone(), o);
    let mut closure = || {
        params.iter().for_each(Tensor::zero_grad);
        let mut loss: Option<Tensor> = None;
        for (p, c) in params.iter().zip(&targets) {
            let d = p.sub(c);
            let term = d.mul(&d).mul(p.mul(p).mul(0.5).add(1.0)).sum_all().add(p.sum_all().pow(2.0).mul(0.1));
            loss = Some(match loss {
                None => term,
                Some(l) => l.add(&term),
            });
        }
        let loss = loss.expect("at least one parameter");
        loss.backward();
        loss
    };
    let mut want = case.outputs.iter();
    for s in 0..case.steps.len() {
        opt.step(&mut closure);
        for (name, p) in case.state.iter().map(|(n, _)| n).zip(&params) {
            let Some(Value::Tensor(w)) = want.next() else { return Ok(Err("fewer outputs than steps".into())) };
            if let Err(e) = compare(p, w, false) {
                return Ok(Err(format!("step {s}, {name}: {e}")));
            }
        }
    }
    Ok(Ok(()))
}

fn hyper(kw: &BTreeMap<String, Value>, name: &str) -> R<Option<f64>> {
    match kw.get(name) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b as u8 as f64)),
        Some(v) => v.f64().map(Some),
    }
}

/// Builds the rule with PyTorch's defaults, then applies every keyword argument through
/// the rule's named hyperparameters (`betas` splits into `beta1`, `beta2`).
pub(crate) fn rule<T: Rule>(mut r: T, kw: &BTreeMap<String, Value>) -> R<T> {
    for (k, v) in kw {
        if k == "betas" {
            let Value::List(b) = v else { return unsupported("betas") };
            r.set_hyper("beta1", b[0].f64()?);
            r.set_hyper("beta2", b[1].f64()?);
        } else if let Some(x) = hyper(kw, k)? {
            if !r.set_hyper(k, x) {
                return unsupported(format!("optimizer argument {k}"));
            }
        }
    }
    Ok(r)
}

fn optim_case(case: &Case) -> R<Result<(), String>> {
    let params: Vec<Tensor> = case.state.iter().map(|(_, t)| t.deep_clone().requires_grad_(true).clone()).collect();
    let kw = &case.kwargs;
    fn make<T: Rule + 'static>(params: &[Tensor], r: T, kw: &BTreeMap<String, Value>) -> R<Box<dyn Optimizer>> {
        Ok(Box::new(Optim::new(params.to_vec(), rule(r, kw)?)))
    }
    let mut opt = match &case.op[6..] {
        "SGD" => make(&params, Sgd::new(1e-3), kw)?,
        "Adam" => make(&params, Adam::new(1e-3), kw)?,
        "AdamW" => make(&params, Adam::adamw(1e-3), kw)?,
        "Adamax" => make(&params, Adamax::new(2e-3), kw)?,
        "NAdam" => make(&params, NAdam::new(2e-3), kw)?,
        "RAdam" => make(&params, RAdam::new(1e-3), kw)?,
        "Adagrad" => make(&params, Adagrad::new(1e-2), kw)?,
        "Adadelta" => make(&params, Adadelta::new(1.0), kw)?,
        "RMSprop" => make(&params, RmsProp::new(1e-2), kw)?,
        "Rprop" => make(&params, Rprop::new(1e-2), kw)?,
        "ASGD" => make(&params, Asgd::new(1e-2), kw)?,
        "Muon" => make(&params, Muon::new(1e-3), kw)?,
        other => return unsupported(format!("optim.{other}: no optimizer mapping")),
    };
    let mut want = case.outputs.iter();
    for (s, grads) in case.steps.iter().enumerate() {
        for (p, (_, g)) in params.iter().zip(grads) {
            p.set_grad(Some(g.clone()));
        }
        opt.step();
        for (name, p) in case.state.iter().map(|(n, _)| n).zip(&params) {
            let Some(Value::Tensor(w)) = want.next() else { return Ok(Err("fewer outputs than steps".into())) };
            if let Err(e) = compare(p, w, false) {
                return Ok(Err(format!("step {s}, {name}: {e}")));
            }
        }
    }
    Ok(Ok(()))
}
