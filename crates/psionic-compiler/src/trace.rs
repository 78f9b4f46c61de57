//! Tracing: the function runs once on symbolic inputs in a lazy scope, so every op it
//! applies becomes a pending node; walking back from its outputs gives the graph.

use psionic_array::graph::{self, symbolic};
use psionic_array::mode::GradModeGuard;
use psionic_array::node::Node;
use psionic_array::prim::{Meta, Prim};
use psionic_array::{fallible, lazy, Tensor};
use psionic_core::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a value of the graph comes from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Slot {
    /// Argument `i` of the call.
    Input(usize),
    /// A value that existed before the trace (`Graph::consts`): data the function built
    /// from literals, tensors it read from its closure (a layer's weights, kept as
    /// nodes so gradients still reach them).
    Const(usize),
    /// The result of `Graph::ops[i]`.
    Op(usize),
}

/// One primitive applied to earlier slots, with the output's shape and dtype at the
/// trace (fusion and memory planning read them).
#[derive(Clone, Debug)]
pub struct Step {
    pub prim: Prim,
    pub inputs: Vec<Slot>,
    pub meta: Meta,
}

/// A traced function: its primitives in an order where inputs come first, the values it
/// read from outside, and which slots are its outputs.
#[derive(Clone, Debug)]
pub struct Graph {
    pub n_inputs: usize,
    pub consts: Vec<Arc<Node>>,
    pub ops: Vec<Step>,
    pub outputs: Vec<Slot>,
}

/// Runs `f` on symbolic stand-ins for `args` and reads back its graph. `implicit` are
/// stand-ins already placed where `f` reads them (a compiled step's state): they become
/// the inputs after the arguments. `grad` is the grad mode `f` runs in: off for a pure
/// function, whose gradients come from replaying it under the caller's grad mode; the
/// caller's for a step with state, whose backward passes are part of what is traced.
pub fn trace(
    f: &dyn Fn(&[Tensor]) -> Vec<Tensor>,
    args: &[Tensor],
    implicit: &[Arc<Node>],
    grad: bool,
) -> Result<Graph> {
    let inputs: Vec<Tensor> = args.iter().map(|a| symbolic(&a.shape(), a.dtype(), a.device())).collect();
    let input_nodes: Vec<Arc<Node>> = inputs.iter().map(graph::node).collect();
    let outs = fallible(|| {
        lazy(|| {
            let _mode = GradModeGuard::new(grad);
            f(&inputs)
        })
    })?;
    for (i, (t, n)) in inputs.iter().zip(&input_nodes).enumerate() {
        if !Arc::ptr_eq(&graph::node(t), n) {
            return Err(Error::invalid(
                "compile",
                format!("the function writes to its argument {i} in place; a compiled function must not modify its arguments (return the new value instead)"),
            ));
        }
    }
    let mut g = Graph { n_inputs: args.len() + implicit.len(), consts: vec![], ops: vec![], outputs: vec![] };
    let mut slots: HashMap<*const Node, Slot> =
        input_nodes.iter().chain(implicit).enumerate().map(|(i, n)| (Arc::as_ptr(n), Slot::Input(i))).collect();
    for o in &outs {
        let slot = visit(&mut g, &mut slots, graph::node(o));
        g.outputs.push(slot);
    }
    Ok(g)
}

/// Adds `root` and everything it needs to `g` (post-order, no recursion: traced graphs
/// of long loops are deep) and returns its slot.
fn visit(g: &mut Graph, slots: &mut HashMap<*const Node, Slot>, root: Arc<Node>) -> Slot {
    let mut stack = vec![(root.clone(), false)];
    while let Some((n, expanded)) = stack.pop() {
        let key = Arc::as_ptr(&n);
        if slots.contains_key(&key) {
            continue;
        }
        // Values from outside the trace: evaluated data, or a symbolic value of an
        // enclosing transform (a vmapped example the function closes over).
        if n.is_evaluated() || matches!(n.prim, Prim::Placeholder(_) | Prim::Const(_)) {
            slots.insert(key, Slot::Const(g.consts.len()));
            g.consts.push(n);
            continue;
        }
        let inputs = graph::pending_inputs(&n);
        if expanded {
            let ins = inputs.iter().map(|i| slots[&Arc::as_ptr(i)]).collect();
            slots.insert(key, Slot::Op(g.ops.len()));
            g.ops.push(Step { prim: n.prim.clone(), inputs: ins, meta: n.meta.clone() });
            continue;
        }
        stack.push((n.clone(), true));
        stack.extend(inputs.into_iter().rev().map(|i| (i, false)));
    }
    slots[&Arc::as_ptr(&root)]
}
