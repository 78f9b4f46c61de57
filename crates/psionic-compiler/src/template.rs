//! Shape templates: a program built for one shape, reused at another.
//!
//! A trace holds the sizes of its shapes wherever the function used them: in its
//! reshapes, slices and expands, in constants it computed from them (a mean's `1 / n`),
//! in which steps it took (a branch on a length) and which tensors it read (a mask
//! cached per length). Inferring how those derive from the input shapes is unsound (a
//! `2` may be a constant or half a size), so a call at a new shape traces the function
//! again, which is cheap (no data is touched), and compares the new trace with the one
//! the program was built from. When the two differ only in the prims and shapes of steps
//! the program runs, the program is reused with those steps' new prims; its
//! simplification, fusion and generated code are not redone (a fused chain with a
//! changed member, or a row chain whose rows changed, is rebuilt alone). Anything else (a
//! different structure, a constant with other values, a changed step that was folded,
//! or merged with a step that did not change alike) builds a program from the new
//! trace. Either way the call runs what the function traced at its own shape, so the
//! answer never comes from another shape's trace.

use crate::replay::Plan;
use crate::state::Layout;
use crate::trace::{Graph, Slot};
use psionic_array::graph;
use psionic_array::node::Node;
use psionic_array::prim::{Fused, FusedStep, Meta, Prim};
use psionic_array::{DType, Tensor};
use std::sync::Arc;

/// Where a step of the trace went in the program.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// Computed while building the program (its value is a constant there, or feeds
    /// one), or needed by no output: reused only unchanged, so a constant is never one
    /// folded from another shape's steps.
    Fixed,
    /// Run by the program (as a step of its own or a member of a fused chain) as trace
    /// step `rep`: itself, or the first step equal to it (merged with it).
    In { rep: usize },
}

/// A program and the trace it was built from.
#[derive(Debug)]
pub struct Template {
    trace: Graph,
    place: Vec<Place>,
    /// Per program step, the trace steps it runs, in the order it runs them (one for a
    /// step kept as it was; a fused chain's members, its root last).
    runs: Vec<Vec<usize>>,
    plan: Arc<Plan>,
}

impl Template {
    /// `simplified[j]`: the slot of trace step `j` after simplification; `fused[i]`:
    /// the program step computing simplified step `i` (no fusion: step `i` itself).
    pub fn new(trace: Graph, simplified: &[Option<Slot>], fused: Option<&[usize]>, plan: Arc<Plan>) -> Template {
        let mut rep_of: Vec<Option<usize>> = vec![None; simplified.len()];
        let mut runs = vec![vec![]; plan.ops.len()];
        let place = simplified
            .iter()
            .enumerate()
            .map(|(j, s)| match *s {
                // Pruned steps include folded ones whose constant only fed another fold.
                // (A step is never simplified into an argument; if it were, it would be
                // reused only unchanged too.)
                None | Some(Slot::Const(_) | Slot::Input(_)) => Place::Fixed,
                Some(Slot::Op(i)) => {
                    let step = fused.map_or(i, |f| f[i]);
                    let rep = *rep_of[i].get_or_insert_with(|| {
                        // Simplified steps are numbered in trace order, and so are a
                        // fused chain's members: the first trace step of each is next.
                        runs[step].push(j);
                        j
                    });
                    Place::In { rep }
                }
            })
            .collect();
        Template { trace, place, runs, plan }
    }

    /// The program for `trace` (a trace of the same function at other shapes) when the
    /// two traces have the same steps, wired the same way, on equal constants, and
    /// differ only in the prims and shapes of steps the program runs: those take the new
    /// trace's (a fused chain with a changed member is built again), everything else is
    /// shared. `inputs` are the metas of the call's inputs.
    pub fn adopt(&self, trace: &Graph, layout: Option<Layout>, inputs: &[Meta]) -> Option<Plan> {
        let old = &self.trace;
        if trace.n_inputs != old.n_inputs
            || trace.ops.len() != old.ops.len()
            || trace.outputs != old.outputs
            || trace.consts.len() != old.consts.len()
            || inputs.len() != old.n_inputs
        {
            return None;
        }
        if !trace.consts.iter().zip(&old.consts).all(|(a, b)| same_value(a, b)) {
            return None;
        }
        for (j, (new, was)) in trace.ops.iter().zip(&old.ops).enumerate() {
            let same_place = match self.place[j] {
                Place::Fixed => new.prim == was.prim,
                // Merged steps must still be equal.
                Place::In { rep } => new.prim == trace.ops[rep].prim,
            };
            if new.inputs != was.inputs || new.meta.dtype != was.meta.dtype || !same_place {
                return None;
            }
        }
        let mut g = Graph::clone(&self.plan);
        for k in 0..g.ops.len() {
            let runs = &self.runs[k];
            let root = &trace.ops[*runs.last()?];
            let prim = match &g.ops[k].prim {
                // A chain fusion made: built again when a member changed, or when it runs
                // by rows and the rows changed (it runs by rows only at its trace's shapes).
                Prim::Fused(f) if f.steps().len() == runs.len() && runs.len() > 1 => {
                    let changed = |j: usize| {
                        trace.ops[j].prim != old.ops[j].prim
                            || (f.runs_by_rows() && trace.ops[j].meta.shape != old.ops[j].meta.shape)
                    };
                    if runs.iter().any(|&j| changed(j)) {
                        let steps = f.steps().iter().zip(runs);
                        let steps =
                            steps.map(|(s, &j)| FusedStep { prim: trace.ops[j].prim.clone(), args: s.args.clone() });
                        let metas: Vec<Meta> = g.ops[k].inputs.iter().map(|s| meta_of(&g, inputs, *s)).collect();
                        Some(Prim::Fused(Fused::new(steps.collect(), &metas.iter().collect::<Vec<_>>()).ok()?))
                    } else {
                        None
                    }
                }
                // A step kept as traced (a fused step too, from a compiled function the
                // traced one called).
                _ => Some(root.prim.clone()),
            };
            if let Some(prim) = prim {
                g.ops[k].prim = prim;
            }
            g.ops[k].meta = root.meta.clone();
        }
        Some(Plan::new(g, layout))
    }
}

fn meta_of(g: &Graph, inputs: &[Meta], s: Slot) -> Meta {
    match s {
        Slot::Input(i) => inputs[i].clone(),
        Slot::Const(i) => g.consts[i].meta.clone(),
        Slot::Op(i) => g.ops[i].meta.clone(),
    }
}

/// Whether two constants of two traces are interchangeable: the same node, or equal
/// data (bit for bit: `-0.0` is not `0.0`) that no gradient flows to.
fn same_value(a: &Arc<Node>, b: &Arc<Node>) -> bool {
    if Arc::ptr_eq(a, b) {
        return true;
    }
    let plain = |n: &Arc<Node>| n.is_evaluated() && !n.requires_grad();
    if !plain(a) || !plain(b) || a.meta.shape != b.meta.shape || a.meta.dtype != b.meta.dtype {
        return false;
    }
    let (x, y) = (graph::tensor(a.clone()), graph::tensor(b.clone()));
    // f32 and f64 by their own bits; the half types widen to f64 exactly (sign of zero
    // kept; a NaN's payload may be quieted, which would only make two NaNs equal that
    // differ in the signalling bit); every integer type to i64 exactly.
    let f32_bits = |t: &Tensor| t.to_vec::<f32>().into_iter().map(f32::to_bits).collect::<Vec<_>>();
    let f64_bits = |t: &Tensor| t.to_vec::<f64>().into_iter().map(f64::to_bits).collect::<Vec<_>>();
    match a.meta.dtype {
        DType::F32 => f32_bits(&x) == f32_bits(&y),
        d if d.is_float() => f64_bits(&x) == f64_bits(&y),
        _ => x.to_vec::<i64>() == y.to_vec::<i64>(),
    }
}
