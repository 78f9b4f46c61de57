//! Psionic: a Rust-native deep-learning framework with PyTorch- and MLX-compatible
//! semantics.
//!
//! ```
//! use psionic::prelude::*;
//! let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
//! let b = (&a + 1.0).matmul(&a.t());
//! assert_eq!(b.to_vec::<f32>(), vec![8.0, 18.0, 14.0, 32.0]);
//! ```

pub use psionic_array::autocast;
pub use psionic_array::autodiff::{self, autograd, mode as grad_mode};
pub use psionic_array::linalg;
pub use psionic_array::random;
pub use psionic_array::{
    default_device, fallible, lazy, result_type, set_default_device, with_device, Arg, DType, Device, DeviceGuard,
    Dims, Error, GridMode, GridPadding, Interpolation, LazyGuard, NormOrd, PadMode, Padding, Pool, Resize, Result,
    Scalar, Tensor, TensorIndex,
};
pub use psionic_compiler::{compile, Compiled};
pub use psionic_core as core;
pub use psionic_cpu as cpu;
pub use psionic_data as data;
pub use psionic_io as io;
pub use psionic_nn as nn;
pub use psionic_optim as optim;
pub mod timing;

/// Tensor memory: what live arrays hold now and at most (MLX's `get_active_memory`,
/// `get_peak_memory`, `reset_peak_memory`, `get_cache_memory`).
pub mod memory {
    pub use psionic_cpu::storage::{memory_stats, reset_peak_memory, MemoryStats};
}

/// Everything a user script needs in scope.
pub mod prelude {
    pub use psionic_array::autodiff::{
        autograd, checkpoint, enable_grad, grad, hessian, jacfwd, jacrev, jvp, no_grad, stop_gradient, value_and_grad,
        vjp, vmap, vmap_tree, BackwardOpts, CustomFunction, GradOpts, Tree,
    };
    pub use psionic_array::{fallible, lazy, with_device, DType, Device, NormOrd, Scalar, Tensor, TensorIndex};
    pub use psionic_compiler::compile;
}

/// Runs `f` on a dedicated pool of `threads` worker threads (kernels split work across
/// that pool; results do not depend on its size).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool").install(f)
}

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
