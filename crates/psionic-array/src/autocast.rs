//! Autocast: `torch.autocast("cpu", dtype)`. Inside an autocast region, ops on
//! PyTorch's lower-precision list (matmul and its relatives, `linear`, convolutions,
//! `prelu`, scaled dot-product attention) cast their floating inputs to the region's
//! dtype (bf16 or f16) and compute there; ops on its float32 list (the losses, `prod`,
//! `cdist`, `trace`, the factorizations, `quantile`, 3-d pooling, reflection and
//! replication padding, `grid_sample`) cast theirs to f32; every other op runs in the
//! dtypes it is given, so a bf16 activation stays bf16 through `gelu` or `layer_norm`
//! and mixed inputs promote as usual. f64 tensors are never cast, as in PyTorch. The
//! lists are PyTorch's CPU lists, checked op by op against PyTorch in
//! `crates/psionic/tests/autocast_policy.rs`, which writes `docs/autocast.md`.
//!
//! Casts are ordinary ops, so gradients flow back through them in each input's own
//! dtype (an f32 weight gets an f32 gradient). Backward passes run with autocast off, as
//! PyTorch's engine runs them; a compiled function is traced again when the autocast
//! state differs from its trace's.

use crate::tensor::Tensor;
use psionic_core::DType;
use std::cell::Cell;

thread_local! {
    static DTYPE: Cell<Option<DType>> = const { Cell::new(None) };
}

/// The dtype of the innermost enclosing autocast region on this thread, if any.
pub fn autocast_dtype() -> Option<DType> {
    DTYPE.with(|d| d.get())
}

/// Enters (`Some(dtype)`) or leaves (`None`) autocast until dropped, restoring the
/// previous state then: `torch.autocast(..., enabled=...)` as a guard.
pub struct AutocastGuard {
    prev: Option<DType>,
}

impl AutocastGuard {
    /// `dtype` must be bf16 or f16 where given.
    #[track_caller]
    pub fn new(dtype: Option<DType>) -> AutocastGuard {
        if let Some(d) = dtype {
            if !matches!(d, DType::BF16 | DType::F16) {
                crate::mode::raise(psionic_core::Error::dtype(
                    "autocast",
                    format!(
                        "In CPU autocast, but the target dtype is not supported. Disabling autocast.\nCPU Autocast only supports dtype of torch.bfloat16, torch.float16 currently (got {})",
                        d.name()
                    ),
                ));
            }
        }
        AutocastGuard { prev: DTYPE.with(|c| c.replace(dtype)) }
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        DTYPE.with(|c| c.set(self.prev));
    }
}

/// Runs `f` in an autocast region of `dtype` (bf16 or f16).
#[track_caller]
pub fn autocast<R>(dtype: DType, f: impl FnOnce() -> R) -> R {
    let _g = AutocastGuard::new(Some(dtype));
    f()
}

/// Whether autocast casts `t`: a floating tensor other than f64.
fn eligible(t: &Tensor) -> bool {
    t.dtype().is_float() && t.dtype() != DType::F64
}

/// An input of an op on the lower-precision list, in the region's dtype.
pub fn lower(t: &Tensor) -> Tensor {
    match autocast_dtype() {
        Some(d) if eligible(t) && t.dtype() != d => t.to_dtype(d),
        _ => t.clone(),
    }
}

/// An input of an op on the float32 list, in f32.
pub fn full(t: &Tensor) -> Tensor {
    match autocast_dtype() {
        Some(_) if eligible(t) && t.dtype() != DType::F32 => t.to_dtype(DType::F32),
        _ => t.clone(),
    }
}

/// Runs `f` with autocast off: the body of an op on either list, called again with its
/// inputs cast, so the ops it is made of run in those dtypes (PyTorch excludes autocast
/// below a listed op). Whether autocast is on: `None` when it is off (the caller runs
/// its body as it is).
pub fn casting<R>(f: impl FnOnce() -> R) -> Option<R> {
    autocast_dtype()?;
    let _off = AutocastGuard::new(None);
    Some(f())
}

/// [`lower`] for an optional input (a bias).
pub fn lower_opt(t: Option<&Tensor>) -> Option<Tensor> {
    t.map(lower)
}
