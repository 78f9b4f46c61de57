//! Replay: the cached graph's primitives applied to a call's arguments, through the
//! same node builder as ops (so autograd, vmap and jvp see ordinary ops). Each value is
//! released after its last use, so intermediates live no longer than they would in the
//! uncompiled function.

use crate::state::Layout;
use crate::trace::{Graph, Slot};
use psionic_array::{graph, Tensor};
use psionic_core::{Error, Result};

/// A simplified graph ready to replay: with, per step, the last step that reads its value
/// (worked out once when the graph is cached, not on every call).
#[derive(Debug)]
pub struct Plan {
    graph: Graph,
    last_use: Vec<usize>,
    /// For a step with state: which outputs are its own and which are state.
    pub layout: Option<Layout>,
}

impl Plan {
    pub fn new(graph: Graph, layout: Option<Layout>) -> Plan {
        let last_use = last_uses(&graph);
        Plan { graph, last_use, layout }
    }
}

impl std::ops::Deref for Plan {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.graph
    }
}

pub fn run(plan: &Plan, args: &[Tensor]) -> Result<Vec<Tensor>> {
    let (g, last_use) = (&plan.graph, &plan.last_use);
    if args.len() != g.n_inputs {
        return Err(Error::invalid(
            "compile",
            format!("the compiled function was traced with {} arguments, called with {}", g.n_inputs, args.len()),
        ));
    }
    // Fresh handles per call: an in-place write to an output that is a constant must not
    // reach the cached graph.
    let consts: Vec<Tensor> = g.consts.iter().map(|n| graph::tensor(n.clone())).collect();
    let mut values: Vec<Option<Tensor>> = vec![None; g.ops.len()];
    let read = |values: &[Option<Tensor>], s: Slot| match s {
        Slot::Input(i) => args[i].clone(),
        Slot::Const(i) => consts[i].clone(),
        Slot::Op(i) => values[i].clone().expect("values are read before their last use"),
    };
    for (k, step) in g.ops.iter().enumerate() {
        let ins: Vec<Tensor> = step.inputs.iter().map(|s| read(&values, *s)).collect();
        values[k] = Some(graph::apply(step.prim.clone(), &ins.iter().collect::<Vec<_>>())?);
        for s in &step.inputs {
            if let Slot::Op(i) = s {
                if last_use[*i] == k {
                    values[*i] = None;
                }
            }
        }
    }
    Ok(g.outputs.iter().map(|s| read(&values, *s)).collect())
}

/// For each step, the last step reading it (`usize::MAX` for outputs: kept to the end).
fn last_uses(g: &Graph) -> Vec<usize> {
    let mut last = vec![0; g.ops.len()];
    for (k, step) in g.ops.iter().enumerate() {
        for s in &step.inputs {
            if let Slot::Op(i) = s {
                last[*i] = k;
            }
        }
    }
    for s in &g.outputs {
        if let Slot::Op(i) = s {
            last[*i] = usize::MAX;
        }
    }
    last
}
