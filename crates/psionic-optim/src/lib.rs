//! Optimizers matching `torch.optim` step for step (the arithmetic of its single-tensor
//! implementations), parameter groups, `state_dict`, gradient clipping and an MLX-style
//! functional `update(model, grads)`.
//!
//! ```
//! use psionic_array::{DType, Tensor};
//! use psionic_optim::{Adam, Optim, Optimizer};
//!
//! let w = Tensor::ones(&[2], DType::F32).requires_grad_(true).clone();
//! let mut opt = Optim::new(vec![w.clone()], Adam::new(0.1));
//! (&w * &w).sum_all().backward();
//! opt.step();
//! assert!((w.to_vec::<f32>()[0] - 0.9).abs() < 1e-6);
//! ```

mod adam;
mod adaptive;
mod clip;
mod compiled;
mod lbfgs;
mod optimizer;
mod scaler;
pub mod scheduler;
mod sgd;
mod sign;

pub use adam::{Adam, Adamax, NAdam, RAdam};
pub use adaptive::{Adadelta, Adagrad, Asgd, RmsProp, Rprop};
pub use clip::{clip_grad_norm_, clip_grad_value_};
pub use compiled::{CompiledStep, StepState};
pub use lbfgs::{Lbfgs, LbfgsOpts};
pub use optimizer::{Group, Optim, OptimState, Optimizer, Rule, State};
pub use scaler::{GradScaler, ScalerState};
pub use scheduler::{
    Anneal, ChainedScheduler, CyclicMode, LrScheduler, OneCycle, PlateauMode, ReduceLROnPlateau, Schedule, Scheduler,
    SequentialLR, ThresholdMode,
};
pub use sgd::Sgd;
pub use sign::{newton_schulz, Lion, Muon};
