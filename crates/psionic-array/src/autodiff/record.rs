//! Recording for backward, as an interpreter of the build path: while grad mode is on, a
//! node with a float output and an input that requires grad keeps its inputs (its
//! `edges`), and stamps the versions of the values its vjp rule reads
//! (`Primitive::saves`) so backward can refuse after an in-place write, as PyTorch does.

use crate::interp::{register, Interpreter};
use crate::mode::is_grad_enabled;
use crate::node::Node;
use crate::prim::Meta;
use crate::slot::{GradSlot, SavedVersion};
use crate::tensor::Tensor;
use std::sync::Arc;

struct Record;

static RECORD: Record = Record;

impl Interpreter for Record {
    fn name(&self) -> &'static str {
        "record"
    }
    fn active(&self) -> bool {
        is_grad_enabled()
    }
    fn records(&self, meta: &Meta, inputs: &[Arc<Node>]) -> bool {
        meta.dtype.is_float() && inputs.iter().any(|n| n.requires_grad())
    }
    fn watches(&self) -> bool {
        false
    }
    fn made(&self, node: &Arc<Node>, inputs: &[&Tensor], out: &Tensor) {
        let saves = node.prim.saves();
        if saves.inputs == 0 && !saves.output {
            return;
        }
        let mut saved = node.ad.saved.lock().unwrap();
        for (i, t) in inputs.iter().enumerate().filter(|&(i, _)| i < 64 && saves.inputs >> i & 1 == 1) {
            saved.push(SavedVersion { counter: t.counter().clone(), at: t.version(), input: Some(i) });
        }
        if saves.output {
            saved.push(SavedVersion { counter: out.counter().clone(), at: out.version(), input: None });
        }
    }
}

/// A new gradient slot. Only nodes with a slot (leaves that require grad) or recorded
/// inputs require grad, so recording is registered here, before anything can need it.
pub(crate) fn new_slot() -> Arc<GradSlot> {
    register(&RECORD);
    Arc::new(GradSlot::default())
}
