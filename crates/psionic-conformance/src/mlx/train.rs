//! `mlx.nn.losses` and `mlx.optimizers` mapped onto psionic-nn's losses and
//! psionic-optim's rules, with MLX's defaults (losses mostly reduce with `"none"`; Adam
//! and AdamW skip bias correction; Adagrad's eps is 1e-8).

use super::program::Call;
use super::value::Val;
use crate::torch::{unsupported, R};
use psionic_array::{Reduction, Tensor};
use psionic_nn::functional::{self as F, ClassLoss, KlReduction};
use psionic_optim::*;
use std::collections::BTreeMap;

fn reduction(c: &Call, default: &str) -> R<Reduction> {
    let name = match c.kw("reduction") {
        None => default,
        Some(Val::Str(s)) => s.as_str(),
        Some(_) => return unsupported("reduction"),
    };
    Reduction::from_name(name).map_or_else(|| unsupported(format!("reduction {name}")), Ok)
}

/// `mlx.nn.losses.<name>`.
pub fn loss(c: &Call) -> R<Val> {
    let name = &c.name["nn.losses.".len()..];
    let a = c.arg(0, "inputs")?.tensor()?.clone();
    let b = c.arg(1, "targets")?.tensor()?.clone();
    let f = |k: &str, d: f64| c.kw(k).map_or(Ok(d), Val::f64);
    let out = match name {
        "cross_entropy" => {
            if c.kw("weights").is_some() || c.kw("axis").is_some_and(|v| !matches!(v, Val::Int(-1))) {
                return unsupported("cross_entropy weights/axis");
            }
            let o = ClassLoss {
                label_smoothing: f("label_smoothing", 0.0)?,
                reduction: reduction(c, "none")?,
                ..ClassLoss::default()
            };
            let target = if b.dtype().is_float() { b } else { b.to_dtype(psionic_array::DType::I64) };
            F::cross_entropy(&a, &target, &o)
        }
        "binary_cross_entropy" => {
            let r = reduction(c, "mean")?;
            if Call::flag(c.kw("with_logits"), true)? {
                F::binary_cross_entropy_with_logits(&a, &b, None, None, r)
            } else {
                F::binary_cross_entropy(&a, &b, None, r)
            }
        }
        "l1_loss" => a.l1_loss(&b, reduction(c, "mean")?),
        "mse_loss" => a.mse_loss(&b, reduction(c, "mean")?),
        "smooth_l1_loss" => a.smooth_l1_loss(&b, reduction(c, "mean")?, f("beta", 1.0)?),
        "huber_loss" => a.huber_loss(&b, reduction(c, "none")?, f("delta", 1.0)?),
        "log_cosh_loss" => {
            let e = a.sub(&b);
            reduction(c, "none")?.apply(e.logaddexp(e.neg()).sub(std::f64::consts::LN_2))
        }
        "nll_loss" => {
            let o = ClassLoss { reduction: reduction(c, "none")?, ..ClassLoss::default() };
            F::nll_loss(&a, &b.to_dtype(psionic_array::DType::I64), &o)
        }
        "kl_div_loss" => {
            // MLX: sum over the last axis of exp(t) (t - x), both log-probabilities.
            let per = F::kl_div(&a, &b, KlReduction::None, true).sum(-1, false);
            reduction(c, "none")?.apply(per)
        }
        other => return unsupported(format!("nn.losses.{other}: no mapping")),
    };
    Ok(Val::T(out))
}

fn dict(v: &Val) -> R<&BTreeMap<String, Val>> {
    match v {
        Val::Dict(d) => Ok(d),
        _ => unsupported("expected a dict of arrays"),
    }
}

/// `opt.apply_gradients(g, params)` for each gradient tree; the parameters after each.
pub fn apply_gradients(c: &Call) -> R<Val> {
    let params = dict(c.arg(0, "params")?)?;
    let Val::List(grads) = c.arg(1, "grads")? else { return unsupported("grads list") };
    let Val::Str(name) = c.arg(2, "name")? else { return unsupported("optimizer name") };
    let names: Vec<&String> = params.keys().collect();
    let ps: Vec<Tensor> = names.iter().map(|n| params[*n].tensor().map(|t| t.deep_clone())).collect::<R<_>>()?;
    let f = |k: &str, d: f64| c.kw(k).map_or(Ok(d), Val::f64);
    let lr = f("learning_rate", 0.0)?;
    let mut opt: Box<dyn Optimizer> = match name.as_str() {
        "SGD" => Box::new(Optim::new(
            ps.clone(),
            Sgd {
                momentum: f("momentum", 0.0)?,
                weight_decay: f("weight_decay", 0.0)?,
                dampening: f("dampening", 0.0)?,
                nesterov: Call::flag(c.kw("nesterov"), false)?,
                ..Sgd::new(lr)
            },
        )),
        "Adam" | "AdamW" => {
            let base = if name == "AdamW" {
                Adam { weight_decay: f("weight_decay", 0.01)?, ..Adam::adamw(lr) }
            } else {
                Adam::new(lr)
            };
            let rule =
                Adam { eps: f("eps", 1e-8)?, bias_correction: Call::flag(c.kw("bias_correction"), false)?, ..base };
            Box::new(Optim::new(ps.clone(), rule))
        }
        "RMSprop" => Box::new(Optim::new(
            ps.clone(),
            RmsProp { alpha: f("alpha", 0.99)?, eps: f("eps", 1e-8)?, ..RmsProp::new(lr) },
        )),
        "Adagrad" => Box::new(Optim::new(ps.clone(), Adagrad { eps: f("eps", 1e-8)?, ..Adagrad::new(lr) })),
        "Lion" => Box::new(Optim::new(ps.clone(), Lion { weight_decay: f("weight_decay", 0.0)?, ..Lion::new(lr) })),
        other => return unsupported(format!("optimizers.{other}: no mapping")),
    };
    let mut steps = vec![];
    for g in grads {
        let g = dict(g)?;
        for (n, p) in names.iter().zip(&ps) {
            p.set_grad(Some(
                g.get(*n).map_or_else(|| unsupported("gradient for every parameter"), |v| v.tensor().cloned())?,
            ));
        }
        opt.step();
        steps.push(Val::Dict(
            names.iter().zip(&ps).map(|(n, p)| ((*n).clone(), Val::T(p.detach().deep_clone()))).collect(),
        ));
    }
    Ok(Val::List(steps))
}
