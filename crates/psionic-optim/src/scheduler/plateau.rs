//! ReduceLROnPlateau: cuts the rate by `factor` once a watched metric has not improved
//! for more than `patience` steps.

use crate::optimizer::Optimizer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateauMode {
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    Rel,
    Abs,
}

#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    pub mode: PlateauMode,
    pub factor: f64,
    pub patience: usize,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    pub cooldown: usize,
    pub min_lrs: Vec<f64>,
    pub eps: f64,
    pub best: f64,
    pub num_bad_epochs: usize,
    pub cooldown_counter: usize,
    pub last_epoch: i64,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    /// PyTorch's defaults: min mode, factor 0.1, patience 10, relative threshold 1e-4.
    pub fn new(opt: &dyn Optimizer) -> ReduceLROnPlateau {
        let lrs = opt.get("lr");
        ReduceLROnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lrs: vec![0.0; lrs.len()],
            eps: 1e-8,
            best: f64::INFINITY,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: lrs,
        }
    }

    /// Sets the mode; the best value starts at the mode's worst.
    pub fn with_mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self.best = if mode == PlateauMode::Min { f64::INFINITY } else { f64::NEG_INFINITY };
        self
    }

    fn is_better(&self, a: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < self.best * (1.0 - self.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < self.best - self.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > self.best * (self.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > self.best + self.threshold,
        }
    }

    /// One epoch's metric (PyTorch's `step(metrics)`).
    pub fn step(&mut self, opt: &mut dyn Optimizer, metric: f64) {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            for (i, old) in opt.get("lr").into_iter().enumerate() {
                let new = (old * self.factor).max(self.min_lrs.get(i).copied().unwrap_or(0.0));
                if old - new > self.eps {
                    opt.set(i, "lr", new);
                }
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = opt.get("lr");
    }

    pub fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
}
