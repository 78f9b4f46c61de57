//! Automatic differentiation: one engine with two faces.
//!
//! - PyTorch face (`tensor_api.rs`): `requires_grad_`, `backward`, `.grad()`, `detach`,
//!   `retain_grad`, hooks, `autograd::grad`, and the grad-mode scopes in `mode.rs`.
//! - MLX/JAX face (`functional.rs`, `tree.rs`): `grad`, `value_and_grad`, `vjp`,
//!   `stop_gradient`, over tensors and trees of tensors.
//!
//! Both record the same graph (nodes built while grad mode is on and an input requires
//! grad keep their inputs), and both run the one walker in `backward.rs`, which calls
//! each primitive's rules (`crate::prim`).

pub(crate) mod backward;
pub mod custom;
mod fallback;
pub mod forward;
pub mod functional;
mod levels;
pub mod mode;
mod record;
pub mod slot;
mod sums;
pub mod tensor_api;
pub mod tree;
pub mod vmap;

pub use custom::{checkpoint, CustomFunction};
pub use forward::jvp;
pub use functional::{
    grad, grad_argnums, hessian, jacfwd, jacrev, stop_gradient, value_and_grad, value_and_grad_aux, vjp,
};
pub use mode::{
    detect_anomaly, enable_grad, inference_mode, is_anomaly_enabled, is_grad_enabled, no_grad, set_detect_anomaly,
    set_grad_enabled, EnableGradGuard, GradModeGuard, NoGradGuard,
};
pub use tensor_api::{BackwardOpts, GradOpts};
pub use tree::{value_and_grad_tree, Tree};
pub use vmap::{vmap, vmap_fallbacks, vmap_tree};

/// `torch.autograd`-style free functions.
pub mod autograd {
    pub use super::tensor_api::{grad, try_grad, GradOpts};
}

#[cfg(test)]
mod tests;
