//! Psionic core: the vocabulary every other crate shares.
//!
//! Nothing here touches data. It names element types and how they promote
//! ([`DType`], [`promote_types`], [`ResultTypeState`]), scalars from host code
//! ([`Scalar`]), strided layouts and the view algebra on them ([`Layout`]),
//! the iteration order kernels use over strided memory ([`strided`]), the op
//! kinds a backend must implement ([`ops`]), devices and errors.

pub mod device;
pub mod dtype;
pub mod error;
pub mod layout;
pub mod ops;
pub mod promotion;
pub mod scalar;
pub mod shape;
pub mod strided;

/// A shape: up to five dims inline (as PyTorch keeps sizes), so the metadata of an eager
/// op on an ordinary tensor allocates nothing.
pub type Dims = smallvec::SmallVec<[usize; 5]>;
/// Strides, inline like [`Dims`].
pub type Strides = smallvec::SmallVec<[isize; 5]>;
pub use smallvec::smallvec;

pub use device::Device;
pub use dtype::DType;
pub use error::{Error, Result};
pub use layout::Layout;
pub use promotion::{promote_types, ResultTypeState};
pub use scalar::Scalar;
pub use shape::{broadcast_shapes, normalize_dim, numel};
