//! Learning-rate schedulers with `torch.optim.lr_scheduler`'s arithmetic. Most use
//! PyTorch's chainable (recursive) forms, which scale the optimizer's current rate, so
//! schedulers compose as they do in PyTorch (two on one optimizer multiply, and
//! [`SequentialLR`] hands over at milestones using each schedule's closed form).
//!
//! A scheduler does not hold its optimizer (Rust's borrows would then forbid stepping
//! the optimizer); it takes it at construction, which performs PyTorch's initial step,
//! and at every `step`.
//!
//! ```
//! use psionic_array::{DType, Tensor};
//! use psionic_optim::{LrScheduler, Optim, Optimizer, Schedule, Scheduler, Sgd};
//! let w = Tensor::ones(&[1], DType::F32).requires_grad_(true).clone();
//! let mut opt = Optim::new(vec![w], Sgd::new(0.1));
//! let mut sched = LrScheduler::new(&mut opt, Schedule::Step { step_size: 2, gamma: 0.5 });
//! let mut lrs = vec![];
//! for _ in 0..5 {
//!     opt.step();
//!     sched.step(&mut opt);
//!     lrs.push(sched.last_lr()[0]);
//! }
//! assert_eq!(lrs, [0.1, 0.05, 0.05, 0.025, 0.025]);
//! ```

mod cyclic;
mod plateau;
mod schedules;

use crate::optimizer::Optimizer;
pub use cyclic::{Anneal, CyclicMode, OneCycle};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ThresholdMode};
pub use schedules::Schedule;

/// What every scheduler offers: a step and the rates it last set.
pub trait Scheduler {
    fn step(&mut self, opt: &mut dyn Optimizer);
    fn last_lr(&self) -> &[f64];
}

/// One schedule driving an optimizer's `lr` (and, for the cyclic ones, its momentum).
pub struct LrScheduler {
    pub schedule: Schedule,
    /// Each group's rate when the scheduler was created (PyTorch's `initial_lr`).
    pub base_lrs: Vec<f64>,
    pub last_epoch: i64,
    step_count: usize,
    last_lr: Vec<f64>,
}

/// What a schedule sees when it computes the next rates.
pub(crate) struct Ctx<'a> {
    pub last_epoch: i64,
    pub step_count: usize,
    pub base_lrs: &'a [f64],
    /// The optimizer's current rates.
    pub current: Vec<f64>,
    /// True during the step the constructor performs.
    pub initial: bool,
}

impl LrScheduler {
    /// Records the base rates and performs PyTorch's initial step (epoch 0).
    pub fn new(opt: &mut dyn Optimizer, schedule: Schedule) -> LrScheduler {
        let mut schedule = schedule;
        let base_lrs = schedule.prepare(opt);
        let mut s = LrScheduler { schedule, base_lrs, last_epoch: -1, step_count: 0, last_lr: vec![] };
        s.advance(opt, None, true);
        s
    }

    /// The next epoch's rates; `epoch` given sets the epoch and uses the closed form
    /// where the schedule has one (what SequentialLR does at a milestone).
    fn advance(&mut self, opt: &mut dyn Optimizer, epoch: Option<i64>, initial: bool) {
        if epoch.is_none() {
            self.step_count += 1;
        }
        let closed = match epoch {
            None => {
                self.last_epoch += 1;
                false
            }
            Some(e) => {
                self.last_epoch = e;
                true
            }
        };
        let ctx = Ctx {
            last_epoch: self.last_epoch,
            step_count: self.step_count,
            base_lrs: &self.base_lrs,
            current: opt.get("lr"),
            initial,
        };
        let lrs = match (closed, self.schedule.closed_form(&ctx)) {
            (true, Some(lrs)) => lrs,
            _ => self.schedule.next(&ctx, opt),
        };
        for (i, lr) in lrs.iter().enumerate() {
            opt.set(i, "lr", *lr);
        }
        self.last_lr = opt.get("lr");
    }
}

impl Scheduler for LrScheduler {
    fn step(&mut self, opt: &mut dyn Optimizer) {
        self.advance(opt, None, false);
    }
    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
}

/// Runs `schedulers[i]` between `milestones[i-1]` and `milestones[i]`; at a milestone
/// the next scheduler restarts from its epoch 0.
pub struct SequentialLR {
    pub schedulers: Vec<LrScheduler>,
    pub milestones: Vec<i64>,
    pub last_epoch: i64,
    last_lr: Vec<f64>,
}

impl SequentialLR {
    /// Takes schedulers already built on `opt` (as PyTorch does): resets the rates to
    /// the first base rates, undoes the schedulers' initial steps and redoes the first.
    pub fn new(opt: &mut dyn Optimizer, mut schedulers: Vec<LrScheduler>, milestones: Vec<i64>) -> SequentialLR {
        assert!(
            schedulers.len() == milestones.len() + 1,
            "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers {} and the number of milestones to be equal to {}",
            schedulers.len(),
            milestones.len()
        );
        for (i, lr) in opt.initial_lr().iter().enumerate() {
            opt.set(i, "lr", *lr);
        }
        for s in &mut schedulers {
            s.last_epoch -= 1;
        }
        let idx = milestones.partition_point(|&m| m <= 0);
        let first = &mut schedulers[idx];
        first.step_count = 0;
        first.advance(opt, None, true);
        let last_lr = first.last_lr.clone();
        SequentialLR { schedulers, milestones, last_epoch: 0, last_lr }
    }
}

impl Scheduler for SequentialLR {
    fn step(&mut self, opt: &mut dyn Optimizer) {
        self.last_epoch += 1;
        let idx = self.milestones.partition_point(|&m| m <= self.last_epoch);
        let s = &mut self.schedulers[idx];
        if idx > 0 && self.milestones[idx - 1] == self.last_epoch {
            s.advance(opt, Some(0), false);
        } else {
            s.step(opt);
        }
        self.last_lr = s.last_lr.clone();
    }
    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
}

/// Steps every scheduler in turn each step (their chainable forms compose).
pub struct ChainedScheduler {
    pub schedulers: Vec<Box<dyn Scheduler>>,
    last_lr: Vec<f64>,
}

impl ChainedScheduler {
    pub fn new(opt: &dyn Optimizer, schedulers: Vec<Box<dyn Scheduler>>) -> ChainedScheduler {
        ChainedScheduler { schedulers, last_lr: opt.get("lr") }
    }
}

impl Scheduler for ChainedScheduler {
    fn step(&mut self, opt: &mut dyn Optimizer) {
        for s in &mut self.schedulers {
            s.step(opt);
        }
        self.last_lr = opt.get("lr");
    }
    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
}
