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

pub mod functional;
pub mod init;
pub mod layers;
pub mod models;
pub mod module;

pub use layers::*;
pub use module::{Forward, LoadReport, Member, Module, ModuleExt, StateDict, Training};

/// Modules, the module traits and the functional namespace as `F`.
pub mod prelude {
    pub use crate::functional as F;
    pub use crate::layers::*;
    pub use crate::module::{Forward, Module, ModuleExt};
}
