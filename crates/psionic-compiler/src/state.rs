//! Implicit state: MLX's `compile(step, inputs=state, outputs=state)`.
//!
//! A training step reads tensors it is not passed (the model's parameters, the
//! optimizer's moments) and writes new values into them. Traced as a pure function,
//! those reads would become constants of the trace and the writes would be lost. With
//! state, the compiled function is traced with a symbolic stand-in in place of every
//! state tensor and of every `.grad` a state tensor carries, so they become inputs of
//! the graph after the arguments; the values they hold when the function returns (and
//! the `.grad`s they carry then) become outputs after the function's own. A call reads
//! the state's current values, replays, and writes the outputs back as unrecorded
//! in-place writes (an optimizer's `p.copy_(new)`): a parameter stays the same leaf
//! with the same `.grad` slot, and views of it see the new value.
//!
//! The state is read through a function, called before and after each call, because a
//! step may create state (an optimizer's buffers appear on its first step): a call
//! whose state differs in number, shapes or dtypes from an earlier one traces again,
//! so the first two calls of a typical step trace and the rest replay.

use crate::trace::{self, Graph};
use psionic_array::graph::{self, symbolic};
use psionic_array::mode::{check, is_grad_enabled};
use psionic_array::Tensor;
use psionic_core::{DType, Device, Error, Result};
use std::sync::Mutex;

pub type StateFn = dyn Fn() -> Vec<Tensor> + Send + Sync;

/// What a traced step with state returns after its own outputs: per state tensor (as
/// listed when the step returned) its value, then the `.grad`s of those that have one.
#[derive(Clone, Debug)]
pub struct Layout {
    /// How many outputs are the function's own.
    pub outputs: usize,
    /// Per state tensor after the call: whether it carries a `.grad`.
    pub grads: Vec<bool>,
}

/// A state tensor's part of the cache key: its signature and its `.grad`'s.
pub type StateKey = (DType, Device, Vec<usize>, Option<(DType, Vec<usize>)>);

/// The state tensors at one moment (each tensor once: tied weights are listed by every
/// module that holds them) and the `.grad` each carries.
pub struct Snapshot {
    pub tensors: Vec<Tensor>,
    pub grads: Vec<Option<Tensor>>,
}

impl Snapshot {
    pub fn take(state: &StateFn) -> Result<Snapshot> {
        let mut tensors: Vec<Tensor> = vec![];
        let mut seen = std::collections::HashSet::new();
        for t in state() {
            if t.is_view() {
                return Err(Error::invalid(
                    "compile",
                    "a state tensor is a view of another tensor; pass its base as state instead",
                ));
            }
            if seen.insert(graph::identity(&t)) {
                tensors.push(t);
            }
        }
        let grads = tensors.iter().map(Tensor::grad).collect();
        Ok(Snapshot { tensors, grads })
    }

    pub fn key(&self) -> Vec<StateKey> {
        self.tensors
            .iter()
            .zip(&self.grads)
            .map(|(t, g)| (t.dtype(), t.device(), t.shape(), g.as_ref().map(|g| (g.dtype(), g.shape()))))
            .collect()
    }

    /// The graph inputs this state supplies, in the order `trace` makes them inputs.
    pub fn inputs(&self) -> impl Iterator<Item = Tensor> + '_ {
        self.tensors.iter().cloned().chain(self.grads.iter().flatten().cloned())
    }

    /// The graph outputs this state supplies, and its part of the layout.
    fn outputs(&self) -> (Vec<Tensor>, Vec<bool>) {
        let outs = self.inputs().collect();
        (outs, self.grads.iter().map(Option::is_some).collect())
    }
}

/// Traces `f` with `before`'s tensors and `.grad`s replaced by symbolic stand-ins, in
/// the caller's grad mode (a step's own backward pass is traced); puts the real values
/// back whatever happens.
pub fn trace(
    f: &(dyn Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync),
    args: &[Tensor],
    before: &Snapshot,
    state: &StateFn,
) -> Result<(Graph, Layout)> {
    let mut implicit = vec![];
    let mut replaced = vec![];
    let mut stood = Ok(());
    for t in &before.tensors {
        match graph::stand_in(t, "compile") {
            Ok((stand, old)) => {
                implicit.push(stand);
                replaced.push((t, old));
            }
            Err(e) => {
                stood = Err(e);
                break;
            }
        }
    }
    if stood.is_ok() {
        for (t, g) in before.tensors.iter().zip(&before.grads) {
            if let Some(g) = g {
                let s = symbolic(&g.shape(), g.dtype(), g.device());
                implicit.push(graph::node(&s));
                t.set_grad(Some(s));
            }
        }
    }
    let layout = Mutex::new(None);
    let traced = stood.and_then(|()| {
        let step = |xs: &[Tensor]| {
            let mut outs = f(xs);
            let (more, grads) = check(Snapshot::take(state)).outputs();
            *layout.lock().unwrap() = Some(Layout { outputs: outs.len(), grads });
            outs.extend(more);
            outs
        };
        trace::trace(&step, args, &implicit, is_grad_enabled())
    });
    for (t, old) in replaced {
        graph::restore(t, old);
    }
    for (t, g) in before.tensors.iter().zip(&before.grads) {
        t.set_grad(g.clone());
    }
    let g = traced?;
    Ok((g, layout.into_inner().unwrap().expect("the traced step returned")))
}

/// Writes a replay's state outputs (`outs` after the function's own) into the state as
/// it is listed now.
pub fn write_back(layout: &Layout, outs: &[Tensor], state: &StateFn) -> Result<()> {
    let now = Snapshot::take(state)?;
    if now.tensors.len() != layout.grads.len() {
        return Err(Error::invalid(
            "compile",
            format!(
                "the compiled step was traced with {} state tensors after it ran, but its state now lists {}",
                layout.grads.len(),
                now.tensors.len()
            ),
        ));
    }
    let (values, grads) = outs.split_at(layout.grads.len());
    for (t, v) in now.tensors.iter().zip(values) {
        if !std::sync::Arc::ptr_eq(&graph::node(t), &graph::node(v)) {
            graph::write_state(t, v, "compile")?;
        }
    }
    let mut grads = grads.iter();
    for (t, has) in now.tensors.iter().zip(&layout.grads) {
        t.set_grad(if *has { grads.next().cloned() } else { None });
    }
    Ok(())
}
