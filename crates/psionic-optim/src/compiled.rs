//! A whole training step compiled (forward, backward, clipping, the optimizer's update)
//! with the model's parameters and buffers and the optimizer's state as implicit inputs
//! and outputs: MLX's `mx.compile(step, inputs=state, outputs=state)` over a model and
//! an optimizer, for a step written as a PyTorch loop body.
//!
//! The optimizer's host state needs care that tensors do not: its step counts move on
//! the host, and its rules read hyperparameters and step counts there. A rule that can
//! take its moving coefficients from a tensor ([`Rule::moving`]: Adam and AdamW) gets
//! them written into its state before every call, so one trace serves every step and a
//! learning-rate schedule; every other host value a trace reads is in the compiled
//! function's guard, so a change traces again rather than replaying stale values. The
//! step counts a trace moved are moved the same way by every replay.

use crate::optimizer::{Optim, Rule, State};
use psionic_array::mode::check;
use psionic_array::{Result, Tensor};
use psionic_compiler::{compile, Compiled};
use psionic_nn::{Module, ModuleExt};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What a compiled training step needs from an optimizer besides `step`.
pub trait StepState {
    /// The tensors its step reads and writes: parameters, buffers, moving coefficients.
    fn state_tensors(&self) -> Vec<Tensor>;
    /// The host values a trace of its step reads (hyperparameters, step counts).
    fn guard(&self) -> Vec<u64>;
    /// Before a compiled call: the coming step's moving coefficients into the state.
    fn prepare(&mut self);
    /// After a compiled call: back to computing them on the host, as an eager step does.
    fn finish(&mut self);
    /// Every parameter's step count, in a fixed order.
    fn steps(&self) -> Vec<u64>;
    fn set_steps(&mut self, steps: &[u64]);
    /// The optimizer's host state, to put back after a call that failed.
    type Saved;
    fn save(&self) -> Self::Saved;
    fn restore(&mut self, saved: Self::Saved);
}

impl<R: Rule> StepState for Optim<R> {
    fn state_tensors(&self) -> Vec<Tensor> {
        let mut out = vec![];
        for (group, states) in self.groups.iter().zip(&self.state) {
            for (p, s) in group.params.iter().zip(states) {
                out.push(p.clone());
                out.extend(s.bufs.values().cloned());
                out.extend(s.moving.clone());
            }
        }
        out
    }

    fn guard(&self) -> Vec<u64> {
        let mut out = vec![];
        for (group, states) in self.groups.iter().zip(&self.state) {
            for s in states {
                let moving = s.moving.is_some();
                let hyper = group.rule.hyper().into_iter().filter(|(name, _)| !moving || *name != "lr");
                out.extend(hyper.map(|(_, v)| v.to_bits()));
                out.push(if moving || !group.rule.reads_step() { u64::MAX } else { s.step });
            }
        }
        out
    }

    fn prepare(&mut self) {
        for (group, states) in self.groups.iter().zip(&mut self.state) {
            for (p, s) in group.params.iter().zip(states) {
                let k = group.rule.moving(p, s.step + 1);
                s.moving = k.map(|k| Tensor::from_vec(k.clone(), &[k.len()]));
            }
        }
    }

    fn finish(&mut self) {
        self.state.iter_mut().flatten().for_each(|s| s.moving = None);
    }

    fn steps(&self) -> Vec<u64> {
        self.state.iter().flatten().map(|s| s.step).collect()
    }

    fn set_steps(&mut self, steps: &[u64]) {
        self.state.iter_mut().flatten().zip(steps).for_each(|(s, n)| s.step = *n);
    }

    type Saved = Vec<Vec<State>>;
    fn save(&self) -> Vec<Vec<State>> {
        self.state.clone()
    }
    fn restore(&mut self, saved: Vec<Vec<State>>) {
        self.state = saved;
    }
}

type StepFn<M, O> = dyn Fn(&M, &[Tensor], &mut O) -> Vec<Tensor> + Send + Sync;

/// A training step compiled with its model and optimizer as implicit state.
///
/// ```
/// use psionic_array::{DType, Tensor};
/// use psionic_nn::{Forward, Linear};
/// use psionic_optim::{Adam, CompiledStep, Optim, Optimizer};
///
/// let model = Linear::new(3, 1);
/// let opt = Optim::for_module(&model, Adam::new(1e-2));
/// let step = CompiledStep::new(model, opt, |m: &Linear, b: &[Tensor], opt: &mut Optim<Adam>| {
///     let loss = (&m.forward(&b[0]) - &b[1]).pow(2.0).mean_all();
///     loss.backward();
///     opt.step();
///     opt.zero_grad();
///     vec![loss.detach()]
/// });
/// let (x, y) = (Tensor::ones(&[4, 3], DType::F32), Tensor::zeros(&[4, 1], DType::F32));
/// let first = step.call(&[x.clone(), y.clone()])[0].item::<f32>();
/// for _ in 0..20 {
///     step.call(&[x.clone(), y.clone()]);
/// }
/// assert!(step.call(&[x, y])[0].item::<f32>() < first);
/// ```
pub struct CompiledStep<M, O> {
    model: Arc<M>,
    opt: Arc<Mutex<O>>,
    step: Arc<StepFn<M, O>>,
    /// Whether calls replay the compiled step (the default) or run it eagerly.
    on: bool,
    compiled: Compiled,
    /// How the latest trace moved the step counts, which each replay repeats.
    advance: Mutex<Vec<u64>>,
}

impl<M: Module + Send + Sync + 'static, O: StepState + Send + 'static> CompiledStep<M, O> {
    /// Compiles `step` (called with the model, a call's arguments and the optimizer)
    /// over `model`'s parameters and buffers and `opt`'s state. `step` is written as the
    /// eager loop body would be: forward, `backward`, clipping, `opt.step()`,
    /// `zero_grad`.
    pub fn new(
        model: M,
        opt: O,
        step: impl Fn(&M, &[Tensor], &mut O) -> Vec<Tensor> + Send + Sync + 'static,
    ) -> CompiledStep<M, O> {
        // A step that raises while traced leaves the optimizer's lock poisoned; the error
        // is the caller's, and the optimizer stays usable (hence `into_inner` below).
        let (model, opt) = (Arc::new(model), Arc::new(Mutex::new(opt)));
        let step: Arc<StepFn<M, O>> = Arc::new(step);
        let mut tensors = model.parameters();
        tensors.extend(model.named_buffers().into_iter().map(|(_, b)| b));
        let (m, s, o1, o2, o3) = (model.clone(), step.clone(), opt.clone(), opt.clone(), opt.clone());
        let flags = model.clone();
        let compiled = compile(move |xs: &[Tensor]| s(&m, xs, &mut o1.lock().unwrap_or_else(PoisonError::into_inner)))
            .with_state(move || {
                tensors
                    .iter()
                    .cloned()
                    .chain(o2.lock().unwrap_or_else(PoisonError::into_inner).state_tensors())
                    .collect()
            })
            .guard(move || {
                // Train and eval modes trace different graphs (dropout, batch statistics).
                let modes = flags.named_modules().into_iter().map(|(_, m)| m.is_training() as u64);
                modes.chain(o3.lock().unwrap_or_else(PoisonError::into_inner).guard()).collect()
            });
        CompiledStep { model, opt, step, on: true, compiled, advance: Mutex::new(vec![]) }
    }

    /// Off, calls run the step eagerly (the same values; `torch.compile(disable=True)`),
    /// to compare or to debug.
    pub fn compiled(self, on: bool) -> CompiledStep<M, O> {
        CompiledStep { on, ..self }
    }

    /// Runs one step; returns what `step` returns.
    #[track_caller]
    pub fn call(&self, args: &[Tensor]) -> Vec<Tensor> {
        check(self.try_call(args))
    }

    pub fn try_call(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        if !self.on {
            let mut o = self.opt.lock().unwrap_or_else(PoisonError::into_inner);
            return psionic_array::fallible(|| (self.step)(&self.model, args, &mut o));
        }
        let (before, saved) = {
            let mut o = self.opt.lock().unwrap_or_else(PoisonError::into_inner);
            let saved = o.save();
            o.prepare();
            (o.steps(), saved)
        };
        let traces = self.compiled.traces();
        let out = self.compiled.try_call(args);
        let mut o = self.opt.lock().unwrap_or_else(PoisonError::into_inner);
        o.finish();
        // A failed call leaves the optimizer as it was: no moved step counts, no buffers
        // a failed trace created.
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                o.restore(saved);
                return Err(e);
            }
        };
        let mut advance = self.advance.lock().unwrap_or_else(PoisonError::into_inner);
        if self.compiled.traces() > traces {
            *advance = o.steps().iter().zip(&before).map(|(a, b)| a.saturating_sub(*b)).collect();
        } else {
            let moved: Vec<u64> = before.iter().zip(advance.iter()).map(|(b, d)| b + d).collect();
            o.set_steps(&moved);
        }
        Ok(out)
    }

    /// The model, to evaluate or save between steps.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The optimizer, for a scheduler, `state_dict` or an eager step between calls.
    /// Drop the guard before the next `call`, which locks it too.
    pub fn optimizer(&self) -> MutexGuard<'_, O> {
        self.opt.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many times the step has been traced.
    pub fn traces(&self) -> usize {
        self.compiled.traces()
    }
}
