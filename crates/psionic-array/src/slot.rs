//! Per-tensor autograd state: the gradient slot (`.grad`, retained grads, hooks) and the
//! version stamps that let backward detect in-place writes to saved values.

use crate::tensor::Tensor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A gradient hook: sees the gradient flowing into a tensor and may replace it.
pub type Hook = Arc<dyn Fn(&Tensor) -> Option<Tensor> + Send + Sync>;

/// Shared by a tensor's cell and the node(s) that hold its value for autograd: a leaf's
/// accumulated `.grad`, a non-leaf's retained gradient, and its hooks.
#[derive(Default)]
pub struct GradSlot {
    pub(crate) grad: Mutex<Option<Tensor>>,
    pub(crate) retains: AtomicBool,
    pub(crate) hooks: Mutex<Vec<Hook>>,
}

impl GradSlot {
    pub(crate) fn retains(&self) -> bool {
        self.retains.load(Ordering::Acquire)
    }
}

/// A tensor's version counter as it was when a backward rule saved the tensor's value.
#[derive(Clone)]
pub(crate) struct SavedVersion {
    pub counter: Arc<AtomicU64>,
    pub at: u64,
    /// Which input of the node (or `None` for its output); its meta names it in errors.
    pub input: Option<usize>,
}

impl SavedVersion {
    pub fn current(&self) -> u64 {
        self.counter.load(Ordering::Acquire)
    }
}
