//! Forward mode: `jvp` pushes tangents through the computation as it runs.
//!
//! Each active `jvp` is a level holding a tangent per node. Every node built while a level
//! is active (in `tensor::build`) gets its output tangent from the primitive's jvp rule.
//! A rule for level L runs with levels L and above suspended, so its own ops are not
//! mistaken for the function's (no perturbation confusion), while lower levels still see
//! them: jvp of jvp works, and rules are recorded for grad when grad mode is on.

use super::functional::check_same_shape;
use super::levels::{push, Stack};
use super::tensor_api::{try_grad, GradOpts};
use crate::interp::{register, Interpreter};
use crate::mode::{check, raise};
use crate::node::Node;
use crate::prim::{Jvp, Prim};
use crate::tensor::{alias, Tensor};
use psionic_core::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Tangents of one level, keyed by node address (the node is kept alive with it, so the
/// address is not reused while the level lives).
type Level = HashMap<usize, (Arc<Node>, Tensor)>;

thread_local! {
    static LEVELS: Stack<Level> = const { Stack::new() };
}

pub(crate) fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

/// True when some `jvp` is running on this thread (the cheap check `build` makes).
pub(crate) fn active() -> bool {
    LEVELS.with(|s| s.active())
}

/// Forward mode as an interpreter of the build path: each node built while a level runs
/// gets its tangents ([`on_build`]).
struct Forward;

static FORWARD: Forward = Forward;

impl Interpreter for Forward {
    fn name(&self) -> &'static str {
        "jvp"
    }
    fn active(&self) -> bool {
        active()
    }
    fn built(&self, node: &Arc<Node>, inputs: &[Arc<Node>]) {
        on_build(node, inputs);
    }
}

fn tangent(level: usize, n: &Arc<Node>) -> Option<Tensor> {
    LEVELS.with(|s| s.get(level, |m| m.get(&key(n)).map(|(_, t)| t.clone())).flatten())
}

/// Runs `f` with every `jvp` level hidden (a custom function's forward pass, whose
/// tangents come from its own rule).
pub(crate) fn suspended<R>(f: impl FnOnce() -> R) -> R {
    LEVELS.with(|s| s.below(0, f))
}

/// Called for every node built while a `jvp` is active: gives it a tangent at each level
/// where one of its inputs has one.
fn on_build(node: &Arc<Node>, inputs: &[Arc<Node>]) {
    if !node.meta.dtype.is_float() {
        return;
    }
    let n_levels = LEVELS.with(|s| s.len());
    for level in (0..n_levels).rev() {
        let ts: Vec<Option<Tensor>> = inputs.iter().map(|i| tangent(level, i)).collect();
        if ts.iter().all(Option::is_none) {
            continue;
        }
        let t = LEVELS.with(|s| {
            s.below(level, || {
                let xs: Vec<Tensor> = inputs.iter().map(|i| Tensor::from_node(i.clone())).collect();
                let y = Tensor::from_node(node.clone());
                check(rule(&node.prim, &xs, &y, &ts))
            })
        });
        let t = if t.dtype() != node.meta.dtype { t.to_dtype(node.meta.dtype) } else { t };
        LEVELS.with(|s| s.get_mut(level, |m| m.insert(key(node), (node.clone(), t))));
    }
}

/// The output tangent of `prim` at inputs `x` (output `y`) for input tangents `t`.
fn rule(prim: &Prim, x: &[Tensor], y: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
    match prim.jvp(x, y, t, &super::fallback::Transforms)? {
        Jvp::Tangent(t) => Ok(t),
        Jvp::Transpose => transpose(prim, x, y, t),
    }
}

/// `J t` from the vjp rule alone: the rule is linear in its cotangent `u`, so
/// `J t = d/du <vjp(u), t>` at any `u`. Ones, not zeros: a rule may split `u` by sign
/// (logcumsumexp), which is linear on each side but not differentiable at zero.
fn transpose(prim: &Prim, x: &[Tensor], y: &Tensor, t: &[Option<Tensor>]) -> Result<Tensor> {
    let _g = super::mode::EnableGradGuard::new();
    let u = y.ones_like().requires_grad_(true).clone();
    let needs: Vec<bool> = t.iter().map(Option::is_some).collect();
    let gs = prim.vjp(x, y, &u, &needs, &super::fallback::Transforms)?;
    let mut s = Tensor::zeros(&[], y.dtype());
    for (g, ti) in gs.iter().zip(t) {
        if let (Some(g), Some(ti)) = (g, ti) {
            s = &s + &(g * ti).sum_all();
        }
    }
    if !s.requires_grad() {
        return Ok(y.zeros_like());
    }
    let r = try_grad(&[&s], &[&u], GradOpts { create_graph: true, allow_unused: true, ..Default::default() })?;
    Ok(r.into_iter().next().flatten().unwrap_or_else(|| y.zeros_like()))
}

/// `mx.jvp(f, primals, tangents)`: the outputs of `f` and their directional derivatives
/// along `tangents`, computed in one forward pass.
#[track_caller]
pub fn jvp(
    f: impl FnOnce(&[Tensor]) -> Vec<Tensor>,
    primals: &[Tensor],
    tangents: &[Tensor],
) -> (Vec<Tensor>, Vec<Tensor>) {
    if primals.len() != tangents.len() {
        raise(Error::invalid("jvp", format!("{} primals but {} tangents", primals.len(), tangents.len())));
    }
    for (i, (p, t)) in primals.iter().zip(tangents).enumerate() {
        check_same_shape("jvp", ("tangent", t), ("primal", p), i);
    }
    // Fresh nodes for the primals, so tangents attach to this level's inputs only.
    let xs: Vec<Tensor> = primals.iter().map(|p| Tensor::from_node(check(alias(&p.node())))).collect();
    let mut m = Level::new();
    for (x, t) in xs.iter().zip(tangents) {
        if x.dtype().is_float() {
            let n = x.node();
            m.insert(key(&n), (n, t.to_dtype(x.dtype())));
        }
    }
    register(&FORWARD);
    let pop = push(&LEVELS, m);
    let outs = f(&xs);
    // An output with no tangent gets zeros; a non-float output (a comparison) gets them in
    // the tangents' dtype, as MLX does, since a bool tangent is no use downstream.
    let tangent_dtype = tangents.first().map_or(psionic_core::DType::default_float(), Tensor::dtype);
    let zero = |o: &Tensor| {
        if o.dtype().is_float() {
            o.zeros_like()
        } else {
            Tensor::zeros(&o.shape(), tangent_dtype)
        }
    };
    let tans = outs.iter().map(|o| tangent(pop.level, &o.node()).unwrap_or_else(|| zero(o))).collect();
    drop(pop);
    (outs, tans)
}
