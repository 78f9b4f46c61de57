//! `torch.amp.GradScaler`: dynamic loss scaling for training in reduced precision.
//!
//! The loss is multiplied by the scale before `backward`, so small f16 gradients do not
//! flush to zero; `step` divides the gradients by the scale again and runs the
//! optimizer only when all of them are finite, and `update` halves the scale after a
//! skipped step and doubles it after `growth_interval` clean ones. The scale is an f32
//! value and moves with PyTorch's arithmetic (`_amp_update_scale_`), so a run reproduces
//! PyTorch's sequence of scales and skipped steps.

use crate::optimizer::Optimizer;
use psionic_array::autodiff::no_grad;
use psionic_array::{DType, Error, Result, Tensor};
use std::collections::HashMap;

/// A gradient scaler (PyTorch's defaults via [`GradScaler::new`]).
#[derive(Clone, Debug)]
pub struct GradScaler {
    scale: f32,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: u64,
    growth_tracker: u64,
    /// Off, every method passes through (`enabled=False`).
    pub enabled: bool,
    /// Per optimizer (by address) in this iteration: whether `unscale_` found a
    /// non-finite gradient, and whether it has stepped (PyTorch's per-optimizer state).
    per_optimizer: HashMap<usize, Stage>,
}

#[derive(Clone, Copy, Debug)]
struct Stage {
    found_inf: bool,
    stepped: bool,
}

/// An optimizer's identity for the iteration's bookkeeping.
fn key(opt: &dyn Optimizer) -> usize {
    opt as *const dyn Optimizer as *const () as usize
}

/// `GradScaler.state_dict()`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalerState {
    pub scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: u64,
    pub growth_tracker: u64,
}

impl Default for GradScaler {
    fn default() -> Self {
        GradScaler::new()
    }
}

impl GradScaler {
    /// `GradScaler()`: scale 2^16, doubled after 2000 clean steps, halved after a
    /// non-finite gradient.
    pub fn new() -> GradScaler {
        GradScaler::with(65536.0, 2.0, 0.5, 2000)
    }

    pub fn with(init_scale: f64, growth_factor: f64, backoff_factor: f64, growth_interval: u64) -> GradScaler {
        GradScaler {
            scale: init_scale as f32,
            growth_factor,
            backoff_factor,
            growth_interval,
            growth_tracker: 0,
            enabled: true,
            per_optimizer: HashMap::new(),
        }
    }

    /// The loss (or any output) times the scale, in its own dtype.
    pub fn scale(&self, outputs: &Tensor) -> Tensor {
        if !self.enabled {
            return outputs.clone();
        }
        outputs.mul(Tensor::scalar(self.scale))
    }

    /// Divides every gradient of `opt`'s parameters by the scale, in place, and notes
    /// whether one of them is not finite. Once per iteration, before `step`.
    pub fn unscale_(&mut self, opt: &dyn Optimizer) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        match self.per_optimizer.get(&key(opt)) {
            Some(Stage { stepped: true, .. }) => {
                return Err(Error::invalid("unscale_", "unscale_() is being called after step()."));
            }
            Some(_) => {
                return Err(Error::invalid(
                    "unscale_",
                    "unscale_() has already been called on this optimizer since the last update().",
                ));
            }
            None => {}
        }
        // PyTorch's reciprocal: taken in f64, rounded to f32.
        let inv = (1.0 / self.scale as f64) as f32;
        let mut finite = vec![];
        no_grad(|| {
            for p in opt.params() {
                let Some(g) = p.grad() else { continue };
                finite.push(g.isfinite().all());
                // Half-precision gradients are unscaled in f32 and rounded back.
                let wide =
                    if g.dtype() == DType::F32 || g.dtype() == DType::F64 { g.clone() } else { g.to_dtype(DType::F32) };
                p.set_grad(Some(wide.mul(Tensor::scalar(inv)).to_dtype(g.dtype())));
            }
        });
        // One read of the host for all gradients, as PyTorch's found_inf tensor.
        let found = !finite.is_empty() && !Tensor::stack(&finite.iter().collect::<Vec<_>>(), 0).all().item::<bool>();
        self.per_optimizer.insert(key(opt), Stage { found_inf: found, stepped: false });
        Ok(())
    }

    /// Unscales (unless `unscale_` ran this iteration) and steps `opt` when every
    /// gradient is finite; returns whether it stepped.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> Result<bool> {
        if !self.enabled {
            opt.step();
            return Ok(true);
        }
        match self.per_optimizer.get(&key(opt)) {
            Some(Stage { stepped: true, .. }) => {
                return Err(Error::invalid("step", "step() has already been called since the last update()."));
            }
            Some(_) => {}
            None => self.unscale_(opt)?,
        }
        let stage = self.per_optimizer.get_mut(&key(opt)).expect("unscaled above");
        stage.stepped = true;
        let clean = !stage.found_inf;
        if clean {
            opt.step();
        }
        Ok(clean)
    }

    /// Moves the scale after the iteration's steps (`_amp_update_scale_`): backed off
    /// after a non-finite gradient in any optimizer, grown after `growth_interval` clean
    /// iterations in a row.
    pub fn update(&mut self) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let stages = std::mem::take(&mut self.per_optimizer);
        let found = if stages.is_empty() { None } else { Some(stages.values().any(|s| s.found_inf)) };
        match found {
            Some(true) => {
                self.scale = (self.scale as f64 * self.backoff_factor) as f32;
                self.growth_tracker = 0;
            }
            Some(false) => {
                let successful = self.growth_tracker + 1;
                if successful == self.growth_interval {
                    let grown = (self.scale as f64 * self.growth_factor) as f32;
                    if grown.is_finite() {
                        self.scale = grown;
                    }
                    self.growth_tracker = 0;
                } else {
                    self.growth_tracker = successful;
                }
            }
            None => return Err(Error::invalid("update", "No inf checks were recorded prior to update.")),
        }
        Ok(())
    }

    /// The current scale (`get_scale()`; 1 when disabled).
    pub fn get_scale(&self) -> f64 {
        if self.enabled {
            self.scale as f64
        } else {
            1.0
        }
    }

    pub fn state_dict(&self) -> ScalerState {
        ScalerState {
            scale: self.scale as f64,
            growth_factor: self.growth_factor,
            backoff_factor: self.backoff_factor,
            growth_interval: self.growth_interval,
            growth_tracker: self.growth_tracker,
        }
    }

    pub fn load_state_dict(&mut self, s: &ScalerState) {
        self.scale = s.scale as f32;
        self.growth_factor = s.growth_factor;
        self.backoff_factor = s.backoff_factor;
        self.growth_interval = s.growth_interval;
        self.growth_tracker = s.growth_tracker;
        self.per_optimizer.clear();
    }
}
