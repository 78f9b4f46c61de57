//! Row groups: a reduction along the last dim fused with the elementwise work before and
//! after it (softmax, layer_norm, logsumexp-style normalisations written from
//! primitives), run a block of whole rows at a time so each row is read once and
//! written once.
//!
//! A group grows backwards from a root whose value is a row (`[..., N]`, N at least
//! [`MIN_ROW`]): a producer joins when it is elementwise, a sum/max/min, or a reshape,
//! no step outside the group and no output reads it, and its value is a row or one
//! value per row. A group keeps only if it holds a reduction and is one `Fused` row
//! chain (operands broadcast per row as the chain needs, one float dtype); otherwise its
//! steps are left to the elementwise groups.

use crate::fuse::{chain_of, grow};
use crate::trace::{Graph, Slot};
use psionic_array::prim::{fusible, row_fusible, Fused, Meta, Prim};

/// Shortest row worth a row group: each row costs a kernel call per step.
pub const MIN_ROW: usize = 64;

/// The row groups of `g`, each its members in graph order (the root last).
pub fn row_groups(
    g: &Graph,
    users: &[Vec<usize>],
    is_output: &[bool],
    meta_of: &dyn Fn(Slot) -> Meta,
) -> Vec<Vec<usize>> {
    let n = g.ops.len();
    let mut claimed = vec![false; n];
    let mut groups = vec![];
    for root in (0..n).rev() {
        let rm = &g.ops[root].meta;
        let Some((&row, outer)) = rm.shape.split_last() else { continue };
        if claimed[root] || !fusible(&g.ops[root].prim) || row < MIN_ROW {
            continue;
        }
        let keep: Vec<usize> = outer.iter().copied().chain([1]).collect();
        let fits = |j: usize| {
            let s = &g.ops[j].meta.shape[..];
            (s == &rm.shape[..] || s == outer || s == &keep[..]) && g.ops[j].meta.dtype == rm.dtype
        };
        // A reshape joins only as a reshape of per-row values (a reduction's kept dim):
        // one that makes the rows (attention scores split into heads) is left before the
        // group, which reads its value through its strides.
        let joins = |j: usize| match &g.ops[j].prim {
            Prim::View(_) => row_fusible(&g.ops[j].prim) && g.ops[j].meta.shape != rm.shape,
            p => fusible(p) || row_fusible(p),
        };
        let mut members = grow(g, root, users, |j| !claimed[j] && joins(j) && !is_output[j] && fits(j));
        members.sort_unstable();
        let reduces = members.iter().any(|&m| matches!(g.ops[m].prim, Prim::Reduce(_)));
        if reduces && is_row_chain(g, &members, meta_of) {
            for &m in &members {
                claimed[m] = true;
            }
            groups.push(members);
        }
    }
    groups.reverse();
    groups
}

/// Whether `members` make a `Fused` chain (with reductions: one that runs by rows).
fn is_row_chain(g: &Graph, members: &[usize], meta_of: &dyn Fn(Slot) -> Meta) -> bool {
    let (steps, externals) = chain_of(g, members);
    let metas: Vec<Meta> = externals.iter().map(|&s| meta_of(s)).collect();
    Fused::new(steps, &metas.iter().collect::<Vec<_>>()).is_ok()
}
