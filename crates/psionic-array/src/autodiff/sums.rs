//! The gradient sums of the backward walk, one per node, added in the order the node's
//! consumers are reached.
//!
//! Gradients of selects and unit-step slices of a node are held back as pieces, because
//! each would otherwise be a zero tensor of the node's full size with the piece written
//! in, and the sum of those a full-size add per piece. When the pieces cover the node
//! exactly along one dimension (`unbind`, `chunk`, `split`, or indexing every position of
//! a dim, as attention's `qkv[0], qkv[1], qkv[2]` does), their sum is one `stack` or `cat`
//! of them: one pass instead of three per piece. The values are the sum's, except that
//! a `-0` stays `-0` (the sum adds `+0` to it); anything else is summed as before, in
//! arrival order.

use crate::node::Node;
use crate::prim::view_vjp;
use crate::prim::ViewOp;
use crate::tensor::Tensor;
use psionic_core::{Layout, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Gradient sums by node (keyed by the node's address).
#[derive(Default)]
pub(super) struct Sums {
    dense: HashMap<usize, Tensor>,
    /// Pieces not yet summed, in arrival order, of nodes that have no dense sum.
    pieces: HashMap<usize, Vec<Piece>>,
}

/// The gradient of one select or slice of a node.
struct Piece {
    view: ViewOp,
    /// The node the view was taken of, whose shape the gradient scatters into.
    base: Arc<Node>,
    at: Span,
    g: Tensor,
}

/// Where a piece lies along `dim` of its base: one index (a select, which drops the dim)
/// or a run of `len` (a unit-step slice).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    dim: usize,
    start: usize,
    len: Option<usize>,
}

/// `prev + g`, or `g` when there is nothing yet: how every dense sum is taken.
pub(super) fn add_to(prev: Option<Tensor>, g: Tensor) -> Tensor {
    match prev {
        Some(p) => &p + &g,
        None => g,
    }
}

impl Sums {
    /// Adds `g` to node `k`'s sum.
    pub(super) fn add(&mut self, k: usize, g: Tensor) -> Result<()> {
        let prev = self.take(k)?;
        self.dense.insert(k, add_to(prev, g));
        Ok(())
    }

    /// Adds the gradient `g` of `view` of `base` to `base`'s sum, as a piece when `view`
    /// is a select or unit-step slice and `base` has no dense sum yet. Returns false (and
    /// adds nothing) when the caller should run the view's rule instead.
    pub(super) fn add_view(&mut self, k: usize, view: &ViewOp, base: &Arc<Node>, g: &Tensor) -> bool {
        if self.dense.contains_key(&k) {
            return false;
        }
        let Some(at) = span(view, &base.meta.shape) else { return false };
        self.pieces.entry(k).or_default().push(Piece { view: view.clone(), base: base.clone(), at, g: g.clone() });
        true
    }

    /// Node `k`'s total, removed; `None` when nothing reached it.
    pub(super) fn take(&mut self, k: usize) -> Result<Option<Tensor>> {
        if let Some(pieces) = self.pieces.remove(&k) {
            return Ok(Some(match tiled(&pieces) {
                Some(whole) => whole,
                None => pieces.into_iter().try_fold(None, |acc, p| Ok(Some(add_to(acc, p.scatter()?))))?.unwrap(),
            }));
        }
        Ok(self.dense.remove(&k))
    }
}

impl Piece {
    /// The piece's gradient as a full-size one: zeros but at its positions.
    fn scatter(&self) -> Result<Tensor> {
        view_vjp(&self.view, &Tensor::from_node(self.base.clone()), &self.g)
    }
}

/// Where `view` of a `shape` tensor lies, if it is a select or a unit-step slice.
fn span(view: &ViewOp, shape: &[usize]) -> Option<Span> {
    let (dim, is_select) = match view {
        ViewOp::Select { dim, .. } => (*dim, true),
        ViewOp::Slice { dim, step: 1, .. } => (*dim, false),
        _ => return None,
    };
    if shape.contains(&0) {
        return None;
    }
    let dim = psionic_core::normalize_dim("backward", dim, shape.len()).ok()?;
    // The view's own bounds rules (negative indices, Python's clamping) place it.
    let whole = Layout::contiguous(shape);
    let part = view.apply(&whole).ok()?;
    let stride = whole.strides[dim].max(1) as usize;
    let start = part.offset / stride;
    Some(Span { dim, start, len: (!is_select).then(|| part.shape[dim]) })
}

/// The sum of `pieces` as one `stack` (selects) or `cat` (slices), when they cover their
/// base exactly once along one dim and are the same kind; `None` otherwise.
fn tiled(pieces: &[Piece]) -> Option<Tensor> {
    let first = pieces.first()?;
    let size = *first.base.meta.shape.get(first.at.dim)?;
    let mut order: Vec<&Piece> = pieces.iter().collect();
    order.sort_by_key(|p| p.at);
    let mut next = 0;
    for p in &order {
        if p.at.dim != first.at.dim || p.at.len.is_some() != first.at.len.is_some() || p.at.start != next {
            return None;
        }
        next += p.at.len.unwrap_or(1);
    }
    if next != size {
        return None;
    }
    let gs: Vec<&Tensor> = order.iter().map(|p| &p.g).collect();
    let dim = first.at.dim as i64;
    Some(if first.at.len.is_some() { Tensor::cat(&gs, dim) } else { Tensor::stack(&gs, dim) })
}
