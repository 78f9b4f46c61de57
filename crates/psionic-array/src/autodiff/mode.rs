//! Thread-local autograd switches: grad recording scopes (`no_grad`, `enable_grad`,
//! `inference_mode`; the flag itself is the build path's, in `crate::mode`), anomaly
//! detection, and the nesting depth of function transforms.

use std::cell::Cell;

pub use crate::mode::{is_grad_enabled, set_grad_enabled, EnableGradGuard, GradModeGuard, NoGradGuard};

thread_local! {
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
    static TRANSFORM_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` without recording: results do not require grad, and in-place updates of
/// leaves that require grad (optimizer steps) are allowed.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = NoGradGuard::new();
    f()
}

/// Runs `f` with recording on, even inside `no_grad`.
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let _g = EnableGradGuard::new();
    f()
}

/// PyTorch's `inference_mode`: here the same as [`no_grad`] (no graph, no saved tensors);
/// PyTorch additionally marks the results as inference tensors, which Psionic does not.
pub fn inference_mode<R>(f: impl FnOnce() -> R) -> R {
    no_grad(f)
}

/// Anomaly mode: backward checks every gradient it computes and fails naming the op whose
/// backward produced a NaN or infinity.
pub fn set_detect_anomaly(on: bool) -> bool {
    ANOMALY.with(|a| a.replace(on))
}

pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// Runs `f` with anomaly detection on.
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_detect_anomaly(self.0);
        }
    }
    let _r = Restore(set_detect_anomaly(true));
    f()
}

/// Marks one level of function transform (`grad`, `vjp`, ...) while alive; nested levels
/// must record their backward so the outer level can differentiate it.
pub(crate) struct TransformLevel {
    pub outer_depth: usize,
}

impl TransformLevel {
    pub fn enter() -> Self {
        TransformLevel { outer_depth: TRANSFORM_DEPTH.with(|d| d.replace(d.get() + 1)) }
    }
}

impl Drop for TransformLevel {
    fn drop(&mut self) {
        TRANSFORM_DEPTH.with(|d| d.set(self.outer_depth));
    }
}
