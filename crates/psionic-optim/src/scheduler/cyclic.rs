//! The schedules that also move momentum: OneCycleLR and CyclicLR. With
//! `cycle_momentum`, momentum moves opposite to the rate, through the optimizer's
//! `beta1` when it has one (Adam's family, as PyTorch uses `betas[0]`) or `momentum`.

use crate::optimizer::Optimizer;
use std::f64::consts::PI;

/// How OneCycleLR moves between its phase endpoints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Anneal {
    Cos,
    Linear,
}

impl Anneal {
    fn at(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }
}

fn momentum_name(opt: &dyn Optimizer) -> &'static str {
    if !opt.get("beta1").is_empty() {
        "beta1"
    } else if !opt.get("momentum").is_empty() {
        "momentum"
    } else {
        panic!("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    }
}

/// OneCycleLR: warm up from `max_lr / div_factor` to `max_lr` over `pct_start` of
/// `total_steps`, then anneal to `initial / final_div_factor` (or three phases).
#[derive(Clone, Debug)]
pub struct OneCycle {
    pub max_lr: f64,
    pub total_steps: i64,
    pub pct_start: f64,
    pub anneal: Anneal,
    pub cycle_momentum: bool,
    pub base_momentum: f64,
    pub max_momentum: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    pub three_phase: bool,
    momentum: Option<&'static str>,
}

impl OneCycle {
    /// PyTorch's defaults: 30% warm-up, cosine, momentum 0.85..0.95, div 25, final 1e4.
    pub fn new(max_lr: f64, total_steps: i64) -> OneCycle {
        assert!(total_steps > 0, "Expected positive integer total_steps, but got {total_steps}");
        OneCycle {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal: Anneal::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
            momentum: None,
        }
    }

    fn initial(&self) -> f64 {
        self.max_lr / self.div_factor
    }

    pub(crate) fn prepare(&mut self, opt: &mut dyn Optimizer) -> Vec<f64> {
        assert!(
            (0.0..=1.0).contains(&self.pct_start),
            "Expected float between 0 and 1 pct_start, but got {}",
            self.pct_start
        );
        let groups = opt.get("lr").len();
        if self.cycle_momentum {
            let name = momentum_name(opt);
            for i in 0..groups {
                opt.set(i, name, self.max_momentum);
            }
            self.momentum = Some(name);
        }
        for i in 0..groups {
            opt.set(i, "initial_lr", self.initial());
        }
        vec![self.initial(); groups]
    }

    pub(crate) fn next(&self, step: i64, opt: &mut dyn Optimizer) -> Vec<f64> {
        assert!(
            step <= self.total_steps,
            "Tried to step {step} times. The specified number of total steps is {}",
            self.total_steps
        );
        let n = self.total_steps as f64;
        let (init, max, min) = (self.initial(), self.max_lr, self.initial() / self.final_div_factor);
        let (lo, hi) = (self.base_momentum, self.max_momentum);
        // (end_step, start_lr, end_lr, start_momentum, end_momentum)
        let phases: Vec<(f64, f64, f64, f64, f64)> = if self.three_phase {
            vec![
                (self.pct_start * n - 1.0, init, max, hi, lo),
                (2.0 * self.pct_start * n - 2.0, max, init, lo, hi),
                (n - 1.0, init, min, hi, hi),
            ]
        } else {
            vec![(self.pct_start * n - 1.0, init, max, hi, lo), (n - 1.0, max, min, lo, hi)]
        };
        let s = step as f64;
        let mut start = 0.0;
        for (i, &(end, lr0, lr1, m0, m1)) in phases.iter().enumerate() {
            if s <= end || i == phases.len() - 1 {
                let pct = (s - start) / (end - start);
                if let Some(name) = self.momentum {
                    let m = self.anneal.at(m0, m1, pct);
                    for g in 0..opt.get("lr").len() {
                        opt.set(g, name, m);
                    }
                }
                return vec![self.anneal.at(lr0, lr1, pct); opt.get("lr").len()];
            }
            start = end;
        }
        unreachable!("the last phase always matches")
    }
}

/// CyclicLR's amplitude policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CyclicMode {
    Triangular,
    /// The amplitude halves each cycle.
    Triangular2,
    /// The amplitude scales by `gamma^iteration`.
    ExpRange {
        gamma: f64,
    },
}

/// CyclicLR: the rate cycles between `base_lr` and `max_lr`.
#[derive(Clone, Debug)]
pub struct Cyclic {
    pub base_lr: f64,
    pub max_lr: f64,
    total_size: f64,
    step_ratio: f64,
    pub mode: CyclicMode,
    /// `(base_momentum, max_momentum)` when momentum cycles.
    pub momentum: Option<(f64, f64)>,
    momentum_name: Option<&'static str>,
}

impl Cyclic {
    pub(crate) fn new(
        base_lr: f64,
        max_lr: f64,
        up: f64,
        down: Option<f64>,
        mode: CyclicMode,
        momentum: Option<(f64, f64)>,
    ) -> Cyclic {
        let total_size = up + down.unwrap_or(up);
        Cyclic { base_lr, max_lr, total_size, step_ratio: up / total_size, mode, momentum, momentum_name: None }
    }

    pub(crate) fn prepare(&mut self, opt: &mut dyn Optimizer) -> Vec<f64> {
        let groups = opt.get("lr").len();
        for i in 0..groups {
            opt.set(i, "lr", self.base_lr);
        }
        if let Some((_, max_m)) = self.momentum {
            let name = momentum_name(opt);
            for i in 0..groups {
                opt.set(i, name, max_m);
            }
            self.momentum_name = Some(name);
        }
        opt.initial_lr();
        vec![self.base_lr; groups]
    }

    pub(crate) fn next(&self, e: i64, base_lrs: &[f64], opt: &mut dyn Optimizer) -> Vec<f64> {
        let t = e as f64 / self.total_size;
        let cycle = (1.0 + t).floor();
        let x = 1.0 + t - cycle;
        let factor = if x <= self.step_ratio { x / self.step_ratio } else { (x - 1.0) / (self.step_ratio - 1.0) };
        let scale = match self.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 1.0 / 2f64.powf(cycle - 1.0),
            CyclicMode::ExpRange { gamma } => gamma.powf(e as f64),
        };
        if let (Some((lo, hi)), Some(name)) = (self.momentum, self.momentum_name) {
            let m = hi - (hi - lo) * factor * scale;
            for g in 0..base_lrs.len() {
                opt.set(g, name, m);
            }
        }
        base_lrs.iter().map(|b| b + (self.max_lr - b) * factor * scale).collect()
    }
}
