//! The `Tensor` handle.
//!
//! `Tensor` is a shared handle to a cell, so `Clone` behaves like assigning a Python
//! variable: both names see in-place writes. The cell points at the node that currently
//! holds its value; an in-place op builds a new node and re-points the cell (old nodes are
//! immutable) and bumps a version counter shared by a base and all of its views. A view
//! remembers its base and the chain of [`ViewOp`]s that made it, and re-derives itself
//! when it sees that the shared version moved. A write through a view becomes a
//! `SliceUpdate` node on the base (functionalization), so the base and every other view
//! observe it. [`Tensor::deep_clone`] (PyTorch's `clone()`) makes an independent copy.

use crate::backend;
use crate::mode::{check, default_device, is_grad_enabled, is_lazy, GradModeGuard};
use crate::node::{Inputs, Node};
use crate::prim::{Meta, Prim, ViewOp};
use crate::slot::GradSlot;
use psionic_core::{DType, Device, Error, Layout, Result};
use psionic_cpu::{CpuArray, Element};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Cell>);

pub(crate) struct Cell {
    node: Mutex<Arc<Node>>,
    /// The in-place write counter, shared by a base and its views; created on first need
    /// (a write, a view, a saved value), so a plain eager result allocates none.
    version: OnceLock<Arc<AtomicU64>>,
    view: Option<ViewLink>,
    /// `.grad`, retained gradient and hooks; created on first use.
    pub(crate) slot: Mutex<Option<Arc<GradSlot>>>,
}

struct ViewLink {
    /// Always a non-view tensor: views of views flatten their chains.
    base: Tensor,
    chain: Vec<ViewOp>,
    seen: AtomicU64,
    /// Whether re-deriving the view records it for autograd: as when it was made.
    record: bool,
    /// Made by `detach`: writes through it reach the base's data but not its graph.
    detached: bool,
}

impl Tensor {
    pub(crate) fn from_node(node: Arc<Node>) -> Tensor {
        Tensor(Arc::new(Cell { node: Mutex::new(node), version: OnceLock::new(), view: None, slot: Mutex::new(None) }))
    }

    /// Re-points this tensor at `node` (no version bump): autograd bookkeeping only.
    pub(crate) fn set_node(&self, node: Arc<Node>) {
        *self.0.node.lock().unwrap() = node;
    }

    /// The base tensor when this is a view.
    pub(crate) fn view_base(&self) -> Option<&Tensor> {
        self.0.view.as_ref().map(|v| &v.base)
    }

    /// A tensor of host values, on the default device (where factories create).
    #[track_caller]
    pub(crate) fn from_array(a: CpuArray) -> Tensor {
        let meta = Meta { shape: a.shape().into(), dtype: a.dtype(), strides: a.layout.strides.clone() };
        let device = default_device();
        let data = check(backend::of(device).and_then(|b| b.upload(a, &meta)));
        Self::from_node(Node::stored(data, meta, device))
    }

    /// The node that holds this tensor's current value.
    pub(crate) fn node(&self) -> Arc<Node> {
        if let Some(v) = &self.0.view {
            let cur = self.version();
            if v.seen.load(Ordering::Acquire) != cur {
                let _mode = GradModeGuard::new(v.record);
                let mut n = v.base.node();
                for op in &v.chain {
                    n = check(build(Prim::View(op.clone()), vec![n]));
                }
                *self.0.node.lock().unwrap() = n;
                v.seen.store(cur, Ordering::Release);
            }
        }
        self.0.node.lock().unwrap().clone()
    }

    /// Reads the current node in place. Metadata queries run several times per op, and
    /// taking a reference (`node`) costs two more atomic operations each; a view still
    /// goes through `node`, which re-derives it after a write to its base.
    fn peek<R>(&self, f: impl FnOnce(&Node) -> R) -> R {
        if self.0.view.is_some() {
            return f(&self.node());
        }
        f(&self.0.node.lock().unwrap())
    }

    /// Builds the node for `prim` over `inputs` (shape and dtype inferred now, so misuse
    /// fails here), evaluating it at once unless in lazy mode.
    pub(crate) fn make(prim: Prim, inputs: &[&Tensor]) -> Result<Tensor> {
        let node = build(prim, inputs.iter().map(|t| t.node()).collect::<Inputs>())?;
        let out = Self::from_node(node.clone());
        if node.ad.recorded {
            for i in crate::interp::active() {
                i.made(&node, inputs, &out);
            }
        }
        Ok(out)
    }

    /// A view of `self` through `op`, sharing storage and version with the base.
    pub(crate) fn make_view(&self, op: ViewOp) -> Result<Tensor> {
        self.make_view_with(op, false)
    }

    /// `make_view`, or for `detach` a view whose node and re-derivations never record.
    pub(crate) fn make_view_with(&self, op: ViewOp, detach: bool) -> Result<Tensor> {
        let node = {
            let _mode = detach.then(|| GradModeGuard::new(false));
            build(Prim::View(op.clone()), vec![self.node()])?
        };
        let (base, mut chain, detached) = match &self.0.view {
            Some(v) => (v.base.clone(), v.chain.clone(), v.detached || detach),
            None => (self.clone(), vec![], detach),
        };
        chain.push(op);
        let seen = AtomicU64::new(self.version());
        let record = node.ad.recorded;
        Ok(Tensor(Arc::new(Cell {
            node: Mutex::new(node),
            version: OnceLock::from(self.counter().clone()),
            view: Some(ViewLink { base, chain, seen, record, detached }),
            slot: Mutex::new(None),
        })))
    }

    /// Replaces this tensor's value with `value` (already of its shape and dtype): the
    /// in-place write every `op_` funnels into.
    pub(crate) fn assign(&self, value: &Tensor) -> Result<()> {
        debug_assert_eq!(value.shape(), self.shape());
        let detached = self.0.view.as_ref().is_some_and(|v| v.detached);
        let target = self.view_base().unwrap_or(self);
        let old = target.node();
        if is_grad_enabled() && !detached && old.is_grad_leaf() {
            let what = if self.is_view() { "a view of a leaf Variable" } else { "a leaf Variable" };
            return Err(Error::invalid(
                "in-place",
                format!("{what} that requires grad is being used in an in-place operation."),
            ));
        }
        let new = match &self.0.view {
            None => value.node(),
            Some(v) => {
                let base_shape = v.base.shape();
                let target = v.chain.iter().try_fold(Layout::contiguous(&base_shape), |l, op| op.apply(&l))?;
                if target.has_internal_overlap() {
                    return Err(Error::invalid(
                        "in-place",
                        "unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.",
                    ));
                }
                let _mode = detached.then(|| GradModeGuard::new(false));
                build(
                    Prim::SliceUpdate(crate::prim::SliceUpdate { chain: v.chain.clone() }),
                    vec![v.base.node(), value.node()],
                )?
            }
        };
        for i in crate::interp::active() {
            i.check_write(&old, &new)?;
        }
        // A leaf updated without recording (an optimizer step under no_grad, a write
        // through `detach()`) stays the same leaf: same `.grad`, still requiring grad.
        let new = match old.ad.slot.get() {
            Some(slot) if old.is_grad_leaf() && !new.ad.recorded => leaf_alias(&new, slot.clone())?,
            _ => new,
        };
        target.set_node(new);
        let now = self.counter().fetch_add(1, Ordering::AcqRel) + 1;
        // The new value's rule saved this tensor's old value (PyTorch saves a copy of an
        // in-place op's input) or its own output: both are current as of this write.
        // Casts and broadcasts between that op and the write are looked through.
        let mut node = Some(value.node());
        while let Some(n) = node {
            for s in n.ad.saved.lock().unwrap().iter_mut() {
                let of_value = value.0.version.get().is_some_and(|c| Arc::ptr_eq(&s.counter, c));
                if Arc::ptr_eq(&s.counter, self.counter()) || of_value {
                    s.counter = self.counter().clone();
                    s.at = now;
                }
            }
            let through = matches!(n.prim, Prim::Cast(_) | Prim::View(ViewOp::Expand(_)));
            node = if through { n.ad.edges.lock().unwrap().as_ref().and_then(|e| e.first().cloned()) } else { None };
        }
        Ok(())
    }

    /// Whether `self` and `other` are the same handle (Python's `is`).
    pub fn same_handle(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// How many in-place writes this tensor (or its base, or any view of that base) has
    /// seen: PyTorch's `_version`.
    pub fn version(&self) -> u64 {
        self.0.version.get().map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// The shared counter behind [`Tensor::version`], created at zero on first use.
    pub(crate) fn counter(&self) -> &Arc<AtomicU64> {
        self.0.version.get_or_init(Default::default)
    }

    /// True when this tensor is a view sharing storage with another (`._is_view()`).
    pub fn is_view(&self) -> bool {
        self.0.view.is_some()
    }

    pub fn shape(&self) -> Vec<usize> {
        self.peek(|n| n.meta.shape.to_vec())
    }

    /// Size of one dim (negative counts from the end).
    pub fn size(&self, dim: i64) -> usize {
        let s = self.shape();
        s[check(psionic_core::normalize_dim("size", dim, s.len()))]
    }

    pub fn dim(&self) -> usize {
        self.peek(|n| n.meta.shape.len())
    }

    pub fn ndim(&self) -> usize {
        self.dim()
    }

    pub fn numel(&self) -> usize {
        self.peek(|n| psionic_core::numel(&n.meta.shape))
    }

    pub fn dtype(&self) -> DType {
        self.peek(|n| n.meta.dtype)
    }

    pub fn device(&self) -> Device {
        self.peek(|n| n.device)
    }

    /// Evaluates this tensor now (a no-op in eager mode), raising any deferred error.
    pub fn eval(&self) -> &Self {
        check(self.try_eval());
        self
    }

    pub fn try_eval(&self) -> Result<()> {
        self.node().eval().map(|_| ())
    }

    /// The evaluated array behind this tensor, in host memory.
    #[track_caller]
    pub(crate) fn array(&self) -> CpuArray {
        check(self.try_array())
    }

    pub(crate) fn try_array(&self) -> Result<CpuArray> {
        let node = self.node();
        backend::of(node.device)?.download(node.eval()?, "values")
    }

    /// True on the meta device: shape, dtype and strides without values.
    pub fn is_meta(&self) -> bool {
        self.device() == Device::Meta
    }

    /// Element strides (PyTorch's `stride()`); known without evaluating.
    pub fn strides(&self) -> Vec<isize> {
        self.peek(|n| n.meta.strides.to_vec())
    }

    pub fn storage_offset(&self) -> usize {
        self.array().layout.offset
    }

    pub fn is_contiguous(&self) -> bool {
        self.peek(|n| n.meta.layout().is_contiguous())
    }

    /// True when both tensors read the same storage (views of one another).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.array().storage, &other.array().storage)
    }

    /// All elements in row-major order, converted to `T`.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        let a = self.array();
        if a.dtype() == T::DTYPE {
            a.to_vec::<T>()
        } else {
            psionic_cpu::cast::cast(&a, T::DTYPE).to_vec::<T>()
        }
    }

    /// The value of a one-element tensor.
    #[track_caller]
    pub fn item<T: Element>(&self) -> T {
        let n = self.numel();
        if n != 1 {
            crate::mode::raise(Error::invalid(
                "item",
                format!("a Tensor with {n} elements cannot be converted to Scalar"),
            ));
        }
        self.to_vec::<T>()[0]
    }

    /// An independent copy with its own storage (PyTorch's `clone()`; Rust's `Clone` on
    /// `Tensor` shares the tensor instead, like assigning a Python name).
    pub fn deep_clone(&self) -> Tensor {
        check(Self::make(Prim::Contiguous(crate::prim::Contiguous), &[self]))
    }

    /// `self` when already contiguous, otherwise a contiguous copy.
    pub fn contiguous(&self) -> Tensor {
        if self.node().is_evaluated() && self.is_contiguous() {
            return self.clone();
        }
        self.deep_clone()
    }

    /// `self` when the dtype already matches, otherwise a converted copy (`.to(dtype)`).
    /// Itself when floating point; integers and bools promote to the default float dtype,
    /// as float-only ops take them.
    pub(crate) fn to_float(&self) -> Tensor {
        self.to_dtype(self.dtype().to_float())
    }

    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            return self.clone();
        }
        check(Self::make(Prim::Cast(crate::prim::Cast(dtype)), &[self]))
    }

    /// Moves to a device (`.to(device)`): itself when already there, otherwise a copy
    /// made through the host by the two backends. The copy is a new leaf (gradients do
    /// not cross devices). Leaving `meta` is refused, as it has no values (use
    /// `Module::to_empty`); a device without a backend is `Error::NoBackend`.
    #[track_caller]
    pub fn to_device(&self, device: Device) -> Tensor {
        check(self.try_to_device(device))
    }

    pub fn try_to_device(&self, device: Device) -> Result<Tensor> {
        let from = self.device();
        if from == device {
            return Ok(self.clone());
        }
        let to = backend::of(device)?;
        let node = self.node();
        let host = backend::of(from)?.download(node.eval()?, "to")?;
        let data = to.upload(host, &node.meta)?;
        Ok(Tensor::from_node(Node::stored(data, node.meta.clone(), device)))
    }
}

/// A new node holding the same value as `node` (zero-copy): a distinct identity for
/// autograd bookkeeping. Recorded, like any op, when grad mode is on and `node` requires
/// grad.
pub(crate) fn alias(node: &Arc<Node>) -> Result<Arc<Node>> {
    build(Prim::View(ViewOp::Reshape(node.meta.shape.to_vec())), vec![node.clone()])
}

/// An unrecorded [`alias`] of `node` marked as the leaf whose gradients go to `slot`.
pub(crate) fn leaf_alias(node: &Arc<Node>, slot: Arc<GradSlot>) -> Result<Arc<Node>> {
    let n = {
        let _mode = GradModeGuard::new(false);
        alias(node)?
    };
    let _ = n.ad.slot.set(slot);
    Ok(n)
}

/// The device an op over `inputs` runs on: theirs, which must agree, except that a
/// 0-dim CPU tensor joins an op on any device (PyTorch's wrapped scalars) and the meta
/// device takes CPU inputs of any shape (it reads no values, and library code builds
/// index tensors on the host).
#[inline(always)]
fn device_of(inputs: &Inputs) -> Result<Device> {
    let first = inputs.first().map_or(Device::Cpu, |n| n.device);
    if inputs.iter().all(|n| n.device == first) {
        return Ok(first);
    }
    mixed_device(inputs)
}

/// [`device_of`] for inputs on more than one device (kept out of line: eager ops on one
/// device never reach it).
#[cold]
fn mixed_device(inputs: &Inputs) -> Result<Device> {
    let mut device = None;
    for n in inputs {
        let d = n.device;
        match device {
            _ if d == Device::Cpu && n.meta.shape.is_empty() => {}
            None => device = Some(d),
            Some(seen) if seen == d => {}
            Some(Device::Meta) if d == Device::Cpu => {}
            Some(Device::Cpu) if d == Device::Meta => device = Some(d),
            Some(seen) => return Err(Error::DeviceMismatch { op: "op", a: seen, b: d }),
        }
    }
    Ok(device.unwrap_or(Device::Cpu))
}

/// Infers the node's meta, checks devices, and evaluates it unless lazy. The node records
/// its inputs for backward when grad mode is on, its output is a float, and some input
/// requires grad.
pub(crate) fn build(prim: Prim, inputs: impl Into<Inputs>) -> Result<Arc<Node>> {
    let inputs = inputs.into();
    let device = device_of(&inputs)?;
    let meta = prim.infer(&inputs.iter().map(|n| &n.meta).collect::<SmallVec<[&Meta; 4]>>())?;
    // The transforms running on this thread (see `interp.rs`): usually recording alone.
    let (mut record, mut watched) = (false, false);
    for i in crate::interp::active() {
        record |= i.records(&meta, &inputs);
        watched |= i.watches();
    }
    let ins = watched.then(|| inputs.clone());
    let node = Node::new(prim, inputs, meta, device, record);
    let Some(ins) = ins else {
        if !is_lazy() {
            node.eval()?;
        }
        return Ok(node);
    };
    // A node standing for a batched value inside vmap is never evaluated: its twin is.
    let mut claimed = false;
    for i in crate::interp::active().filter(|i| i.watches()) {
        claimed |= i.claims(&node, &ins);
    }
    if !is_lazy() && !claimed {
        node.eval()?;
    }
    for i in crate::interp::active().filter(|i| i.watches()) {
        i.built(&node, &ins);
    }
    Ok(node)
}
