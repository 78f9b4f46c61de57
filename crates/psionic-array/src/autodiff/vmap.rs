//! `vmap`: runs a per-example function over a batch by batching rules, never by a loop
//! over the batch (except for a custom function without a vmap rule, which is reported).
//!
//! Inside `vmap` the function sees *placeholders*: tensors with one example's shape whose
//! values exist only in a batched *twin* (the physical tensor, batch in dim 0). Every node
//! built from a placeholder (in `tensor::build`) is itself a placeholder-derived node,
//! never evaluated, and gets its twin from the primitive's batching rule
//! (`Primitive::batch`). The rule for level L runs with L and the levels above it hidden,
//! so nested `vmap`s batch their own dims, and since rules are ordinary ops they are
//! recorded for `grad` and pushed through `jvp` like any other computation: `vmap` of
//! `grad`, `grad` of `vmap` and `jvp` of `vmap` compose.

use super::levels::{push, Stack};
use super::tree::Tree;
use crate::interp::{register, Interpreter};
use crate::mode::{check, raise};
use crate::node::Node;
use crate::prim::broadcast;
use crate::prim::{Meta, Prim};
use crate::tensor::Tensor;
use psionic_core::{normalize_dim, Error, Result};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

struct Level {
    size: usize,
    /// `Node::seq` when the level began: older nodes come from outside the function.
    start: u64,
    /// Physical twin (batch in dim 0) of each node of this level, keyed by node address;
    /// the node is kept alive with it so the address is not reused.
    twins: HashMap<usize, (Arc<Node>, Tensor)>,
}

thread_local! {
    static LEVELS: Stack<Level> = const { Stack::new() };
}

fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

/// True when some `vmap` is running on this thread (the cheap check `build` makes).
pub(crate) fn active() -> bool {
    LEVELS.with(|s| s.active())
}

fn twin(level: usize, n: &Arc<Node>) -> Option<Tensor> {
    LEVELS.with(|s| s.get(level, |l| l.twins.get(&key(n)).map(|(_, t)| t.clone())).flatten())
}

/// True when `n` stands for a batched value of a running `vmap` (its values are not
/// available; code that reads values must take another path).
pub(crate) fn is_batched(n: &Arc<Node>) -> bool {
    active() && LEVELS.with(|s| s.any(|l| l.twins.contains_key(&key(n))))
}

/// True when `new` is batched but `old` is not and was made outside the innermost
/// running `vmap`: writing `new` into the tensor holding `old` would make a tensor of the
/// caller's hold one value per example. (Tensors made inside may become batched.)
fn batched_write_to_outside(old: &Arc<Node>, new: &Arc<Node>) -> bool {
    if !is_batched(new) || is_batched(old) {
        return false;
    }
    LEVELS.with(|s| s.get(s.len() - 1, |l| old.seq < l.start)).unwrap_or(false)
}

/// Batching as an interpreter of the build path: a node built with a batched input is
/// claimed (never evaluated) and gets its twin ([`on_build`]).
struct Batching;

static BATCHING: Batching = Batching;

impl Interpreter for Batching {
    fn name(&self) -> &'static str {
        "vmap"
    }
    fn active(&self) -> bool {
        active()
    }
    fn claims(&self, node: &Arc<Node>, inputs: &[Arc<Node>]) -> bool {
        on_build(node, inputs)
    }
    fn check_write(&self, old: &Arc<Node>, new: &Arc<Node>) -> Result<()> {
        if batched_write_to_outside(old, new) {
            return Err(Error::invalid(
                "vmap",
                "in-place write of a batched value into a tensor from outside the vmapped function (it is the same for every example, so it cannot hold one value per example); use the out-of-place op instead",
            ));
        }
        Ok(())
    }
    fn hides_values(&self, node: &Arc<Node>) -> bool {
        is_batched(node)
    }
}

/// Runs `f` with every `vmap` level hidden.
pub(crate) fn suspended<R>(f: impl FnOnce() -> R) -> R {
    LEVELS.with(|s| s.below(0, f))
}

/// Called for every node built while a `vmap` is active. A node with a batched input gets
/// a twin at the innermost level where it has one (outer levels are reached through the
/// rule's own ops), and is then left unevaluated: returns true for such a node.
fn on_build(node: &Arc<Node>, inputs: &[Arc<Node>]) -> bool {
    let n_levels = LEVELS.with(|s| s.len());
    for level in (0..n_levels).rev() {
        let phys: Vec<Option<Tensor>> = inputs.iter().map(|i| twin(level, i)).collect();
        if phys.iter().all(Option::is_none) {
            continue;
        }
        let size = LEVELS.with(|s| s.get(level, |l| l.size)).expect("level exists");
        let out = LEVELS.with(|s| {
            s.below(level, || {
                let xs: Vec<Tensor> = inputs.iter().map(|i| Tensor::from_node(i.clone())).collect();
                check(node.prim.batch(&xs, &phys, size, &super::fallback::Transforms))
            })
        });
        debug_assert_eq!(out.shape()[1..], node.meta.shape[..], "{:?}", node.prim);
        LEVELS.with(|s| s.get_mut(level, |l| l.twins.insert(key(node), (node.clone(), out))));
        return true;
    }
    false
}

/// One axis per argument: a single entry applies to all of them (JAX's `in_axes=0`).
fn spread(who: &str, what: &str, axes: &[Option<i64>], n: usize) -> Vec<Option<i64>> {
    match axes.len() {
        1 => vec![axes[0]; n],
        k if k == n => axes.to_vec(),
        k => raise(Error::invalid("vmap", format!("{who} has {k} entries but there are {n} {what}"))),
    }
}

/// `mx.vmap(f, in_axes, out_axes)` / `jax.vmap`: `f` applied to every slice of its
/// inputs along their mapped axes, as one batched computation.
///
/// `in_axes[i]` is the mapped axis of input `i` (`None`: the same value for every
/// example); `out_axes[j]` is where output `j` gets the batch axis (`None`: the output
/// must not depend on the batch). A one-entry list applies to every input or output.
/// Outputs that do not depend on the batch are broadcast along it.
///
/// ```
/// use psionic_array::{autodiff::vmap, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// let w = Tensor::from_vec(vec![1.0f32, 0.0, -1.0], &[3]);
/// let dot = vmap(|a: &[Tensor]| vec![(&a[0] * &a[1]).sum_all()], &[Some(0), None], &[Some(0)]);
/// assert_eq!(dot(&[x, w])[0].to_vec::<f32>(), vec![-2.0, -2.0]);
/// ```
pub fn vmap<F>(f: F, in_axes: &[Option<i64>], out_axes: &[Option<i64>]) -> impl Fn(&[Tensor]) -> Vec<Tensor>
where
    F: Fn(&[Tensor]) -> Vec<Tensor>,
{
    let (in_axes, out_axes) = (in_axes.to_vec(), out_axes.to_vec());
    move |xs: &[Tensor]| run(&f, xs, &in_axes, &out_axes)
}

#[track_caller]
fn run(
    f: &dyn Fn(&[Tensor]) -> Vec<Tensor>,
    xs: &[Tensor],
    in_axes: &[Option<i64>],
    out_axes: &[Option<i64>],
) -> Vec<Tensor> {
    let axes = spread("in_axes", "inputs", in_axes, xs.len());
    let start = Node::next_seq();
    let mut size: Option<(usize, usize, usize)> = None;
    let mut twins = HashMap::new();
    let mut args = Vec::with_capacity(xs.len());
    for (i, (x, axis)) in xs.iter().zip(&axes).enumerate() {
        let Some(axis) = axis else {
            args.push(x.clone());
            continue;
        };
        if x.dim() == 0 {
            raise(Error::invalid("vmap", format!("vmap was asked to map input {i} along axis {axis}, but it is 0-d")));
        }
        let a = check(normalize_dim("vmap", *axis, x.dim()));
        let n = x.size(a as i64);
        match size {
            Some((s, j, aj)) if s != n => raise(Error::shape(
                "vmap",
                format!("inconsistent sizes for the mapped axis: input {j} has size {s} along axis {aj}, input {i} has size {n} along axis {a}"),
            )),
            None => size = Some((n, i, a)),
            _ => {}
        }
        let phys = x.movedim(&[a as i64], &[0]);
        let mut shape = x.shape();
        shape.remove(a);
        let node = Node::new(
            Prim::Placeholder(crate::prim::Placeholder),
            Default::default(),
            Meta::new(shape, x.dtype()),
            x.device(),
            false,
        );
        twins.insert(key(&node), (node.clone(), phys));
        args.push(Tensor::from_node(node));
    }
    let Some((size, ..)) = size else {
        raise(Error::invalid("vmap", "at least one input must be mapped (every in_axes entry is None)"))
    };
    register(&BATCHING);
    let pop = push(&LEVELS, Level { size, start, twins });
    let outs = f(&args);
    let phys: Vec<Option<Tensor>> = outs.iter().map(|o| twin(pop.level, &o.node())).collect();
    drop(pop);
    let axes = spread("out_axes", "outputs", out_axes, outs.len());
    outs.iter()
        .zip(phys)
        .zip(axes)
        .enumerate()
        .map(|(j, ((o, p), axis))| match (p, axis) {
            (Some(_), None) => raise(Error::invalid(
                "vmap",
                format!("output {j} depends on the mapped inputs but out_axes[{j}] is None"),
            )),
            (None, None) => o.clone(),
            (p, Some(axis)) => {
                let p = p.unwrap_or_else(|| broadcast(o, size));
                let a = check(normalize_dim("vmap", axis, p.dim()));
                p.movedim(&[0], &[a as i64])
            }
        })
        .collect()
}

/// `vmap` over trees: every leaf of the input tree is mapped along `in_axis`, every leaf
/// of the output tree gets the batch along `out_axis`.
pub fn vmap_tree<F>(f: F, in_axis: Option<i64>, out_axis: Option<i64>) -> impl Fn(&Tree) -> Tree
where
    F: Fn(&Tree) -> Tree,
{
    move |t: &Tree| {
        let shape = RefCell::new(None);
        let leaves = run(
            &|xs: &[Tensor]| {
                let out = f(&t.unflatten(xs));
                let leaves = out.flatten();
                *shape.borrow_mut() = Some(out);
                leaves
            },
            &t.flatten(),
            &[in_axis],
            &[out_axis],
        );
        shape.into_inner().expect("f ran").unflatten(&leaves)
    }
}

/// Custom functions run one example at a time because they have no vmap rule, with the
/// number of such calls: the loop fallback, reported rather than silent.
pub fn vmap_fallbacks() -> Vec<(String, usize)> {
    FALLBACKS.lock().unwrap().iter().map(|(k, v)| (k.clone(), *v)).collect()
}

static FALLBACKS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Notes a loop fallback for `name`, warning once per name on stderr.
pub(crate) fn report_fallback(name: &str) {
    let mut m = FALLBACKS.lock().unwrap();
    let n = m.entry(name.to_string()).or_insert(0);
    if *n == 0 {
        eprintln!(
            "psionic: vmap: custom function '{name}' has no vmap rule; running it once per example (slow). Give it one with CustomFunction::with_vmap."
        );
    }
    *n += 1;
}
