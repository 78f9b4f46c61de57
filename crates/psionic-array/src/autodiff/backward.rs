//! The one backward walker, used by `Tensor::backward`, `autograd::grad` and the
//! functional transforms (`grad`, `vjp`, `value_and_grad`).
//!
//! It orders the recorded graph topologically (each node once), then walks it from the
//! outputs back, calling each node's vjp rule once with the sum of the gradients its
//! consumers sent. Sums are taken in a fixed order (the order consumers are reached), so
//! gradients are deterministic.

use super::mode::{is_anomaly_enabled, GradModeGuard};
use super::sums::{add_to, Sums};
use crate::node::{Inputs, Node};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

pub(crate) struct Opts {
    pub retain_graph: bool,
    pub create_graph: bool,
}

fn freed_error() -> Error {
    Error::invalid(
        "backward",
        "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.",
    )
}

/// The recorded inputs of `n` (empty for leaves).
pub(crate) fn edges(n: &Arc<Node>) -> Result<Inputs> {
    if !n.ad.recorded {
        return Ok(Inputs::new());
    }
    n.ad.edges.lock().unwrap().clone().ok_or_else(freed_error)
}

/// A node with its recorded inputs.
type WithEdges = (Arc<Node>, Inputs);

/// Nodes reachable from `roots` through recorded edges, children before parents, each
/// with its edges (read once here, then reused by the walk).
fn topo(roots: &[Arc<Node>]) -> Result<Vec<WithEdges>> {
    let mut order = vec![];
    let mut seen = std::collections::HashSet::new();
    // `Some(edges)` marks a node whose children were pushed: it is done when popped again.
    let mut stack: Vec<(Arc<Node>, Option<_>)> = roots.iter().rev().map(|r| (r.clone(), None)).collect();
    while let Some((n, done)) = stack.pop() {
        if let Some(es) = done {
            order.push((n, es));
            continue;
        }
        if !seen.insert(key(&n)) {
            continue;
        }
        let es = edges(&n)?;
        let children: Vec<Arc<Node>> =
            es.iter().rev().filter(|e| e.requires_grad() && !seen.contains(&key(e))).cloned().collect();
        stack.push((n, Some(es)));
        stack.extend(children.into_iter().map(|e| (e, None)));
    }
    Ok(order)
}

/// Runs backward from `roots` (each with its output gradient).
///
/// With `targets`, returns the gradient reaching each target node and touches no `.grad`
/// (PyTorch's `autograd.grad`); without, accumulates into leaves' `.grad` and retained
/// gradients (`backward`). Hooks run on the total gradient of their node either way.
pub(crate) fn run(
    roots: Vec<(Arc<Node>, Tensor)>,
    targets: Option<&[Arc<Node>]>,
    opts: &Opts,
) -> Result<Vec<Option<Tensor>>> {
    // Gradients are computed in the dtypes the forward pass chose, as PyTorch's engine
    // (whose threads do not inherit autocast) computes them.
    let _autocast = crate::autocast::AutocastGuard::new(None);
    let root_nodes: Vec<Arc<Node>> = roots.iter().map(|(n, _)| n.clone()).collect();
    let order = topo(&root_nodes)?;
    let target_keys: HashMap<usize, usize> =
        targets.unwrap_or(&[]).iter().enumerate().map(|(i, t)| (key(t), i)).rev().collect();
    // With targets, only nodes from which a target is reachable need their rule run.
    let mut needed: HashMap<usize, bool> = HashMap::new();
    for (n, es) in &order {
        let reach = targets.is_none()
            || target_keys.contains_key(&key(n))
            || es.iter().any(|e| needed.get(&key(e)).copied().unwrap_or(false));
        needed.insert(key(n), reach);
    }
    let mut grads = Sums::default();
    let _mode = GradModeGuard::new(opts.create_graph);
    for (n, g) in roots {
        grads.add(key(&n), g)?;
    }
    let mut results: Vec<Option<Tensor>> = vec![None; targets.map_or(0, |t| t.len())];
    // Consumed in order, so each node's edges are dropped as soon as its rule has run.
    for (n, ins) in order.into_iter().rev() {
        let k = key(&n);
        if !needed.get(&k).copied().unwrap_or(false) {
            continue;
        }
        let Some(mut g) = grads.take(k)? else { continue };
        if let Some(slot) = n.ad.slot.get() {
            let hooks = slot.hooks.lock().unwrap().clone();
            for h in hooks {
                if let Some(new) = h(&g) {
                    g = new;
                }
            }
            if targets.is_none() {
                if n.is_grad_leaf() {
                    // PyTorch's layout contract: a leaf's `.grad` is dense, even when the
                    // rule produced a view (a weight used as `w.t()` gets a transposed
                    // gradient); optimizers then stream it instead of gathering it in
                    // every one of their elementwise steps.
                    let g = if g.is_contiguous() { g.clone() } else { g.contiguous() };
                    let mut cur = slot.grad.lock().unwrap();
                    *cur = Some(add_to(cur.take(), g));
                } else if slot.retains() {
                    *slot.grad.lock().unwrap() = Some(g.clone());
                }
            }
        }
        if let Some(&i) = target_keys.get(&k) {
            results[i] = Some(g.clone());
        }
        if !n.ad.recorded {
            continue;
        }
        for s in n.ad.saved.lock().unwrap().iter() {
            if s.current() != s.at {
                let role = s.input.map_or("output 0".to_string(), |i| format!("input {i}"));
                let meta = s.input.map_or(&n.meta, |i| &ins[i].meta);
                return Err(Error::invalid(
                    "backward",
                    format!(
                        "one of the variables needed for gradient computation has been modified by an inplace operation: [{} {:?}], which is {role} of {}, is at version {}; expected version {} instead.",
                        meta.dtype.name(),
                        meta.shape,
                        n.prim.backward_name(),
                        s.current(),
                        s.at
                    ),
                ));
            }
        }
        let needs: Vec<bool> =
            ins.iter().map(|e| e.requires_grad() && needed.get(&key(e)).copied().unwrap_or(false)).collect();
        // A select's or slice's gradient waits as a piece of its input's (see `sums`);
        // anomaly mode checks every rule's output, so it runs the rule instead.
        if let Prim::View(v) = &n.prim {
            let plain = !is_anomaly_enabled() && !super::vmap::is_batched(&g.node());
            if needs[0] && plain && grads.add_view(key(&ins[0]), v, &ins[0], &g) {
                release(&n, opts);
                continue;
            }
        }
        let xs: Vec<Tensor> = ins.iter().map(|e| Tensor::from_node(e.clone())).collect();
        let y = Tensor::from_node(n.clone());
        let gi = crate::mode::fallible(|| n.prim.vjp(&xs, &y, &g, &needs, &super::fallback::Transforms))??;
        for (i, (e, gin)) in ins.iter().zip(gi).enumerate() {
            let Some(gin) = gin else { continue };
            if !needs[i] {
                continue;
            }
            let gin = if gin.dtype() != e.meta.dtype { gin.to_dtype(e.meta.dtype) } else { gin };
            debug_assert_eq!(gin.shape()[..], e.meta.shape[..], "{:?} input {i}", n.prim);
            // Values of a batched gradient cannot be read inside vmap: not checked there.
            if is_anomaly_enabled() && !super::vmap::is_batched(&gin.node()) && !gin.isfinite().all().item::<bool>() {
                return Err(Error::invalid(
                    "backward",
                    format!("Function '{}' returned nan values in its {i}th output.", n.prim.backward_name()),
                ));
            }
            grads.add(key(e), gin)?;
        }
        release(&n, opts);
    }
    Ok(results)
}

/// Drops `n`'s edges and saved values once its rule has run, unless the graph is kept.
fn release(n: &Node, opts: &Opts) {
    if !opts.retain_graph {
        *n.ad.edges.lock().unwrap() = None;
        n.ad.saved.lock().unwrap().clear();
    }
}
