//! The PyTorch face of autograd on `Tensor`: `requires_grad_`, `backward`, `.grad()`,
//! `detach`, `retain_grad`, hooks, and `autograd::grad`.

use super::backward::{run, Opts};
use super::mode::GradModeGuard;
use super::slot::{GradSlot, Hook};
use crate::mode::{check, raise};
use crate::prim::ViewOp;
use crate::tensor::{alias, leaf_alias, Tensor};
use psionic_core::{Error, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Options of [`Tensor::backward_with`]; `Default` is PyTorch's `backward()`.
#[derive(Default, Clone)]
pub struct BackwardOpts {
    /// Gradient of the output; required unless the output has one element.
    pub gradient: Option<Tensor>,
    /// Keep the graph so backward can run through it again.
    pub retain_graph: bool,
    /// Record the backward pass so the gradients can be differentiated again.
    pub create_graph: bool,
}

impl Tensor {
    /// This tensor's gradient slot, created on first use.
    fn slot(&self) -> Arc<GradSlot> {
        self.0.slot.lock().unwrap().get_or_insert_with(super::record::new_slot).clone()
    }

    /// True when gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.node().requires_grad()
    }

    /// False only for results of recorded ops (PyTorch: tensors with a `grad_fn`).
    pub fn is_leaf(&self) -> bool {
        !self.node().ad.recorded
    }

    /// Makes this tensor a leaf whose gradients accumulate in [`Tensor::grad`]
    /// (`requires_grad_(True)`), or stops that (`False`, leaves only).
    #[track_caller]
    pub fn requires_grad_(&self, on: bool) -> &Self {
        check(self.try_requires_grad_(on));
        self
    }

    pub fn try_requires_grad_(&self, on: bool) -> Result<()> {
        let node = self.node();
        if node.ad.recorded {
            if on {
                return Ok(());
            }
            return Err(Error::invalid(
                "requires_grad_",
                "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().",
            ));
        }
        if on == node.requires_grad() {
            return Ok(());
        }
        if on && !self.dtype().is_float() {
            return Err(Error::dtype(
                "requires_grad_",
                "only Tensors of floating point and complex dtype can require gradients",
            ));
        }
        let new = if on {
            leaf_alias(&node, self.slot())?
        } else {
            let _g = GradModeGuard::new(false);
            alias(&node)?
        };
        self.set_node(new);
        Ok(())
    }

    /// The accumulated gradient of a leaf, or the retained gradient of a non-leaf.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.slot.lock().unwrap().as_ref().and_then(|s| s.grad.lock().unwrap().clone())
    }

    /// Replaces the gradient (`x.grad = g`), e.g. to clear it with `None`.
    pub fn set_grad(&self, g: Option<Tensor>) {
        *self.slot().grad.lock().unwrap() = g;
    }

    /// Clears the gradient (`set_to_none=True`, PyTorch's default).
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// A tensor sharing this one's storage and version counter that never requires grad;
    /// in-place writes through it change this tensor's data, not its graph.
    pub fn detach(&self) -> Tensor {
        check(self.make_view_with(ViewOp::Reshape(self.shape()), true))
    }

    /// Detaches this tensor in place: it becomes a leaf that does not require grad.
    #[track_caller]
    pub fn detach_(&self) -> &Self {
        if self.is_view() {
            raise(Error::invalid("detach_", "Can't detach views in-place. Use detach() instead."));
        }
        let _g = GradModeGuard::new(false);
        self.set_node(check(alias(&self.node())));
        self
    }

    /// PyTorch's `t.data = value`: this tensor now holds `value`'s data (any shape or
    /// dtype; shared, not copied) and keeps its identity: a leaf stays the same leaf with
    /// the same `.grad` slot and `requires_grad`. A gradient of another dtype is cast with
    /// it (what `module.to(dtype)` does to parameters); views cannot be re-pointed.
    #[track_caller]
    pub fn set_data(&self, value: &Tensor) -> &Self {
        if self.is_view() {
            raise(Error::invalid("set_data", "cannot set the data of a view"));
        }
        let _g = GradModeGuard::new(false);
        let node = self.node();
        let new = check(alias(&value.node()));
        let new = match node.ad.slot.get() {
            Some(slot) if node.is_grad_leaf() => check(leaf_alias(&new, slot.clone())),
            _ => new,
        };
        self.set_node(new);
        self.counter().fetch_add(1, Ordering::AcqRel);
        if let Some(g) = self.grad().filter(|g| g.dtype() != value.dtype()) {
            self.set_grad(Some(g.to_dtype(value.dtype())));
        }
        self
    }

    /// Keeps this non-leaf's gradient in [`Tensor::grad`] after backward.
    #[track_caller]
    pub fn retain_grad(&self) -> &Self {
        let node = self.node();
        if !node.requires_grad() {
            raise(Error::invalid("retain_grad", "can't retain_grad on Tensor that has requires_grad=False"));
        }
        if node.ad.recorded {
            let slot = node.ad.slot.get_or_init(|| self.slot()).clone();
            *self.0.slot.lock().unwrap() = Some(slot.clone());
            slot.retains.store(true, Ordering::Release);
        }
        self
    }

    pub fn retains_grad(&self) -> bool {
        self.node().ad.recorded && self.0.slot.lock().unwrap().as_ref().is_some_and(|s| s.retains())
    }

    /// Runs `hook` on the gradient reaching this tensor during backward; returning `Some`
    /// replaces that gradient.
    #[track_caller]
    pub fn register_hook(&self, hook: impl Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static) -> &Self {
        let node = self.node();
        if !node.requires_grad() {
            raise(Error::invalid("register_hook", "cannot register a hook on a tensor that doesn't require gradient"));
        }
        let slot = node.ad.slot.get_or_init(|| self.slot()).clone();
        *self.0.slot.lock().unwrap() = Some(slot.clone());
        slot.hooks.lock().unwrap().push(Arc::new(hook) as Hook);
        self
    }

    /// `backward()`: gradients of this one-element tensor accumulate into the leaves.
    #[track_caller]
    pub fn backward(&self) {
        check(self.try_backward(BackwardOpts::default()))
    }

    /// `backward(gradient, retain_graph, create_graph)`.
    #[track_caller]
    pub fn backward_with(&self, opts: BackwardOpts) {
        check(self.try_backward(opts))
    }

    pub fn try_backward(&self, opts: BackwardOpts) -> Result<()> {
        let g = root_grad(self, opts.gradient.as_ref())?;
        let o = Opts { retain_graph: opts.retain_graph || opts.create_graph, create_graph: opts.create_graph };
        run(vec![(self.node(), g)], None, &o).map(|_| ())
    }
}

/// The starting gradient for `out`: `gradient`, or ones for a one-element output.
fn root_grad(out: &Tensor, gradient: Option<&Tensor>) -> Result<Tensor> {
    if !out.requires_grad() {
        return Err(Error::invalid(
            "backward",
            "element 0 of tensors does not require grad and does not have a grad_fn",
        ));
    }
    match gradient {
        Some(g) => {
            if g.shape() != out.shape() {
                return Err(Error::shape(
                    "backward",
                    format!(
                        "Mismatch in shape: grad_output[0] has a shape of {:?} and output[0] has a shape of {:?}.",
                        g.shape(),
                        out.shape()
                    ),
                ));
            }
            Ok(g.to_dtype(out.dtype()))
        }
        None if out.numel() == 1 => Ok(out.ones_like()),
        None => Err(Error::invalid("backward", "grad can be implicitly created only for scalar outputs")),
    }
}

/// Options of [`grad`]; `Default` matches `torch.autograd.grad`'s defaults.
#[derive(Default, Clone)]
pub struct GradOpts {
    /// One gradient per output (ones for one-element outputs when absent).
    pub grad_outputs: Option<Vec<Tensor>>,
    /// Defaults to `create_graph`.
    pub retain_graph: Option<bool>,
    pub create_graph: bool,
    /// Return `None` for inputs the outputs do not depend on instead of failing.
    pub allow_unused: bool,
}

/// `torch.autograd.grad`: gradients of `outputs` with respect to `inputs`, without
/// touching any `.grad`.
#[track_caller]
pub fn grad(outputs: &[&Tensor], inputs: &[&Tensor], opts: GradOpts) -> Vec<Option<Tensor>> {
    check(try_grad(outputs, inputs, opts))
}

pub fn try_grad(outputs: &[&Tensor], inputs: &[&Tensor], opts: GradOpts) -> Result<Vec<Option<Tensor>>> {
    let mut roots = vec![];
    for (i, o) in outputs.iter().enumerate() {
        let g = opts.grad_outputs.as_ref().and_then(|v| v.get(i));
        roots.push((o.node(), root_grad(o, g)?));
    }
    let mut targets = vec![];
    for t in inputs {
        let n = t.node();
        if !n.requires_grad() {
            return Err(Error::invalid("grad", "One of the differentiated Tensors does not require grad"));
        }
        targets.push(n);
    }
    let o = Opts { retain_graph: opts.retain_graph.unwrap_or(opts.create_graph), create_graph: opts.create_graph };
    let out = run(roots, Some(&targets), &o)?;
    if !opts.allow_unused && out.iter().any(|g| g.is_none()) {
        return Err(Error::invalid(
            "grad",
            "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.",
        ));
    }
    Ok(out)
}
