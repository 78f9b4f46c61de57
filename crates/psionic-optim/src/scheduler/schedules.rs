//! The schedules' formulas: the chainable `get_lr` of each PyTorch scheduler and, where
//! PyTorch has one, its closed form `_get_closed_form_lr`.

use super::cyclic::{self, CyclicMode, OneCycle};
use super::Ctx;
use crate::optimizer::Optimizer;
use std::f64::consts::PI;
use std::sync::Arc;

/// Which schedule, with PyTorch's constructor arguments.
#[derive(Clone)]
pub enum Schedule {
    /// `lr * gamma` every `step_size` epochs.
    Step {
        step_size: i64,
        gamma: f64,
    },
    /// `lr * gamma` at each milestone (repeated milestones multiply).
    MultiStep {
        milestones: Vec<i64>,
        gamma: f64,
    },
    /// `lr * factor` until `total_iters`.
    Constant {
        factor: f64,
        total_iters: i64,
    },
    /// From `start_factor * lr` to `end_factor * lr` over `total_iters`.
    Linear {
        start_factor: f64,
        end_factor: f64,
        total_iters: i64,
    },
    Exponential {
        gamma: f64,
    },
    /// `lr * (1 - t/total_iters)^power`.
    Polynomial {
        total_iters: i64,
        power: f64,
    },
    CosineAnnealing {
        t_max: i64,
        eta_min: f64,
    },
    /// Cosine annealing restarted after `t_0`, then `t_0 * t_mult`, ... epochs.
    CosineAnnealingWarmRestarts {
        t_0: i64,
        t_mult: i64,
        eta_min: f64,
        t_i: i64,
        t_cur: i64,
    },
    /// `base_lr * f(epoch)`, one function per group (or one for all).
    Lambda(Vec<Arc<dyn Fn(i64) -> f64 + Send + Sync>>),
    /// `lr * f(epoch)` after the first epoch.
    Multiplicative(Vec<Arc<dyn Fn(i64) -> f64 + Send + Sync>>),
    OneCycle(OneCycle),
    Cyclic(cyclic::Cyclic),
}

impl Schedule {
    pub fn cosine_warm_restarts(t_0: i64, t_mult: i64, eta_min: f64) -> Schedule {
        assert!(t_0 > 0, "Expected positive integer T_0, but got {t_0}");
        assert!(t_mult >= 1, "Expected integer T_mult >= 1, but got {t_mult}");
        Schedule::CosineAnnealingWarmRestarts { t_0, t_mult, eta_min, t_i: t_0, t_cur: -1 }
    }

    /// `CyclicLR(base_lr, max_lr, step_size_up, step_size_down, mode, gamma)`;
    /// momentum cycles between `momentum` (base, max) when given.
    pub fn cyclic(
        base_lr: f64,
        max_lr: f64,
        step_size_up: f64,
        step_size_down: Option<f64>,
        mode: CyclicMode,
        momentum: Option<(f64, f64)>,
    ) -> Schedule {
        Schedule::Cyclic(cyclic::Cyclic::new(base_lr, max_lr, step_size_up, step_size_down, mode, momentum))
    }

    /// Sets what the schedule changes before the first step (the cyclic schedules'
    /// starting rate and momentum) and returns the base rates.
    pub(crate) fn prepare(&mut self, opt: &mut dyn Optimizer) -> Vec<f64> {
        match self {
            Schedule::OneCycle(o) => o.prepare(opt),
            Schedule::Cyclic(c) => c.prepare(opt),
            _ => opt.initial_lr(),
        }
    }

    pub(crate) fn closed_form(&self, c: &Ctx) -> Option<Vec<f64>> {
        let e = c.last_epoch;
        let map = |f: &dyn Fn(f64) -> f64| Some(c.base_lrs.iter().map(|&b| f(b)).collect());
        match self {
            Schedule::Step { step_size, gamma } => map(&|b| b * gamma.powi((e / step_size) as i32)),
            Schedule::MultiStep { milestones, gamma } => {
                let mut m = milestones.clone();
                m.sort_unstable();
                let k = m.partition_point(|&x| x <= e);
                map(&|b| b * gamma.powi(k as i32))
            }
            Schedule::Constant { factor, total_iters } => {
                map(&|b| b * (factor + if e >= *total_iters { 1.0 - factor } else { 0.0 }))
            }
            Schedule::Linear { start_factor: s, end_factor: f, total_iters: n } => {
                map(&|b| b * (s + (f - s) * (*n).min(e) as f64 / *n as f64))
            }
            Schedule::Exponential { gamma } => map(&|b| b * gamma.powi(e as i32)),
            Schedule::Polynomial { total_iters: n, power } => {
                map(&|b| b * (1.0 - (*n).min(e) as f64 / *n as f64).powf(*power))
            }
            Schedule::CosineAnnealing { t_max, eta_min } => {
                map(&|b| eta_min + (b - eta_min) * (1.0 + (PI * e as f64 / *t_max as f64).cos()) / 2.0)
            }
            _ => None,
        }
    }

    /// PyTorch's `get_lr` (for warm restarts, its `step` without an epoch).
    pub(crate) fn next(&mut self, c: &Ctx, opt: &mut dyn Optimizer) -> Vec<f64> {
        let e = c.last_epoch;
        let cur = c.current.clone();
        let scale = |k: f64| cur.iter().map(|l| l * k).collect::<Vec<f64>>();
        match self {
            Schedule::Step { step_size, gamma } => {
                if e == 0 || e % *step_size != 0 {
                    cur
                } else {
                    scale(*gamma)
                }
            }
            Schedule::MultiStep { milestones, gamma } => {
                let hits = milestones.iter().filter(|&&m| m == e).count();
                if hits == 0 {
                    cur
                } else {
                    scale(gamma.powi(hits as i32))
                }
            }
            Schedule::Constant { factor, total_iters } => {
                if e == 0 {
                    scale(*factor)
                } else if e != *total_iters {
                    cur
                } else {
                    scale(1.0 / *factor)
                }
            }
            Schedule::Linear { start_factor: s, end_factor: f, total_iters: n } => {
                let (s, f, n) = (*s, *f, *n);
                if e == 0 {
                    scale(s)
                } else if c.initial || e > n {
                    cur
                } else {
                    scale(1.0 + (f - s) / (n as f64 * s + (e - 1) as f64 * (f - s)))
                }
            }
            Schedule::Exponential { gamma } => {
                if c.initial {
                    cur
                } else {
                    scale(*gamma)
                }
            }
            Schedule::Polynomial { total_iters: n, power } => {
                if c.initial || e > *n {
                    cur
                } else {
                    let n = *n as f64;
                    scale(((1.0 - e as f64 / n) / (1.0 - (e - 1) as f64 / n)).powf(*power))
                }
            }
            Schedule::CosineAnnealing { t_max, eta_min } => {
                let (t_max, t, m) = (*t_max, *t_max as f64, *eta_min);
                if c.initial {
                    cur
                } else if c.step_count == 1 && e > 0 {
                    c.base_lrs.iter().map(|b| m + (b - m) * (1.0 + (e as f64 * PI / t).cos()) / 2.0).collect()
                } else if (e - 1 - t_max).rem_euclid(2 * t_max) == 0 {
                    cur.iter().zip(c.base_lrs).map(|(l, b)| l + (b - m) * (1.0 - (PI / t).cos()) / 2.0).collect()
                } else {
                    let k = (1.0 + (PI * e as f64 / t).cos()) / (1.0 + (PI * (e - 1) as f64 / t).cos());
                    cur.iter().map(|l| k * (l - m) + m).collect()
                }
            }
            Schedule::CosineAnnealingWarmRestarts { t_mult, eta_min, t_i, t_cur, t_0 } => {
                if e == 0 {
                    (*t_i, *t_cur) = (*t_0, 0);
                } else {
                    *t_cur += 1;
                    if *t_cur >= *t_i {
                        *t_cur %= *t_i;
                        *t_i *= *t_mult;
                    }
                }
                let (tc, ti, m) = (*t_cur as f64, *t_i as f64, *eta_min);
                c.base_lrs.iter().map(|b| m + (b - m) * (1.0 + (PI * tc / ti).cos()) / 2.0).collect()
            }
            Schedule::Lambda(fs) => {
                c.base_lrs.iter().enumerate().map(|(i, b)| b * fs[i.min(fs.len() - 1)](e)).collect()
            }
            Schedule::Multiplicative(fs) => {
                if e > 0 {
                    cur.iter().enumerate().map(|(i, l)| l * fs[i.min(fs.len() - 1)](e)).collect()
                } else {
                    cur
                }
            }
            Schedule::OneCycle(o) => o.next(e, opt),
            Schedule::Cyclic(cy) => cy.next(e, c.base_lrs, opt),
        }
    }
}
