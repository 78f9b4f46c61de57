//! Neural-network building blocks with PyTorch's names, constructor arguments, default
//! initialisation and `state_dict` keys, so a PyTorch checkpoint loads into the matching
//! Psionic module by name.
//!
//! ```
//! use psionic_nn::prelude::*;
//! use psionic_array::{DType, Tensor};
//!
//! let net = Sequential::new()
//!     .push(Linear::new(4, 8))
//!     .push(Activation::relu())
//!     .push(Linear::new(8, 2));
//! let y = net.forward(&Tensor::ones(&[3, 4], DType::F32));
//! assert_eq!(y.shape(), vec![3, 2]);
//! assert_eq!(net.state_dict().iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
//!            ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! ```
//!
//! A module of your own derives its `Module` implementation from its fields (see
//! [`members`] for what a field may be):
//!
//! ```
//! use psionic_nn::prelude::*;
//! use psionic_array::{DType, Tensor};
//!
//! #[derive(Module)]
//! struct Mlp {
//!     #[child]
//!     fc1: Linear,
//!     #[child]
//!     fc2: Linear,
//!     #[param]
//!     scale: Tensor,
//!     #[buffer(persistent = false)]
//!     calls: Tensor,
//!     hidden: usize,
//! }
//!
//! let m = Mlp {
//!     fc1: Linear::new(4, 8),
//!     fc2: Linear::new(8, 2),
//!     scale: Tensor::ones(&[2], DType::F32),
//!     calls: Tensor::zeros(&[], DType::I64),
//!     hidden: 8,
//! };
//! let keys: Vec<String> = m.state_dict().into_iter().map(|(k, _)| k).collect();
//! assert_eq!(keys, ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
//! assert_eq!(m.type_name(), "Mlp");
//! ```

pub mod functional;
pub mod init;
pub mod layers;
pub mod members;
pub mod models;
pub mod module;

pub use layers::*;
pub use module::{Forward, LoadReport, Member, Module, ModuleExt, StateDict, Training};
/// `#[derive(Module)]`: see `psionic_derive`.
pub use psionic_derive::Module;

// The derive names this crate `::psionic_nn`, inside it too.
extern crate self as psionic_nn;

/// Modules, the module traits and the functional namespace as `F`.
pub mod prelude {
    pub use crate::functional as F;
    pub use crate::layers::*;
    pub use crate::module::{Forward, Module, ModuleExt, Training};
    pub use psionic_derive::Module;
}
