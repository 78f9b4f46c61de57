//! Fusion: maximal groups of elementwise steps become one `Fused` step, run a tile at a
//! time so the group's intermediates never reach memory.
//!
//! Groups grow backwards from a root (the last step of the group, whose value leaves
//! it): a producer joins when it is elementwise, produces as many elements as the root
//! (a smaller value broadcast into the group is cheaper computed once, outside) and no
//! step outside the group and no output reads it. Then every external input of a
//! member was computed before the root, so the fused step takes the root's place and
//! the graph stays in order. Views, reductions and every other primitive are group
//! boundaries; their values reach the group as inputs, read through their strides.

use crate::trace::{Graph, Slot, Step};
use psionic_array::prim::{fusible, Fused, FusedArg, FusedStep, Meta, Prim};
use psionic_array::Tensor;
use psionic_core::Result;

/// `g` with its elementwise groups of two or more steps fused, and for each step of `g`
/// the step of the result that computes it (itself, or the fused step of its group);
/// `args` are the call's arguments (their shapes and dtypes check the fused steps).
pub fn fuse(g: Graph, args: &[Tensor]) -> Result<(Graph, Vec<usize>)> {
    let arg_metas: Vec<Meta> = args.iter().map(|a| Meta::new(a.shape(), a.dtype())).collect();
    let meta_of = |s: Slot| -> Meta {
        match s {
            Slot::Input(i) => arg_metas[i].clone(),
            Slot::Const(i) => g.consts[i].meta.clone(),
            Slot::Op(i) => g.ops[i].meta.clone(),
        }
    };
    let groups = groups(&g, &meta_of);
    let mut out = Graph { n_inputs: g.n_inputs, consts: g.consts.clone(), ops: vec![], outputs: vec![] };
    let mut new_slot: Vec<Option<Slot>> = vec![None; g.ops.len()];
    let mut placed = vec![usize::MAX; g.ops.len()];
    let remap = |new_slot: &[Option<Slot>], s: Slot| match s {
        Slot::Op(i) => new_slot[i].expect("inputs come first"),
        other => other,
    };
    for (k, step) in g.ops.iter().enumerate() {
        match &groups[k] {
            Member::Alone => {
                let inputs = step.inputs.iter().map(|s| remap(&new_slot, *s)).collect();
                placed[k] = out.ops.len();
                new_slot[k] = Some(Slot::Op(out.ops.len()));
                out.ops.push(Step { prim: step.prim.clone(), inputs, meta: step.meta.clone() });
            }
            Member::Inside => {}
            Member::Root(members) => {
                let (steps, externals) = chain_of(&g, members);
                let metas: Vec<Meta> = externals.iter().map(|&s| meta_of(s)).collect();
                let fused = Fused::new(steps, &metas.iter().collect::<Vec<_>>())?;
                let inputs = externals.iter().map(|s| remap(&new_slot, *s)).collect();
                for &m in members {
                    placed[m] = out.ops.len();
                }
                new_slot[k] = Some(Slot::Op(out.ops.len()));
                out.ops.push(Step { prim: Prim::Fused(fused), inputs, meta: step.meta.clone() });
            }
        }
    }
    out.outputs = g.outputs.iter().map(|s| remap(&new_slot, *s)).collect();
    Ok((out, placed))
}

/// The chain of a group's `members` (in graph order): its steps, and the external values
/// they read, numbered by first use.
pub(crate) fn chain_of(g: &Graph, members: &[usize]) -> (Vec<FusedStep>, Vec<Slot>) {
    let mut externals: Vec<Slot> = vec![];
    let mut steps = Vec::with_capacity(members.len());
    for &m in members {
        let args = g.ops[m]
            .inputs
            .iter()
            .map(|s| match *s {
                Slot::Op(j) if members.contains(&j) => {
                    FusedArg::Step(members.iter().position(|&x| x == j).expect("a member"))
                }
                s => FusedArg::Input(externals.iter().position(|&e| e == s).unwrap_or_else(|| {
                    externals.push(s);
                    externals.len() - 1
                })),
            })
            .collect();
        steps.push(FusedStep { prim: g.ops[m].prim.clone(), args });
    }
    (steps, externals)
}

/// The group grown backwards from `root`: a producer joins when `may_join` allows it and
/// every step reading it is a member, until no more join (a producer shared by two
/// members joins once both have). Members in the order they joined, the root first.
pub(crate) fn grow(g: &Graph, root: usize, users: &[Vec<usize>], may_join: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut members = vec![root];
    loop {
        let mut grew = false;
        for i in 0..members.len() {
            for s in &g.ops[members[i]].inputs {
                let Slot::Op(j) = *s else { continue };
                if !members.contains(&j) && may_join(j) && users[j].iter().all(|u| members.contains(u)) {
                    members.push(j);
                    grew = true;
                }
            }
        }
        if !grew {
            return members;
        }
    }
}

/// A step's part in fusion.
#[derive(Clone, Debug)]
enum Member {
    /// Not fused.
    Alone,
    /// Inside a group whose root comes later.
    Inside,
    /// The root of a group: its members, in graph order (the root last).
    Root(Vec<usize>),
}

/// Each step's part: row groups first (`fuse_rows`), then groups grown backwards from
/// the last unclaimed elementwise step.
fn groups(g: &Graph, meta_of: &dyn Fn(Slot) -> Meta) -> Vec<Member> {
    let n = g.ops.len();
    let mut users: Vec<Vec<usize>> = vec![vec![]; n];
    for (k, step) in g.ops.iter().enumerate() {
        for s in &step.inputs {
            if let Slot::Op(j) = s {
                users[*j].push(k);
            }
        }
    }
    let mut is_output = vec![false; n];
    for s in &g.outputs {
        if let Slot::Op(j) = s {
            is_output[*j] = true;
        }
    }
    let numel = |i: usize| g.ops[i].meta.shape.iter().product::<usize>();
    let mut part = vec![Member::Alone; n];
    let mut claimed = vec![false; n];
    for members in crate::fuse_rows::row_groups(g, &users, &is_output, meta_of) {
        for &m in &members {
            claimed[m] = true;
            part[m] = Member::Inside;
        }
        let root = *members.last().expect("a group has members");
        part[root] = Member::Root(members);
    }
    for root in (0..n).rev() {
        if claimed[root] || !fusible(&g.ops[root].prim) {
            continue;
        }
        claimed[root] = true;
        let mut members = grow(g, root, &users, |j| {
            !claimed[j] && fusible(&g.ops[j].prim) && !is_output[j] && numel(j) == numel(root)
        });
        for &m in &members {
            claimed[m] = true;
        }
        if members.len() > 1 {
            members.sort_unstable();
            for &m in &members[..members.len() - 1] {
                part[m] = Member::Inside;
            }
            part[root] = Member::Root(members);
        } else {
            claimed[root] = false;
        }
    }
    part
}
