//! The graph beneath tensors, for tools that work on whole graphs (the compiler): a
//! tensor's current node, a node as a tensor, applying a primitive as an op would, and
//! symbolic values that have a shape and dtype but no data.
//!
//! Everything here goes through the same `build` as the ops, so a primitive applied here
//! is recorded for autograd, batched inside `vmap` and given a tangent inside `jvp`
//! exactly as when an op applies it.

use crate::node::Node;
use crate::prim::{Meta, Prim};
use crate::tensor::Tensor;
use psionic_core::{DType, Device, Result};
use std::sync::Arc;

/// The node holding `t`'s current value.
pub fn node(t: &Tensor) -> Arc<Node> {
    t.node()
}

/// A tensor whose value is `node`.
pub fn tensor(node: Arc<Node>) -> Tensor {
    Tensor::from_node(node)
}

/// `prim` applied to `inputs`: shape and dtype inferred (errors returned, not raised),
/// evaluated unless lazy, recorded, batched and differentiated forward like any op.
pub fn apply(prim: Prim, inputs: &[&Tensor]) -> Result<Tensor> {
    Tensor::make(prim, inputs)
}

/// A value with this shape and dtype and no data: what a tracer hands a function. Ops on
/// it build nodes (in a lazy scope); asking for its values is refused.
pub fn symbolic(shape: &[usize], dtype: DType, device: Device) -> Tensor {
    Tensor::from_node(Node::new(
        Prim::Placeholder(crate::prim::Placeholder),
        Default::default(),
        Meta::new(shape.to_vec(), dtype),
        device,
        false,
    ))
}

/// The inputs of a node that has not been evaluated (evaluation drops them).
pub fn pending_inputs(node: &Node) -> Vec<Arc<Node>> {
    node.inputs.lock().unwrap().to_vec()
}

/// The identity of `t`'s handle: equal for clones of one handle (tied weights), not for
/// equal values.
pub fn identity(t: &Tensor) -> usize {
    Arc::as_ptr(&t.0) as usize
}

/// Points `t` at a fresh symbolic value of its shape and dtype, for a tracer that reads
/// `t` as an implicit input (a compiled step's parameters and optimizer state). A leaf
/// that requires grad stays one: the stand-in carries the same `.grad` slot, so a
/// backward pass traced through it accumulates where the real leaf's would. Returns the
/// stand-in and the node it replaced (which [`restore`] puts back). Views are refused:
/// their value belongs to their base.
pub fn stand_in(t: &Tensor, who: &'static str) -> Result<(Arc<Node>, Arc<Node>)> {
    if t.is_view() {
        return Err(psionic_core::Error::invalid(
            who,
            "a state tensor is a view of another tensor; pass its base as state instead",
        ));
    }
    let old = t.node();
    let p = Node::new(
        Prim::Placeholder(crate::prim::Placeholder),
        Default::default(),
        Meta::new(old.meta.shape.to_vec(), old.meta.dtype),
        old.device,
        false,
    );
    if let (true, Some(slot)) = (old.is_grad_leaf(), old.ad.slot.get()) {
        let _ = p.ad.slot.set(slot.clone());
    }
    t.set_node(p.clone());
    Ok((p, old))
}

/// Puts back the node [`stand_in`] replaced.
pub fn restore(t: &Tensor, node: Arc<Node>) {
    t.set_node(node);
}

/// Gives `t` the value `value` as an unrecorded in-place write (an optimizer's
/// `p.copy_(new)` under `no_grad`): a leaf stays the same leaf, the version moves so
/// views re-derive and saved values are known stale, and no data is copied.
pub fn write_state(t: &Tensor, value: &Tensor, who: &'static str) -> Result<()> {
    if value.shape() != t.shape() || value.dtype() != t.dtype() {
        return Err(psionic_core::Error::invalid(
            who,
            format!(
                "a state tensor of shape {:?} and dtype {} was given a value of shape {:?} and dtype {}; a compiled function must keep its state's shapes and dtypes",
                t.shape(),
                t.dtype(),
                value.shape(),
                value.dtype()
            ),
        ));
    }
    let _mode = crate::mode::GradModeGuard::new(false);
    t.assign(value)
}

/// Whether `t`'s values can be computed: false inside a traced or vmapped function for
/// a value that depends on its symbolic inputs. A check that reads values (a loss's
/// target bounds) is skipped where they cannot be read and left to the kernel that
/// indexes with them, which checks again when it runs.
pub fn values_available(t: &Tensor) -> bool {
    let mut stack = vec![t.node()];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if n.is_evaluated() || !seen.insert(Arc::as_ptr(&n)) {
            continue;
        }
        if matches!(n.prim, Prim::Placeholder(_)) {
            return false;
        }
        stack.extend(pending_inputs(&n));
    }
    true
}
