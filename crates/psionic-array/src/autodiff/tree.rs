//! Trees of tensors (nested maps and lists), the shape in which modules expose their
//! parameters and transforms take and return them. Flattening order is stable:
//! lists in order, maps by sorted key, depth first.

use crate::tensor::Tensor;
use std::collections::BTreeMap;

#[derive(Clone)]
pub enum Tree {
    Leaf(Tensor),
    List(Vec<Tree>),
    Map(BTreeMap<String, Tree>),
}

impl From<Tensor> for Tree {
    fn from(t: Tensor) -> Self {
        Tree::Leaf(t)
    }
}

impl Tree {
    /// A map from `(key, subtree)` pairs.
    pub fn map_of(items: impl IntoIterator<Item = (impl Into<String>, Tree)>) -> Tree {
        Tree::Map(items.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The leaves, depth first (lists in order, maps by sorted key).
    pub fn flatten(&self) -> Vec<Tensor> {
        self.flatten_with_paths().into_iter().map(|(_, t)| t).collect()
    }

    /// The leaves with dotted paths (`"layers.0.weight"`), in [`Tree::flatten`] order.
    pub fn flatten_with_paths(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        self.walk(String::new(), &mut out);
        out
    }

    fn walk(&self, prefix: String, out: &mut Vec<(String, Tensor)>) {
        let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
        match self {
            Tree::Leaf(t) => out.push((prefix.clone(), t.clone())),
            Tree::List(v) => v.iter().enumerate().for_each(|(i, c)| c.walk(join(&i.to_string()), out)),
            Tree::Map(m) => m.iter().for_each(|(k, c)| c.walk(join(k), out)),
        }
    }

    /// A tree of this structure holding `leaves` (in [`Tree::flatten`] order).
    ///
    /// # Panics
    /// When the number of leaves differs from this tree's.
    pub fn unflatten(&self, leaves: &[Tensor]) -> Tree {
        let mut it = leaves.iter();
        let t = self.rebuild(&mut it);
        assert!(it.next().is_none(), "unflatten: {} leaves given for a tree of {}", leaves.len(), self.flatten().len());
        t
    }

    fn rebuild<'a>(&self, it: &mut impl Iterator<Item = &'a Tensor>) -> Tree {
        match self {
            Tree::Leaf(_) => Tree::Leaf(it.next().expect("unflatten: too few leaves").clone()),
            Tree::List(v) => Tree::List(v.iter().map(|c| c.rebuild(it)).collect()),
            Tree::Map(m) => Tree::Map(m.iter().map(|(k, c)| (k.clone(), c.rebuild(it))).collect()),
        }
    }

    /// Applies `f` to every leaf, keeping the structure.
    pub fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Tree {
        let leaves: Vec<Tensor> = self.flatten().iter().map(f).collect();
        self.unflatten(&leaves)
    }

    /// The subtree at a dotted path.
    pub fn get(&self, path: &str) -> Option<&Tree> {
        path.split('.').filter(|s| !s.is_empty()).try_fold(self, |t, k| match t {
            Tree::List(v) => k.parse::<usize>().ok().and_then(|i| v.get(i)),
            Tree::Map(m) => m.get(k),
            Tree::Leaf(_) => None,
        })
    }

    /// The tensor at a leaf.
    pub fn leaf(&self) -> Option<&Tensor> {
        match self {
            Tree::Leaf(t) => Some(t),
            _ => None,
        }
    }
}

/// `value_and_grad` over a tree of parameters: the gradient comes back as a tree of the
/// same structure.
pub fn value_and_grad_tree<F: Fn(&Tree) -> Tensor>(f: F) -> impl Fn(&Tree) -> (Tensor, Tree) {
    move |params: &Tree| {
        let leaves = params.flatten();
        let all: Vec<usize> = (0..leaves.len()).collect();
        let vg = super::functional::value_and_grad(|xs: &[Tensor]| f(&params.unflatten(xs)), &all);
        let (v, g) = vg(&leaves);
        (v, params.unflatten(&g))
    }
}
