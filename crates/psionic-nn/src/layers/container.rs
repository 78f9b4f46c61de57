//! Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict. Their
//! children are named `"0"`, `"1"`, ... or by key, as in PyTorch, so state_dict keys
//! line up (`"layers.0.weight"`).

use crate::module::{Forward, Member};
use crate::Module;
use psionic_array::Tensor;

impl<T: Module + ?Sized> Module for Box<T> {
    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
    fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, Member<'a>)) {
        (**self).visit(f)
    }
    fn extra_repr(&self) -> String {
        (**self).extra_repr()
    }
}

impl<T: Forward + ?Sized> Forward for Box<T> {
    fn forward(&self, x: &Tensor) -> Tensor {
        (**self).forward(x)
    }
}

/// Applies its modules in order.
#[derive(Default, Module)]
pub struct Sequential {
    #[child(flatten)]
    pub layers: Vec<Box<dyn Forward>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a module (builder style).
    pub fn push(mut self, m: impl Forward + 'static) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Forward for Sequential {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers.iter().fold(x.clone(), |h, m| m.forward(&h))
    }
}

/// A list of modules of one type (`Box<dyn Module>` for mixed ones).
#[derive(Module)]
#[module(bound = "M: Module")]
pub struct ModuleList<M = Box<dyn Module>> {
    #[child(flatten)]
    pub items: Vec<M>,
}

impl<M> Default for ModuleList<M> {
    fn default() -> Self {
        ModuleList { items: vec![] }
    }
}

impl<M> ModuleList<M> {
    pub fn new(items: Vec<M>) -> Self {
        ModuleList { items }
    }
    pub fn iter(&self) -> std::slice::Iter<'_, M> {
        self.items.iter()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Modules by name, in insertion order.
#[derive(Default, Module)]
pub struct ModuleDict {
    #[child(flatten)]
    pub items: Vec<(String, Box<dyn Module>)>,
}

impl ModuleDict {
    pub fn insert(&mut self, name: impl Into<String>, m: impl Module + 'static) {
        let name = name.into();
        let m: Box<dyn Module> = Box::new(m);
        match self.items.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = m,
            None => self.items.push((name, m)),
        }
    }
    pub fn get(&self, name: &str) -> Option<&dyn Module> {
        self.items.iter().find(|(k, _)| k == name).map(|(_, m)| &**m)
    }
}

/// Parameters named `"0"`, `"1"`, ...
#[derive(Default, Module)]
pub struct ParameterList {
    #[param(flatten)]
    pub items: Vec<Tensor>,
}

impl ParameterList {
    /// Takes tensors as parameters (leaves that require grad).
    pub fn new(items: Vec<Tensor>) -> ParameterList {
        ParameterList { items: items.into_iter().map(as_param).collect() }
    }
}

fn as_param(t: Tensor) -> Tensor {
    let t = if t.is_leaf() { t } else { t.detach() };
    t.requires_grad_(true);
    t
}

/// Parameters by name, in insertion order.
#[derive(Default, Module)]
pub struct ParameterDict {
    #[param(flatten)]
    pub items: Vec<(String, Tensor)>,
}

impl ParameterDict {
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        let (name, t) = (name.into(), as_param(t));
        match self.items.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = t,
            None => self.items.push((name, t)),
        }
    }
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.items.iter().find(|(k, _)| k == name).map(|(_, t)| t)
    }
}
