//! `compile`: MLX's `mx.compile` for Psionic functions.
//!
//! A compiled function is traced once per input signature (shapes and dtypes): called
//! on symbolic inputs in lazy mode, its graph is read back from the outputs (`trace`),
//! simplified (`simplify`: common subexpressions merged, work on constants done once),
//! fused (`fuse_rows`: a reduction along the last dim with the elementwise work around
//! it becomes one `Fused` step that runs whole rows at a time; `fuse`: each maximal
//! group of elementwise steps becomes one `Fused` step that runs a tile at a time; so
//! intermediates never reach memory, with the same bits as the unfused steps) and
//! cached. Later calls with the same signature replay the cached primitives on the
//! new inputs (`replay`) instead of running the function again. Replayed primitives go
//! through the same node builder as ops, so a compiled function composes with every
//! transform: `grad` of it, it of `grad`, `vmap`, `jvp`.
//!
//! Like MLX, tensors the function reads without being passed them (closures) are read
//! when it is traced; pass a tensor as an argument when its value may change between
//! calls. Compiled `shapeless`, one program (simplified, fused, with generated code)
//! serves inputs of every shape of the same ranks and dtypes: a call at a new shape
//! traces the function again, which touches no data, and reuses the program when the
//! new trace differs from its own only in the sizes of steps it kept (reshapes, slices,
//! expands with sizes read from the inputs), otherwise builds one for the new trace
//! (`template`). Host code may read sizes (a scale of `1 / n`, a branch on a length, a
//! table chosen by length), so no shape's answer ever comes from another shape's trace.
//!
//! Random numbers are drawn on the host when an op asks for them, so a trace would
//! bake them in: a function whose trace draws any is traced afresh on every call
//! (correct, but not faster than running it uncompiled); MLX instead replays the same
//! numbers unless its random state is declared as the compiled function's state.
//!
//! A training step reads and writes tensors it is not passed: compiled
//! [`with_state`](Compiled::with_state), they are inputs and outputs of its graph
//! (`state`), as with MLX's `compile(step, inputs=state, outputs=state)`; host values a
//! trace bakes in are named by a [`guard`](Compiled::guard), which traces again when
//! they change.
//!
//! ```
//! use psionic_array::Tensor;
//! use psionic_compiler::compile;
//! let f = compile(|x: &[Tensor]| vec![&x[0].exp() * &x[0]]);
//! let a = f.call(&[Tensor::from_vec(vec![0.0f32, 1.0], &[2])]);
//! let b = f.call(&[Tensor::from_vec(vec![2.0f32, 3.0], &[2])]);
//! assert_eq!((a[0].to_vec::<f32>()[1], f.traces()), (1f32.exp(), 1));
//! assert_eq!(b[0].to_vec::<f32>()[0], 2.0 * 2f32.exp());
//! ```

mod fuse;
mod fuse_rows;
mod replay;
mod simplify;
mod state;
mod template;
mod trace;

use psionic_array::autodiff::no_grad;
use psionic_array::mode::{check, is_grad_enabled};
use psionic_array::prim::Meta;
use psionic_array::Tensor;
use psionic_core::{DType, Device, Result};
pub use replay::Plan;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
pub use trace::{Graph, Slot, Step};

pub use state::Layout;
use state::{Snapshot, StateFn, StateKey};
use template::Template;

/// Programs kept per shapeless signature: traces whose structure depends on the shapes
/// (a branch on a size) make one each.
const MAX_TEMPLATES: usize = 8;

type Function = dyn Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync;
type GuardFn = dyn Fn() -> Vec<u64> + Send + Sync;

/// What selects a cached graph: per input its dtype, device, rank and shape (without
/// the shapes: what selects a shapeless function's reusable programs); with state, the state's
/// signature, the guard's values and the grad mode the step was traced in; and the autocast
/// region the call is in.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    args: Vec<(DType, Device, usize, Option<Vec<usize>>)>,
    state: Option<(Vec<StateKey>, bool)>,
    guard: Vec<u64>,
    /// The autocast region the trace ran in: its casts are part of the graph.
    autocast: Option<DType>,
}

impl Key {
    fn of(args: &[Tensor], with_shapes: bool, state: &Option<(Vec<StateKey>, bool)>, guard: &[u64]) -> Key {
        Key {
            args: args.iter().map(|a| (a.dtype(), a.device(), a.ndim(), with_shapes.then(|| a.shape()))).collect(),
            state: state.clone(),
            guard: guard.to_vec(),
            autocast: psionic_array::autocast::autocast_dtype(),
        }
    }
}

struct Inner {
    f: Box<Function>,
    shapeless: bool,
    fuse: bool,
    state: Option<Box<StateFn>>,
    guard: Option<Box<GuardFn>>,
    cache: Mutex<HashMap<Key, Arc<Plan>>>,
    /// Shapeless programs with shape-specific steps, by signature without shapes.
    templates: Mutex<HashMap<Key, Vec<Arc<Template>>>>,
    traces: AtomicUsize,
    programs: AtomicUsize,
    /// Held by a call with state for its whole length.
    serial: Mutex<()>,
}

/// A compiled function (see the crate docs). Cloning shares the function and its cache.
#[derive(Clone)]
pub struct Compiled(Arc<Inner>);

/// Compiles `f`: traced on its first call for each input signature, replayed after.
pub fn compile(f: impl Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync + 'static) -> Compiled {
    Compiled(Arc::new(Inner {
        f: Box::new(f),
        shapeless: false,
        fuse: true,
        state: None,
        guard: None,
        cache: Mutex::new(HashMap::new()),
        templates: Mutex::new(HashMap::new()),
        traces: AtomicUsize::new(0),
        programs: AtomicUsize::new(0),
        serial: Mutex::new(()),
    }))
}

impl Compiled {
    /// MLX's `shapeless=True`: one program serves inputs of any shape (same ranks and
    /// dtypes). Unlike MLX, each new shape is traced (without touching data), so a
    /// function whose host code reads sizes is never replayed with another shape's
    /// values; the trace reuses the program when it matches (see the crate docs).
    pub fn shapeless(self, yes: bool) -> Compiled {
        let inner = Arc::into_inner(self.0).expect("set shapeless before sharing a compiled function");
        Compiled(Arc::new(Inner { shapeless: yes, ..inner }))
    }

    /// Whether elementwise chains run fused (the default): off, the replay runs each
    /// primitive's own kernel, as the uncompiled function does (same values either way).
    pub fn fused(self, yes: bool) -> Compiled {
        let inner = Arc::into_inner(self.0).expect("set fused before sharing a compiled function");
        Compiled(Arc::new(Inner { fuse: yes, ..inner }))
    }

    /// MLX's `compile(f, inputs=state, outputs=state)`: `state` lists tensors the
    /// function reads and writes without being passed them (a model's parameters, an
    /// optimizer's buffers). They are inputs and outputs of the compiled graph, with the
    /// `.grad` each carries: a call reads their current values and writes their new ones
    /// back in place, as the uncompiled function would have. The function is traced in
    /// the caller's grad mode, so a backward pass inside it is compiled too; its outputs
    /// are not recorded for autograd. `state` is listed before and after every call (a
    /// step may create state, such as an optimizer's moments on its first step); a call
    /// whose state differs from the trace's traces again.
    pub fn with_state(self, state: impl Fn() -> Vec<Tensor> + Send + Sync + 'static) -> Compiled {
        let inner = Arc::into_inner(self.0).expect("set the state before sharing a compiled function");
        Compiled(Arc::new(Inner { state: Some(Box::new(state)), ..inner }))
    }

    /// Host values the traced graph depends on (hyperparameters, step counts read on
    /// the host): a call whose guard values differ from every trace's traces again, so
    /// a value baked into a trace is never replayed after it changed.
    pub fn guard(self, guard: impl Fn() -> Vec<u64> + Send + Sync + 'static) -> Compiled {
        let inner = Arc::into_inner(self.0).expect("set the guard before sharing a compiled function");
        Compiled(Arc::new(Inner { guard: Some(Box::new(guard)), ..inner }))
    }

    /// Calls the compiled function; op misuse raises as it would uncompiled.
    #[track_caller]
    pub fn call(&self, args: &[Tensor]) -> Vec<Tensor> {
        check(self.try_call(args))
    }

    /// [`Compiled::call`] returning errors (from tracing or replay) instead of raising.
    pub fn try_call(&self, args: &[Tensor]) -> Result<Vec<Tensor>> {
        let Some(state) = &self.0.state else { return replay::run(&*self.graph(args)?, args) };
        // One call at a time: a trace points the state at symbolic stand-ins, which another
        // call must not read.
        let _serial = self.0.serial.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = Snapshot::take(&**state)?;
        let plan = self.plan(args, Some(&before))?;
        let inputs = graph_inputs(args, Some(&before));
        drop(before);
        let mut outs = no_grad(|| replay::run(&plan, &inputs))?;
        drop(inputs);
        let layout = plan.layout.as_ref().expect("a plan traced with state has its layout");
        state::write_back(layout, &outs[layout.outputs..], &**state)?;
        outs.truncate(layout.outputs);
        Ok(outs)
    }

    /// How many times the function has been traced: once per signature it has seen
    /// (for a shapeless function, each new shape is a new signature).
    pub fn traces(&self) -> usize {
        self.0.traces.load(Ordering::Relaxed)
    }

    /// How many programs have been built from traces (simplified, fused, their code
    /// generated): a shapeless function traced at a new shape reuses the program of an
    /// earlier trace when the two traces differ only in the sizes of steps it kept.
    pub fn programs(&self) -> usize {
        self.0.programs.load(Ordering::Relaxed)
    }

    /// The simplified graph that a call with `args` replays (traced now if needed).
    pub fn graph(&self, args: &[Tensor]) -> Result<Arc<Plan>> {
        match &self.0.state {
            None => self.plan(args, None),
            Some(state) => self.plan(args, Some(&Snapshot::take(&**state)?)),
        }
    }

    fn plan(&self, args: &[Tensor], state: Option<&Snapshot>) -> Result<Arc<Plan>> {
        let state_key = state.map(|s| (s.key(), is_grad_enabled()));
        let guard = self.0.guard.as_ref().map_or(vec![], |g| g());
        let exact = Key::of(args, true, &state_key, &guard);
        let loose = self.0.shapeless.then(|| Key::of(args, false, &state_key, &guard));
        let templates = {
            if let Some(g) = self.0.cache.lock().unwrap().get(&exact) {
                return Ok(g.clone());
            }
            let templates = self.0.templates.lock().unwrap();
            loose.as_ref().and_then(|k| templates.get(k)).cloned().unwrap_or_default()
        };
        // Traced without the lock: the function may call other compiled functions. A
        // shapeless function is traced at each new shape too: host code may read sizes
        // (a scale of `1 / n`, a branch, a table chosen by length), and only its trace at
        // this shape says what it computes here; the trace touches no data.
        let draws = psionic_array::random::host_reads();
        let (g, layout) = match (state, &self.0.state) {
            (Some(before), Some(list)) => {
                let (g, layout) = state::trace(&*self.0.f, args, before, &**list)?;
                (g, Some(layout))
            }
            _ => (trace::trace(&*self.0.f, args, &[], false)?, None),
        };
        self.0.traces.fetch_add(1, Ordering::Relaxed);
        let host_draws = psionic_array::random::host_reads() != draws;
        let adopted = if host_draws || templates.is_empty() {
            None
        } else {
            let metas: Vec<Meta> = graph_inputs(args, state).iter().map(|a| Meta::new(a.shape(), a.dtype())).collect();
            templates.iter().find_map(|t| t.adopt(&g, layout.clone(), &metas))
        };
        let (plan, template) = match adopted {
            Some(plan) => (Arc::new(plan), None),
            None => self.build(g, layout, args, state)?,
        };
        // Numbers drawn on the host while tracing are constants of this trace: it serves
        // this call, and the next call traces (and draws) again. Likewise a trace that
        // moved its own guard (a step count read on the host) or changed the state's
        // signature (created an optimizer's moments) serves only this call: a later call
        // with this key would not find the host values or the state it was traced with.
        let moved_guard = self.0.guard.as_ref().is_some_and(|g| g() != guard);
        let moved_state = match (&state_key, &self.0.state) {
            (Some((before, _)), Some(list)) => Snapshot::take(&**list)?.key() != *before,
            _ => false,
        };
        if host_draws || moved_guard || moved_state {
            return Ok(plan);
        }
        let mut cache = self.0.cache.lock().unwrap();
        if let (Some(loose), Some(t)) = (loose, template) {
            let mut templates = self.0.templates.lock().unwrap();
            let list = templates.entry(loose).or_default();
            if list.len() < MAX_TEMPLATES {
                list.push(Arc::new(t));
            }
        }
        cache.insert(exact, plan.clone());
        Ok(plan)
    }

    /// A program built from trace `g` (simplified, fused) and, for a shapeless function,
    /// its template: the program kept with the trace it came from, for calls at other
    /// shapes.
    fn build(
        &self,
        g: Graph,
        layout: Option<Layout>,
        args: &[Tensor],
        state: Option<&Snapshot>,
    ) -> Result<(Arc<Plan>, Option<Template>)> {
        let traced = self.0.shapeless.then(|| g.clone());
        let (mut g, simplified) = simplify::simplify(g)?;
        let mut fused = None;
        if self.0.fuse {
            let (f, placed) = fuse::fuse(g, &graph_inputs(args, state))?;
            (g, fused) = (f, Some(placed));
        }
        let plan = Arc::new(Plan::new(g, layout));
        self.0.programs.fetch_add(1, Ordering::Relaxed);
        let template = traced.map(|t| Template::new(t, &simplified, fused.as_deref(), plan.clone()));
        Ok((plan, template))
    }
}

/// The graph's inputs for a call: its arguments, then the state's values.
fn graph_inputs(args: &[Tensor], state: Option<&Snapshot>) -> Vec<Tensor> {
    args.iter().cloned().chain(state.into_iter().flat_map(Snapshot::inputs)).collect()
}

#[cfg(test)]
mod fusion_tests;
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod template_tests;
#[cfg(test)]
mod tests;
