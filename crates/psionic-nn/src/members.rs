//! What a field of a `#[derive(Module)]` struct may be, and the names its members get:
//! the derive calls these traits on each marked field with the field's name (or an
//! empty one for `flatten`). Collections name their items `name.0`, `name.1`, ... (by
//! index) or `name.key` (by key), as PyTorch's `ModuleList`/`ModuleDict` and
//! `ParameterList`/`ParameterDict` do.

use crate::module::{Member, Module};
use psionic_array::Tensor;

/// `name.key`, or `key` alone under an empty name.
fn join(name: &str, key: &str) -> String {
    if name.is_empty() {
        key.to_string()
    } else {
        format!("{name}.{key}")
    }
}

/// Parameters: a tensor, an optional one (registered as absent when `None`, as
/// `bias=False` is), or a list or keyed list of them.
pub trait Params {
    fn visit_params<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>));
}

impl Params for Tensor {
    fn visit_params<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        f(name, Member::Param(Some(self)));
    }
}

impl Params for Option<Tensor> {
    fn visit_params<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        f(name, Member::Param(self.as_ref()));
    }
}

impl Params for Vec<Tensor> {
    fn visit_params<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        for (i, p) in self.iter().enumerate() {
            f(&join(name, &i.to_string()), Member::Param(Some(p)));
        }
    }
}

impl Params for Vec<(String, Tensor)> {
    fn visit_params<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        for (k, p) in self {
            f(&join(name, k), Member::Param(Some(p)));
        }
    }
}

/// Buffers: a tensor or an optional one; non-persistent ones stay out of `state_dict`.
pub trait Buffers {
    fn visit_buffers<'a>(&'a self, name: &str, persistent: bool, f: &mut dyn FnMut(&str, Member<'a>));
}

impl Buffers for Tensor {
    fn visit_buffers<'a>(&'a self, name: &str, persistent: bool, f: &mut dyn FnMut(&str, Member<'a>)) {
        f(name, Member::Buffer(Some(self), persistent));
    }
}

impl Buffers for Option<Tensor> {
    fn visit_buffers<'a>(&'a self, name: &str, persistent: bool, f: &mut dyn FnMut(&str, Member<'a>)) {
        f(name, Member::Buffer(self.as_ref(), persistent));
    }
}

/// Child modules: a module, an optional one (absent when `None`), or a list or keyed
/// list of them. A single module under an empty name (`flatten`) reports its members as
/// the parent's own.
pub trait Children {
    fn visit_children<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>));
}

impl<T: Module> Children for T {
    fn visit_children<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        if name.is_empty() {
            self.visit(f);
        } else {
            f(name, Member::Child(self));
        }
    }
}

impl<T: Module> Children for Option<T> {
    fn visit_children<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        if let Some(m) = self {
            m.visit_children(name, f);
        }
    }
}

impl<T: Module> Children for Vec<T> {
    fn visit_children<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        for (i, m) in self.iter().enumerate() {
            f(&join(name, &i.to_string()), Member::Child(m));
        }
    }
}

impl<T: Module> Children for Vec<(String, T)> {
    fn visit_children<'a>(&'a self, name: &str, f: &mut dyn FnMut(&str, Member<'a>)) {
        for (k, m) in self {
            f(&join(name, k), Member::Child(m));
        }
    }
}
