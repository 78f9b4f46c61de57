//! The transforms the build path runs. Every node `tensor::build` makes is shown to the
//! interpreters the autodiff layer registered (recording for backward, forward-mode
//! levels, vmap levels) that are active on this thread, so the core imports nothing from
//! that layer. An interpreter registers itself the first time it is needed (a gradient
//! slot made, a `jvp` or `vmap` started); before that nothing can need it.

use crate::node::Node;
use crate::prim::Meta;
use crate::tensor::Tensor;
use psionic_core::Result;
use std::sync::{Arc, OnceLock};

/// One transform's part in building nodes. Each hook has a default that does nothing.
pub(crate) trait Interpreter: Sync {
    /// A name telling registered interpreters apart.
    fn name(&self) -> &'static str;
    /// Whether it has work on this thread now (grad mode on, a level running).
    fn active(&self) -> bool;
    /// Whether a node of `meta` over `inputs` keeps its inputs for backward.
    fn records(&self, _meta: &Meta, _inputs: &[Arc<Node>]) -> bool {
        false
    }
    /// Whether it needs [`Interpreter::claims`] and [`Interpreter::built`] (which see the
    /// node's inputs, kept aside for them).
    fn watches(&self) -> bool {
        true
    }
    /// Sees the new node before evaluation; `true` claims it: it stands for a value
    /// computed elsewhere (a batched twin), so it is not evaluated.
    fn claims(&self, _node: &Arc<Node>, _inputs: &[Arc<Node>]) -> bool {
        false
    }
    /// Sees the node after evaluation (or its claim).
    fn built(&self, _node: &Arc<Node>, _inputs: &[Arc<Node>]) {}
    /// Sees a recorded node as a tensor, with the tensors it was made from.
    fn made(&self, _node: &Arc<Node>, _inputs: &[&Tensor], _out: &Tensor) {}
    /// Refuses an in-place write that re-points a tensor from `old` to `new`.
    fn check_write(&self, _old: &Arc<Node>, _new: &Arc<Node>) -> Result<()> {
        Ok(())
    }
    /// Whether `node`'s values cannot be read here (a batched value inside `vmap`), so
    /// code that would read them must take another path.
    fn hides_values(&self, _node: &Arc<Node>) -> bool {
        false
    }
}

/// Interpreters in registration order (record, jvp and vmap use three).
static REGISTERED: [OnceLock<&'static dyn Interpreter>; 4] = [const { OnceLock::new() }; 4];

/// Adds `i` to the interpreters every build consults (once; later calls return at once).
pub(crate) fn register(i: &'static dyn Interpreter) {
    for slot in &REGISTERED {
        let held = *slot.get_or_init(|| i);
        if held.name() == i.name() {
            return;
        }
    }
    unreachable!("more interpreters than slots");
}

/// The registered interpreters active on this thread, lazily: no allocation on the
/// build path, whose usual case is none or recording alone.
pub(crate) fn active() -> impl Iterator<Item = &'static dyn Interpreter> {
    REGISTERED.iter().map_while(|s| s.get().copied()).filter(|i| i.active())
}

/// Whether some active interpreter refuses to let `node`'s values be read.
pub(crate) fn hides_values(node: &Arc<Node>) -> bool {
    active().any(|i| i.hides_values(node))
}
