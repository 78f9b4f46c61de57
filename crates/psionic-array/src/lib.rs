//! Psionic tensors.
//!
//! A [`Tensor`] is a handle to a node of a graph. Every op infers its output shape and
//! dtype at once (misuse panics at the call site, or returns `Err` inside [`fallible`]),
//! then evaluates the node immediately in the default eager mode, or later in a [`lazy`]
//! scope. Views share storage; in-place ops follow PyTorch's aliasing rules (see
//! `tensor.rs`). The op families live in `ops/`, their primitives in `prim/`; the
//! transforms (`autodiff/`) reach the build path through `interp.rs`.

pub mod autocast;
pub mod autodiff;
pub mod backend;
pub mod display;
pub mod graph;
mod interp;
pub mod linalg;
pub mod mode;
pub mod node;
pub mod ops;
pub mod prim;
pub mod random;
mod slot;
pub mod special;
pub mod tensor;

pub use autodiff::{autograd, BackwardOpts, GradOpts, Tree};
pub use mode::{default_device, fallible, is_lazy, lazy, set_default_device, with_device, DeviceGuard, LazyGuard};
pub use ops::args::{Arg, Dims};
pub use ops::binary::result_type;
pub use ops::conv::Padding;
pub use ops::embedding::{BagMode, Bags, Lookup};
pub use ops::grid::{GridMode, GridPadding};
pub use ops::indexing::TensorIndex;
pub use ops::loss::Reduction;
pub use ops::pad::PadMode;
pub use ops::pool::Pool;
pub use ops::reduce::NormOrd;
pub use ops::resample::Resize;
pub use ops::sort::Interpolation;
pub use psionic_core::{DType, Device, Error, Result, Scalar};
pub use psionic_cpu::Element;
pub use tensor::Tensor;

#[cfg(test)]
mod tests;
