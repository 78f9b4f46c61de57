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
