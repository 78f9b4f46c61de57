//! Evaluation mode (eager or lazy), grad mode (whether built nodes record for backward),
//! the default device of factories, and how op errors reach the caller.

use psionic_core::{Device, Error};
use std::cell::Cell;

thread_local! {
    static DEFAULT_DEVICE: Cell<Device> = const { Cell::new(Device::Cpu) };
    static LAZY_DEPTH: Cell<usize> = const { Cell::new(0) };
    static FALLIBLE_DEPTH: Cell<usize> = const { Cell::new(0) };
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True inside a [`lazy`] scope on this thread.
pub fn is_lazy() -> bool {
    LAZY_DEPTH.with(|d| d.get() > 0)
}

/// Guard form of [`lazy`]: ops build nodes without evaluating them until it is dropped
/// or something asks for values (`eval`, `item`, `to_vec`, printing).
pub struct LazyGuard(());

impl LazyGuard {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        LAZY_DEPTH.with(|d| d.set(d.get() + 1));
        LazyGuard(())
    }
}

impl Drop for LazyGuard {
    fn drop(&mut self) {
        LAZY_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs `f` in lazy mode (MLX-style): work is deferred until values are needed, and then
/// only what is needed is computed, each node once.
pub fn lazy<R>(f: impl FnOnce() -> R) -> R {
    let _g = LazyGuard::new();
    f()
}

/// The device factories (`zeros`, `from_vec`, `randn`, a module's parameters) create
/// tensors on, on this thread: the CPU unless set.
pub fn default_device() -> Device {
    DEFAULT_DEVICE.with(|d| d.get())
}

/// Sets [`default_device`] for this thread (`torch.set_default_device`).
pub fn set_default_device(device: Device) {
    DEFAULT_DEVICE.with(|d| d.set(device));
}

/// Guard form of [`with_device`]: restores the previous default device when dropped.
pub struct DeviceGuard(Device);

impl DeviceGuard {
    pub fn new(device: Device) -> Self {
        DeviceGuard(DEFAULT_DEVICE.with(|d| d.replace(device)))
    }
}

impl Drop for DeviceGuard {
    fn drop(&mut self) {
        set_default_device(self.0);
    }
}

/// Runs `f` with factories creating tensors on `device` (`with torch.device(...)`):
/// under `Device::Meta`, a model of any size is built without allocating its weights.
pub fn with_device<R>(device: Device, f: impl FnOnce() -> R) -> R {
    let _g = DeviceGuard::new(device);
    f()
}

/// Raises an op error: a panic naming the op and shapes at the caller's line, or, inside
/// [`fallible`], an `Err` returned from it (unwound without the panic hook's noise).
#[track_caller]
pub fn raise(e: Error) -> ! {
    if FALLIBLE_DEPTH.with(|d| d.get()) > 0 {
        std::panic::resume_unwind(Box::new(e));
    }
    panic!("{e}")
}

/// Unwraps an op result, raising its error.
#[track_caller]
pub fn check<T>(r: psionic_core::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => raise(e),
    }
}

/// The fallible path of every op: runs `f` and turns the first op error it raises into
/// `Err`. Panics that are not op errors (bugs) still propagate.
///
/// ```
/// use psionic_array::{fallible, Tensor};
/// let a = Tensor::zeros(&[2, 3], psionic_core::DType::F32);
/// let b = Tensor::zeros(&[4], psionic_core::DType::F32);
/// let err = fallible(|| &a + &b).unwrap_err();
/// assert!(err.to_string().contains("must match"));
/// ```
pub fn fallible<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            FALLIBLE_DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    FALLIBLE_DEPTH.with(|d| d.set(d.get() + 1));
    let _depth = Depth;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => match payload.downcast::<Error>() {
            Ok(e) => Err(*e),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// True when ops record the graph for backward (PyTorch's `torch.is_grad_enabled()`).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Sets grad recording on this thread and returns the previous setting.
pub fn set_grad_enabled(on: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(on))
}

/// Restores the previous grad mode when dropped. Made by [`NoGradGuard::new`],
/// [`EnableGradGuard::new`] or [`GradModeGuard::new`].
pub struct GradModeGuard {
    prev: bool,
}

impl GradModeGuard {
    pub fn new(on: bool) -> Self {
        GradModeGuard { prev: set_grad_enabled(on) }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.prev);
    }
}

/// Guard form of [`no_grad`] (`with torch.no_grad():`).
pub struct NoGradGuard {
    _mode: GradModeGuard,
}

impl NoGradGuard {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NoGradGuard { _mode: GradModeGuard::new(false) }
    }
}

/// Guard form of [`enable_grad`].
pub struct EnableGradGuard {
    _mode: GradModeGuard,
}

impl EnableGradGuard {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        EnableGradGuard { _mode: GradModeGuard::new(true) }
    }
}
