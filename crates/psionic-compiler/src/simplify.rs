//! Simplification of a traced graph: work on constants alone is done once, now
//! (constant folding); a primitive applied twice to the same slots is kept once
//! (common subexpressions); steps no output needs are dropped.

use crate::trace::{Graph, Slot, Step};
use psionic_array::autodiff::no_grad;
use psionic_array::graph;
use psionic_array::prim::Prim;
use psionic_array::Tensor;
use psionic_core::Result;
use std::collections::HashMap;

/// `g` simplified, and where each of its steps went: the slot now holding its value
/// (a constant when it was folded, the kept step when it was merged), `None` when no
/// output needs it.
pub fn simplify(g: Graph) -> Result<(Graph, Vec<Option<Slot>>)> {
    let mut out = Graph { n_inputs: g.n_inputs, consts: g.consts, ops: vec![], outputs: vec![] };
    let mut new_slot: Vec<Slot> = Vec::with_capacity(g.ops.len());
    let mut seen: HashMap<(String, Vec<Slot>), Vec<usize>> = HashMap::new();
    for step in g.ops {
        let inputs: Vec<Slot> = step.inputs.iter().map(|s| remap(&new_slot, *s)).collect();
        if let Some(value) = fold(&out, &step.prim, &inputs)? {
            new_slot.push(Slot::Const(out.consts.len()));
            out.consts.push(graph::node(&value));
            continue;
        }
        // Bucketed by the primitive's printed form, then compared exactly (a custom
        // function's primitive equals only itself).
        let bucket = seen.entry((format!("{:?}", step.prim), inputs.clone())).or_default();
        if let Some(&i) = bucket.iter().find(|&&i| out.ops[i].prim == step.prim) {
            new_slot.push(Slot::Op(i));
            continue;
        }
        bucket.push(out.ops.len());
        new_slot.push(Slot::Op(out.ops.len()));
        out.ops.push(Step { prim: step.prim, inputs, meta: step.meta });
    }
    out.outputs = g.outputs.iter().map(|s| remap(&new_slot, *s)).collect();
    let (out, renumber) = prune(out);
    Ok((out, new_slot.into_iter().map(renumber).collect()))
}

fn remap(new_slot: &[Slot], s: Slot) -> Slot {
    match s {
        Slot::Op(i) => new_slot[i],
        other => other,
    }
}

/// The value of a step whose inputs are all constant data that no gradient flows to.
/// Custom functions are left alone: their rules belong to the call.
fn fold(g: &Graph, prim: &Prim, inputs: &[Slot]) -> Result<Option<Tensor>> {
    if matches!(prim, Prim::Custom(_)) || inputs.is_empty() {
        return Ok(None);
    }
    let mut values = vec![];
    for s in inputs {
        match s {
            Slot::Const(i) if g.consts[*i].is_evaluated() && !g.consts[*i].requires_grad() => {
                values.push(graph::tensor(g.consts[*i].clone()))
            }
            _ => return Ok(None),
        }
    }
    let value = no_grad(|| graph::apply(prim.clone(), &values.iter().collect::<Vec<_>>()))?;
    value.try_eval()?;
    Ok(Some(value))
}

/// Drops steps and constants that no output reaches, renumbering the rest in order;
/// returns the renumbering (`None` for what was dropped).
fn prune(g: Graph) -> (Graph, impl Fn(Slot) -> Option<Slot>) {
    let mut live_op = vec![false; g.ops.len()];
    let mut live_const = vec![false; g.consts.len()];
    let mut mark = |s: &Slot, live_op: &mut Vec<bool>| match s {
        Slot::Op(i) => live_op[*i] = true,
        Slot::Const(i) => live_const[*i] = true,
        Slot::Input(_) => {}
    };
    for s in &g.outputs {
        mark(s, &mut live_op);
    }
    for i in (0..g.ops.len()).rev() {
        if live_op[i] {
            for s in &g.ops[i].inputs {
                mark(s, &mut live_op);
            }
        }
    }
    let renumber = |live: &[bool]| -> Vec<usize> {
        live.iter()
            .scan(0, |n, &l| {
                let at = *n;
                *n += l as usize;
                Some(at)
            })
            .collect()
    };
    let (op_at, const_at) = (renumber(&live_op), renumber(&live_const));
    let map = |s: &Slot| match s {
        Slot::Op(i) => Slot::Op(op_at[*i]),
        Slot::Const(i) => Slot::Const(const_at[*i]),
        Slot::Input(i) => Slot::Input(*i),
    };
    let pruned = Graph {
        n_inputs: g.n_inputs,
        consts: g.consts.into_iter().zip(&live_const).filter(|(_, &l)| l).map(|(c, _)| c).collect(),
        ops: g
            .ops
            .into_iter()
            .zip(&live_op)
            .filter(|(_, &l)| l)
            .map(|(s, _)| Step { prim: s.prim, inputs: s.inputs.iter().map(map).collect(), meta: s.meta })
            .collect(),
        outputs: g.outputs.iter().map(map).collect(),
    };
    let renumber = move |s: Slot| match s {
        Slot::Op(i) => live_op[i].then(|| Slot::Op(op_at[i])),
        Slot::Const(i) => live_const[i].then(|| Slot::Const(const_at[i])),
        Slot::Input(i) => Some(Slot::Input(i)),
    };
    (pruned, renumber)
}
