//! The module contract: a module names its own parameters, buffers, submodules and
//! train/eval flag, in registration order, through one visitor; everything else
//! (`named_parameters`, `state_dict`, `train`, `to_dtype`, ...) is derived from that walk
//! in [`ModuleExt`], so a new module only lists its members.
//!
//! Parameters and buffers are ordinary [`Tensor`] handles. Tensors are shared cells, so
//! an optimizer's in-place update, `load_state_dict`'s `copy_` and `to_dtype`'s
//! `set_data` reach the module through the handles the walk hands out; no `&mut` is
//! needed, as in PyTorch.

use psionic_array::autodiff::{no_grad, Tree};
use psionic_array::{DType, Device, Tensor};
use psionic_core::Error;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

/// A module's train/eval flag (PyTorch's `self.training`, true at construction).
#[derive(Debug)]
pub struct Training(AtomicBool);

impl Default for Training {
    fn default() -> Self {
        Training(AtomicBool::new(true))
    }
}

impl Training {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed)
    }
}

/// One member of a module, as [`Module::visit`] reports it.
#[derive(Clone, Copy)]
pub enum Member<'a> {
    /// A parameter; `None` for one registered as absent (`bias=False`), which PyTorch
    /// leaves out of `state_dict`.
    Param(Option<&'a Tensor>),
    /// A buffer (BatchNorm's running statistics); non-persistent ones stay out of
    /// `state_dict`.
    Buffer(Option<&'a Tensor>, bool),
    Child(&'a dyn Module),
    /// The module's own train/eval flag.
    Training(&'a Training),
}

/// What every module is: a type name and its members.
pub trait Module: Send + Sync {
    /// PyTorch's class name (`"Linear"`), for printing and errors.
    fn type_name(&self) -> &'static str;

    /// Calls `f` with each member's name, in registration order.
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>));

    /// The constructor arguments shown when the module is printed (PyTorch's `extra_repr`).
    fn extra_repr(&self) -> String {
        String::new()
    }
}

/// A module with one tensor in and one out: what [`crate::Sequential`] chains.
pub trait Forward: Module {
    fn forward(&self, x: &Tensor) -> Tensor;
}

/// An ordered `name -> tensor` map: a module's `state_dict` (PyTorch's OrderedDict).
pub type StateDict = Vec<(String, Tensor)>;

/// What `load_state_dict` found (PyTorch's `_IncompatibleKeys`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub missing_keys: Vec<String>,
    pub unexpected_keys: Vec<String>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Walks `m` and its descendants depth first, calling `f(path, member)` for every
/// member that is not a child. A module's parameters come first, then its buffers and
/// flags, then its children's members: PyTorch's order for `named_parameters`,
/// `named_buffers` and `state_dict`.
/// Sets the data of every parameter and buffer (persistent or not) to `f` of it. Every
/// replacement is made before any member changes, so a refusal leaves the module as it
/// was; parameters stay the same leaves (`set_data`).
fn replace_data(m: &dyn Module, f: impl Fn(&Tensor) -> Result<Tensor, Error>) -> Result<(), Error> {
    let mut members = vec![];
    walk(m, "", &mut |_, m| {
        if let Member::Param(Some(t)) | Member::Buffer(Some(t), _) = m {
            members.push((*t).clone());
        }
    });
    let fresh = members.iter().map(f).collect::<Result<Vec<_>, _>>()?;
    for (t, v) in members.iter().zip(&fresh) {
        t.set_data(v);
    }
    Ok(())
}

fn walk<'a>(m: &'a dyn Module, prefix: &str, f: &mut dyn FnMut(&str, &Member<'a>)) {
    let mut own = vec![];
    let mut children = vec![];
    m.visit(&mut |name, member| match member {
        Member::Child(c) => children.push((join(prefix, name), c)),
        other => own.push((join(prefix, name), other)),
    });
    own.sort_by_key(|(_, m)| !matches!(m, Member::Param(_)));
    for (path, member) in &own {
        f(path, member);
    }
    for (path, c) in children {
        walk(c, &path, f);
    }
}

/// The derived module API, for every [`Module`] (and `dyn Module`).
pub trait ModuleExt: Module {
    /// Parameters with dotted names (`"layers.0.weight"`), registration order, each once.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = vec![];
        walk(self.as_dyn(), "", &mut |path, m| {
            if let Member::Param(Some(t)) = m {
                if !out.iter().any(|(_, o)| o.same_handle(t)) {
                    out.push((path.to_string(), (*t).clone()));
                }
            }
        });
        out
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        walk(self.as_dyn(), "", &mut |path, m| {
            if let Member::Buffer(Some(t), _) = m {
                out.push((path.to_string(), (*t).clone()));
            }
        });
        out
    }

    /// Direct submodules with their names.
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        let mut out = vec![];
        self.visit(&mut |name, m| {
            if let Member::Child(c) = m {
                out.push((name.to_string(), c));
            }
        });
        out
    }

    /// This module (named `""`) and every descendant, depth first.
    fn named_modules(&self) -> Vec<(String, &dyn Module)> {
        fn go<'a>(m: &'a dyn Module, prefix: String, out: &mut Vec<(String, &'a dyn Module)>) {
            out.push((prefix.clone(), m));
            m.visit(&mut |name, member| {
                if let Member::Child(c) = member {
                    go(c, join(&prefix, name), out);
                }
            });
        }
        let mut out = vec![];
        go(self.as_dyn(), String::new(), &mut out);
        out
    }

    /// Parameters and persistent buffers, in PyTorch's `state_dict` order (a module's
    /// own parameters, then its buffers, then each child's).
    fn state_dict(&self) -> StateDict {
        let mut out = vec![];
        walk(self.as_dyn(), "", &mut |path, m| match m {
            Member::Param(Some(t)) | Member::Buffer(Some(t), true) => out.push((path.to_string(), t.detach())),
            _ => {}
        });
        out
    }

    /// Copies `state` into this module's parameters and buffers by name. With `strict`,
    /// missing or unexpected keys are an error (and nothing is copied); either way a
    /// shape mismatch is an error and nothing is copied.
    fn load_state_dict(&self, state: &[(String, Tensor)], strict: bool) -> Result<LoadReport, Error> {
        let own = self.state_dict();
        let given: HashMap<&str, &Tensor> = state.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let known: HashMap<&str, &Tensor> = own.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let report = LoadReport {
            missing_keys: own.iter().filter(|(k, _)| !given.contains_key(k.as_str())).map(|(k, _)| k.clone()).collect(),
            unexpected_keys: state
                .iter()
                .filter(|(k, _)| !known.contains_key(k.as_str()))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        let mut problems = vec![];
        if strict {
            if !report.unexpected_keys.is_empty() {
                problems.push(format!("Unexpected key(s) in state_dict: {}.", quoted(&report.unexpected_keys)));
            }
            if !report.missing_keys.is_empty() {
                problems.push(format!("Missing key(s) in state_dict: {}.", quoted(&report.missing_keys)));
            }
        }
        for (k, dst) in &own {
            if let Some(src) = given.get(k.as_str()) {
                if src.shape() != dst.shape() {
                    problems.push(format!(
                        "size mismatch for {k}: copying a param with shape {:?} from checkpoint, the shape in current model is {:?}.",
                        src.shape(),
                        dst.shape()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(Error::invalid(
                "load_state_dict",
                format!("Error(s) in loading state_dict for {}:\n\t{}", self.type_name(), problems.join("\n\t")),
            ));
        }
        no_grad(|| {
            for (k, dst) in &own {
                if let Some(src) = given.get(k.as_str()) {
                    dst.copy_(src);
                }
            }
        });
        Ok(report)
    }

    /// Parameters as a tree of maps keyed by each segment of their names (numbered
    /// children too), the shape the function transforms and MLX-style optimizers take.
    fn parameter_tree(&self) -> Tree {
        tree_of(&self.named_parameters())
    }

    /// Sets the train/eval flag of this module and every descendant.
    fn train(&self, on: bool) -> &Self {
        walk(self.as_dyn(), "", &mut |_, m| {
            if let Member::Training(t) = m {
                t.set(on)
            }
        });
        self
    }

    fn eval(&self) -> &Self {
        self.train(false)
    }

    /// This module's flag (the first flag met in its tree; true when it has none).
    fn is_training(&self) -> bool {
        let mut flag = None;
        walk(self.as_dyn(), "", &mut |_, m| {
            if let Member::Training(t) = m {
                flag.get_or_insert(t.get());
            }
        });
        flag.unwrap_or(true)
    }

    /// Calls `f` on every submodule and then this one (PyTorch's `apply`, children first).
    fn apply(&self, f: &mut dyn FnMut(&dyn Module)) -> &Self {
        fn go(m: &dyn Module, f: &mut dyn FnMut(&dyn Module)) {
            m.visit(&mut |_, member| {
                if let Member::Child(c) = member {
                    go(c, f)
                }
            });
            f(m);
        }
        go(self.as_dyn(), f);
        self
    }

    /// Stops (or restarts) gradients to every parameter: `requires_grad_(false)`.
    fn freeze(&self) -> &Self {
        self.parameters().iter().for_each(|p| {
            p.requires_grad_(false);
        });
        self
    }

    fn unfreeze(&self) -> &Self {
        self.parameters().iter().for_each(|p| {
            p.requires_grad_(true);
        });
        self
    }

    /// Casts floating parameters and buffers to `dtype` in place (`module.to(dtype)`);
    /// integer buffers such as BatchNorm's batch count keep theirs.
    fn to_dtype(&self, dtype: DType) -> &Self {
        walk(self.as_dyn(), "", &mut |_, m| match m {
            Member::Param(Some(t)) | Member::Buffer(Some(t), _) if t.dtype().is_float() && t.dtype() != dtype => {
                t.set_data(&t.detach().to_dtype(dtype));
            }
            _ => {}
        });
        self
    }

    /// Moves every parameter and buffer to `device` (`module.to(device)`); parameters
    /// stay the same leaves (same handles, still requiring grad). Moving off `meta` is
    /// refused, as meta tensors hold no values: use [`Module::to_empty`].
    fn to_device(&self, device: Device) -> Result<&Self, Error> {
        replace_data(self.as_dyn(), |t| t.detach().try_to_device(device))?;
        Ok(self)
    }

    /// Gives every parameter and buffer fresh storage on `device`, same shapes and
    /// dtypes, values unspecified (zero here) (`module.to_empty(device=...)`): how a
    /// model built on the meta device is materialised, before `load_state_dict` fills
    /// it. Parameters stay the same leaves.
    fn to_empty(&self, device: Device) -> Result<&Self, Error> {
        replace_data(self.as_dyn(), |t| Tensor::empty_on(&t.shape(), t.dtype(), device))?;
        Ok(self)
    }

    /// Clears every parameter's gradient (`set_to_none=True`).
    fn zero_grad(&self) {
        self.parameters().iter().for_each(Tensor::zero_grad);
    }

    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }

    /// Prints the module tree as PyTorch's `repr` does.
    fn repr(&self) -> String {
        let children = self.named_children();
        let head = format!("{}({}", self.type_name(), self.extra_repr());
        if children.is_empty() {
            return head + ")";
        }
        let mut s = head + "\n";
        for (name, c) in children {
            let inner = c.repr().replace('\n', "\n  ");
            s += &format!("  ({name}): {inner}\n");
        }
        s + ")"
    }

    #[doc(hidden)]
    fn as_dyn(&self) -> &dyn Module;
}

impl<M: Module> ModuleExt for M {
    fn as_dyn(&self) -> &dyn Module {
        self
    }
}

impl ModuleExt for dyn Module + '_ {
    fn as_dyn(&self) -> &dyn Module {
        self
    }
}

fn quoted(keys: &[String]) -> String {
    keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
}

/// A tree from dotted names: each segment a map key.
pub fn tree_of(named: &[(String, Tensor)]) -> Tree {
    fn insert(tree: &mut Tree, path: &[&str], t: &Tensor) {
        let Tree::Map(map) = tree else { unreachable!("only maps are built here") };
        match path {
            [leaf] => {
                map.insert(leaf.to_string(), Tree::Leaf(t.clone()));
            }
            [head, rest @ ..] => {
                insert(map.entry(head.to_string()).or_insert_with(|| Tree::Map(BTreeMap::new())), rest, t)
            }
            [] => {}
        }
    }
    let mut root = Tree::Map(BTreeMap::new());
    for (name, t) in named {
        insert(&mut root, &name.split('.').collect::<Vec<_>>(), t);
    }
    root
}
