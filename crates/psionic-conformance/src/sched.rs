//! Replaying learning-rate scheduler cases (`lr_scheduler.<Class>`): the scheduler is
//! built on a two-group optimizer from PyTorch's constructor arguments, stepped as the
//! oracle stepped it, and every group's rate (and momentum or beta1) compared after
//! construction and after every step.

use crate::compare::compare;
use crate::fixture::Case;
use crate::report::CaseResult;
use crate::run::guarded;
use crate::torch::{unsupported, R};
use crate::value::Value;
use psionic_array::{DType, Tensor};
use psionic_optim::*;
use std::collections::BTreeMap;
use std::sync::Arc;

type Kw = BTreeMap<String, Value>;

pub fn run_scheduler(case: &Case) -> CaseResult {
    crate::nn::finish(case, guarded(|| scheduler_case(case)))
}

fn f(kw: &Kw, name: &str, default: f64) -> R<f64> {
    match kw.get(name) {
        None | Some(Value::None) => Ok(default),
        Some(v) => v.f64(),
    }
}

fn i(kw: &Kw, name: &str, default: i64) -> R<i64> {
    Ok(f(kw, name, default as f64)? as i64)
}

fn s<'a>(kw: &'a Kw, name: &str, default: &'a str) -> &'a str {
    match kw.get(name) {
        Some(Value::Str(v)) => v,
        _ => default,
    }
}

/// `[[name, value], ...]` as keyword arguments.
fn pairs(v: &Value) -> R<Kw> {
    let Value::List(items) = v else { return unsupported("nested kwargs are not a list") };
    items
        .iter()
        .map(|p| match p {
            Value::List(kv) if kv.len() == 2 => match &kv[0] {
                Value::Str(k) => Ok((k.clone(), kv[1].clone())),
                _ => unsupported("kwarg name is not a string"),
            },
            _ => unsupported("kwarg is not a [name, value] pair"),
        })
        .collect()
}

fn lambda(kw: &Kw) -> R<Arc<dyn Fn(i64) -> f64 + Send + Sync>> {
    let Some(Value::List(recipe)) = kw.get("lr_lambda") else { return unsupported("lr_lambda recipe") };
    let (Some(Value::Str(kind)), Some(v)) = (recipe.first(), recipe.get(1)) else {
        return unsupported("lr_lambda recipe");
    };
    let v = v.f64()?;
    Ok(match kind.as_str() {
        "pow" => Arc::new(move |e| v.powi(e as i32)),
        "const" => Arc::new(move |_| v),
        other => return unsupported(format!("lr_lambda recipe {other}")),
    })
}

fn schedule(cls: &str, kw: &Kw) -> R<Schedule> {
    Ok(match cls {
        "StepLR" => Schedule::Step { step_size: i(kw, "step_size", 1)?, gamma: f(kw, "gamma", 0.1)? },
        "MultiStepLR" => {
            let Some(Value::List(m)) = kw.get("milestones") else { return unsupported("milestones") };
            let milestones = m.iter().map(|x| x.f64().map(|v| v as i64)).collect::<R<Vec<_>>>()?;
            Schedule::MultiStep { milestones, gamma: f(kw, "gamma", 0.1)? }
        }
        "ConstantLR" => {
            Schedule::Constant { factor: f(kw, "factor", 1.0 / 3.0)?, total_iters: i(kw, "total_iters", 5)? }
        }
        "LinearLR" => Schedule::Linear {
            start_factor: f(kw, "start_factor", 1.0 / 3.0)?,
            end_factor: f(kw, "end_factor", 1.0)?,
            total_iters: i(kw, "total_iters", 5)?,
        },
        "ExponentialLR" => Schedule::Exponential { gamma: f(kw, "gamma", 0.0)? },
        "PolynomialLR" => Schedule::Polynomial { total_iters: i(kw, "total_iters", 5)?, power: f(kw, "power", 1.0)? },
        "CosineAnnealingLR" => Schedule::CosineAnnealing { t_max: i(kw, "T_max", 1)?, eta_min: f(kw, "eta_min", 0.0)? },
        "CosineAnnealingWarmRestarts" => {
            Schedule::cosine_warm_restarts(i(kw, "T_0", 1)?, i(kw, "T_mult", 1)?, f(kw, "eta_min", 0.0)?)
        }
        "LambdaLR" => Schedule::Lambda(vec![lambda(kw)?]),
        "MultiplicativeLR" => Schedule::Multiplicative(vec![lambda(kw)?]),
        "OneCycleLR" => {
            let mut o = OneCycle::new(f(kw, "max_lr", 0.0)?, i(kw, "total_steps", 0)?);
            o.pct_start = f(kw, "pct_start", 0.3)?;
            o.anneal = if s(kw, "anneal_strategy", "cos") == "linear" { Anneal::Linear } else { Anneal::Cos };
            o.three_phase = matches!(kw.get("three_phase"), Some(Value::Bool(true)));
            o.cycle_momentum = !matches!(kw.get("cycle_momentum"), Some(Value::Bool(false)));
            o.base_momentum = f(kw, "base_momentum", 0.85)?;
            o.max_momentum = f(kw, "max_momentum", 0.95)?;
            o.div_factor = f(kw, "div_factor", 25.0)?;
            o.final_div_factor = f(kw, "final_div_factor", 1e4)?;
            Schedule::OneCycle(o)
        }
        "CyclicLR" => {
            let mode = match s(kw, "mode", "triangular") {
                "triangular" => CyclicMode::Triangular,
                "triangular2" => CyclicMode::Triangular2,
                "exp_range" => CyclicMode::ExpRange { gamma: f(kw, "gamma", 1.0)? },
                other => return unsupported(format!("CyclicLR mode {other}")),
            };
            let down = match kw.get("step_size_down") {
                None | Some(Value::None) => None,
                Some(v) => Some(v.f64()?),
            };
            let momentum = (!matches!(kw.get("cycle_momentum"), Some(Value::Bool(false))))
                .then(|| Ok::<_, crate::torch::Miss>((f(kw, "base_momentum", 0.8)?, f(kw, "max_momentum", 0.9)?)))
                .transpose()?;
            Schedule::cyclic(
                f(kw, "base_lr", 0.0)?,
                f(kw, "max_lr", 0.0)?,
                f(kw, "step_size_up", 2000.0)?,
                down,
                mode,
                momentum,
            )
        }
        other => return unsupported(format!("lr_scheduler.{other}: no scheduler mapping")),
    })
}

fn nested(kw: &Kw, opt: &mut dyn Optimizer) -> R<Vec<LrScheduler>> {
    let Some(Value::List(list)) = kw.get("schedulers") else { return unsupported("schedulers list") };
    list.iter()
        .map(|item| match item {
            Value::List(parts) if parts.len() == 2 => match &parts[0] {
                Value::Str(cls) => Ok(LrScheduler::new(opt, schedule(cls, &pairs(&parts[1])?)?)),
                _ => unsupported("scheduler class"),
            },
            _ => unsupported("scheduler entry"),
        })
        .collect()
}

fn optimizer(kw: &Kw) -> R<Box<dyn Optimizer>> {
    let opt_kw = match kw.get("optimizer_kwargs") {
        Some(v) => pairs(v)?,
        None => Kw::new(),
    };
    let (w, b) = (Tensor::zeros(&[2], DType::F64), Tensor::zeros(&[1], DType::F64));
    fn two_groups<T: Rule + 'static>(r: T, w: Tensor, b: Tensor) -> Box<dyn Optimizer> {
        let mut second = r.clone();
        second.set_hyper("lr", 0.05);
        let mut first = r;
        first.set_hyper("lr", 0.1);
        let mut o = Optim::new(vec![w], first);
        o.add_param_group(vec![b], second);
        Box::new(o)
    }
    Ok(match s(kw, "optimizer", "SGD") {
        "SGD" => two_groups(crate::nn::rule(Sgd::new(0.1), &opt_kw)?, w, b),
        "Adam" => two_groups(crate::nn::rule(Adam::new(0.1), &opt_kw)?, w, b),
        other => return unsupported(format!("optimizer {other} for schedulers")),
    })
}

fn momenta(opt: &dyn Optimizer) -> Vec<f64> {
    let b = opt.get("beta1");
    if !b.is_empty() {
        return b;
    }
    let m = opt.get("momentum");
    if m.is_empty() {
        vec![0.0; opt.get("lr").len()]
    } else {
        m
    }
}

fn scheduler_case(case: &Case) -> R<Result<(), String>> {
    let kw = &case.kwargs;
    let mut opt = optimizer(kw)?;
    let opt = opt.as_mut();
    let cls = &case.op["lr_scheduler.".len()..];
    let steps = 24;
    let mut lrs = vec![];
    let mut moms = vec![];
    let mut record = |opt: &dyn Optimizer| {
        lrs.extend(opt.get("lr"));
        moms.extend(momenta(opt));
    };
    if cls == "ReduceLROnPlateau" {
        let mut p = ReduceLROnPlateau::new(opt);
        if s(kw, "mode", "min") == "max" {
            p = p.with_mode(PlateauMode::Max);
        }
        p.factor = f(kw, "factor", 0.1)?;
        p.patience = i(kw, "patience", 10)? as usize;
        p.threshold = f(kw, "threshold", 1e-4)?;
        p.threshold_mode =
            if s(kw, "threshold_mode", "rel") == "abs" { ThresholdMode::Abs } else { ThresholdMode::Rel };
        p.cooldown = i(kw, "cooldown", 0)? as usize;
        p.min_lrs = vec![f(kw, "min_lr", 0.0)?; 2];
        let Some(Value::List(metrics)) = kw.get("metrics") else { return unsupported("metrics") };
        record(opt);
        for m in metrics.iter().take(steps) {
            opt.step();
            p.step(opt, m.f64()?);
            record(opt);
        }
    } else {
        let mut sched: Box<dyn Scheduler> = match cls {
            "SequentialLR" => {
                let subs = nested(kw, opt)?;
                let Some(Value::List(m)) = kw.get("milestones") else { return unsupported("milestones") };
                let milestones = m.iter().map(|x| x.f64().map(|v| v as i64)).collect::<R<Vec<_>>>()?;
                Box::new(SequentialLR::new(opt, subs, milestones))
            }
            "ChainedScheduler" => {
                let subs = nested(kw, opt)?.into_iter().map(|s| Box::new(s) as Box<dyn Scheduler>).collect();
                Box::new(ChainedScheduler::new(opt, subs))
            }
            _ => Box::new(LrScheduler::new(opt, schedule(cls, kw)?)),
        };
        record(opt);
        for _ in 0..steps {
            opt.step();
            sched.step(opt);
            record(opt);
        }
    }
    let n = lrs.len() / (steps + 1);
    let got = [Tensor::from_vec(lrs, &[steps + 1, n]), Tensor::from_vec(moms, &[steps + 1, n])];
    for (what, (g, w)) in ["lr", "momentum"].iter().zip(got.iter().zip(&case.outputs)) {
        let Value::Tensor(w) = w else { return Ok(Err("outputs are not tensors".into())) };
        if let Err(e) = compare(g, w, false) {
            return Ok(Err(format!("{what}: {e}")));
        }
    }
    Ok(Ok(()))
}
