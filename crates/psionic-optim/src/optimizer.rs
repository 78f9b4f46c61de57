//! The optimizer machinery every algorithm shares: parameter groups with their own
//! hyperparameters, per-parameter state, `step`, `zero_grad`, `state_dict` and the
//! MLX-style functional `update`. An algorithm ([`Rule`]) only says how one parameter
//! moves given its gradient and state.

use psionic_array::autodiff::{no_grad, Tree};
use psionic_array::Tensor;
use psionic_core::Error;
use psionic_nn::{Module, ModuleExt};
use std::collections::BTreeMap;

/// One parameter's state: the step count and named buffers (`exp_avg`, ...).
#[derive(Clone, Default)]
pub struct State {
    pub step: u64,
    pub bufs: BTreeMap<String, Tensor>,
    /// In a compiled training step, the coming step's moving coefficients
    /// ([`Rule::moving`]) as an f64 tensor, which the rule reads instead of computing
    /// them on the host; `None` otherwise.
    pub moving: Option<Tensor>,
}

impl State {
    /// The buffer `name`, created by `init` on first use.
    pub fn buf(&mut self, name: &str, init: impl FnOnce() -> Tensor) -> Tensor {
        match self.bufs.get(name) {
            Some(t) => t.clone(),
            None => {
                let t = init();
                self.bufs.insert(name.to_string(), t.clone());
                t
            }
        }
    }

    pub fn set(&mut self, name: &str, t: Tensor) {
        match self.bufs.get_mut(name) {
            Some(slot) => *slot = t,
            None => {
                self.bufs.insert(name.to_string(), t);
            }
        }
    }
}

/// An update rule and its hyperparameters (one value per parameter group).
pub trait Rule: Clone + Send {
    /// PyTorch's class name.
    fn name(&self) -> &'static str;

    /// Hyperparameters by PyTorch's names, for `state_dict` and schedulers.
    fn hyper(&self) -> Vec<(&'static str, f64)>;

    /// Sets a hyperparameter named in [`Rule::hyper`]; false for unknown names.
    fn set_hyper(&mut self, name: &str, value: f64) -> bool;

    /// Moves `param` (already detached, no grad recorded) given `grad` and its state;
    /// returns the new value.
    fn update(&self, param: &Tensor, grad: &Tensor, state: &mut State) -> Tensor;

    /// The host scalars of step `step` for `param` that `update` reads from
    /// [`State::moving`] when it is set: what a compiled training step passes as a
    /// tensor so that one trace serves every step. The rate (`lr`) must reach the
    /// update only through them. `None` (the default): the update reads its
    /// hyperparameters and step count on the host, and a compiled step traces again
    /// whenever they change.
    fn moving(&self, _param: &Tensor, _step: u64) -> Option<Vec<f64>> {
        None
    }

    /// Whether `update` reads [`State::step`] on the host (where [`Rule::moving`] does
    /// not carry it): a compiled step then traces again every step. True unless a rule
    /// says otherwise.
    fn reads_step(&self) -> bool {
        true
    }
}

/// Parameters sharing hyperparameters.
#[derive(Clone)]
pub struct Group<R> {
    pub params: Vec<Tensor>,
    pub rule: R,
    /// The rate schedules start from (PyTorch's `group["initial_lr"]`), set by the
    /// first scheduler attached.
    pub initial_lr: Option<f64>,
}

/// What schedulers and clipping need from any optimizer.
pub trait Optimizer {
    fn step(&mut self);
    fn zero_grad(&self);
    /// Every parameter, group by group (what a gradient scaler unscales).
    fn params(&self) -> Vec<Tensor>;
    /// Every group's value of hyperparameter `name` (`lr`, `momentum`, `beta1`, ...).
    fn get(&self, name: &str) -> Vec<f64>;
    /// Sets group `i`'s hyperparameter (or its `initial_lr`); false when the rule has no
    /// such name.
    fn set(&mut self, i: usize, name: &str, value: f64) -> bool;
    /// Every group's `initial_lr`, first set from its current `lr` where absent
    /// (`group.setdefault("initial_lr", group["lr"])` in PyTorch's LRScheduler), so all
    /// schedulers on one optimizer share the first one's base rates.
    fn initial_lr(&mut self) -> Vec<f64>;
}

/// An optimizer over parameter groups with rule `R`.
pub struct Optim<R: Rule> {
    pub groups: Vec<Group<R>>,
    /// Per group, per parameter.
    pub state: Vec<Vec<State>>,
}

/// `optimizer.state_dict()`: per-parameter state keyed by the parameter's position
/// across groups, and each group's hyperparameters with its parameters' positions.
#[derive(Clone)]
pub struct OptimState {
    pub state: Vec<ParamState>,
    pub param_groups: Vec<GroupState>,
}

/// One parameter's saved state.
#[derive(Clone)]
pub struct ParamState {
    /// The parameter's position across all groups.
    pub id: usize,
    pub step: u64,
    pub bufs: Vec<(String, Tensor)>,
}

/// One group's hyperparameters and its parameters' positions.
#[derive(Clone)]
pub struct GroupState {
    pub hyper: Vec<(String, f64)>,
    pub params: Vec<usize>,
}

impl<R: Rule> Optim<R> {
    /// One group holding `params`.
    pub fn new(params: Vec<Tensor>, rule: R) -> Optim<R> {
        Optim {
            state: vec![vec![State::default(); params.len()]],
            groups: vec![Group { params, rule, initial_lr: None }],
        }
    }

    /// An optimizer over a module's parameters.
    pub fn for_module(m: &dyn Module, rule: R) -> Optim<R> {
        Optim::new(m.parameters(), rule)
    }

    pub fn add_param_group(&mut self, params: Vec<Tensor>, rule: R) {
        self.state.push(vec![State::default(); params.len()]);
        self.groups.push(Group { params, rule, initial_lr: None });
    }

    pub fn state_dict(&self) -> OptimState {
        let mut state = vec![];
        let mut param_groups = vec![];
        let mut id = 0;
        for (g, group) in self.groups.iter().enumerate() {
            let mut ids = vec![];
            for (j, _) in group.params.iter().enumerate() {
                let s = &self.state[g][j];
                if s.step > 0 || !s.bufs.is_empty() {
                    let bufs = s.bufs.iter().map(|(k, v)| (k.clone(), v.deep_clone())).collect();
                    state.push(ParamState { id, step: s.step, bufs });
                }
                ids.push(id);
                id += 1;
            }
            let hyper = group.rule.hyper().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            param_groups.push(GroupState { hyper, params: ids });
        }
        OptimState { state, param_groups }
    }

    pub fn load_state_dict(&mut self, s: &OptimState) -> Result<(), Error> {
        let sizes: Vec<usize> = self.groups.iter().map(|g| g.params.len()).collect();
        let given: Vec<usize> = s.param_groups.iter().map(|g| g.params.len()).collect();
        if sizes != given {
            return Err(Error::invalid(
                "load_state_dict",
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group",
            ));
        }
        let place: Vec<(usize, usize)> =
            sizes.iter().enumerate().flat_map(|(g, &n)| (0..n).map(move |j| (g, j))).collect();
        if let Some(bad) = s.state.iter().find(|p| p.id >= place.len()) {
            return Err(Error::invalid("load_state_dict", format!("no parameter {}", bad.id)));
        }
        for (g, group) in s.param_groups.iter().enumerate() {
            for (k, v) in &group.hyper {
                self.groups[g].rule.set_hyper(k, *v);
            }
        }
        for st in self.state.iter_mut().flatten() {
            *st = State::default();
        }
        for ParamState { id, step, bufs } in &s.state {
            let (g, j) = place[*id];
            let bufs = bufs.iter().map(|(k, v)| (k.clone(), v.deep_clone())).collect();
            self.state[g][j] = State { step: *step, bufs, moving: None };
        }
        Ok(())
    }

    /// MLX's `optimizer.update(model, grads)`: applies one step with the gradients of
    /// a tree shaped like `model.parameter_tree()` (as `value_and_grad` returns them).
    pub fn update(&mut self, model: &dyn Module, grads: &Tree) {
        let named = model.named_parameters();
        let by_name: BTreeMap<String, Tensor> = grads.flatten_with_paths().into_iter().collect();
        for (name, p) in named {
            p.set_grad(by_name.get(&name).cloned());
        }
        self.step();
    }
}

impl<R: Rule> Optimizer for Optim<R> {
    /// One step over every parameter that has a gradient.
    fn step(&mut self) {
        no_grad(|| {
            for (g, group) in self.groups.iter().enumerate() {
                for (j, p) in group.params.iter().enumerate() {
                    let Some(grad) = p.grad() else { continue };
                    let st = &mut self.state[g][j];
                    st.step += 1;
                    let new = group.rule.update(&p.detach(), &grad, st);
                    p.copy_(&new);
                }
            }
        });
    }

    fn zero_grad(&self) {
        self.groups.iter().flat_map(|g| &g.params).for_each(Tensor::zero_grad);
    }

    fn params(&self) -> Vec<Tensor> {
        self.groups.iter().flat_map(|g| g.params.iter().cloned()).collect()
    }

    fn get(&self, name: &str) -> Vec<f64> {
        self.groups
            .iter()
            .filter_map(|g| g.rule.hyper().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v))
            .collect()
    }

    fn set(&mut self, i: usize, name: &str, value: f64) -> bool {
        if name == "initial_lr" {
            self.groups[i].initial_lr = Some(value);
            return true;
        }
        self.groups[i].rule.set_hyper(name, value)
    }

    fn initial_lr(&mut self) -> Vec<f64> {
        self.groups
            .iter_mut()
            .map(|g| {
                let lr = g.rule.hyper().into_iter().find(|(n, _)| *n == "lr").map_or(0.0, |(_, v)| v);
                *g.initial_lr.get_or_insert(lr)
            })
            .collect()
    }
}

/// The hyperparameter plumbing of a rule: `hyper` lists fields, `set_hyper` assigns
/// them; booleans travel as 0/1.
#[macro_export]
macro_rules! hyper_fields {
    ($($name:literal => $field:ident $(as $kind:ident)?),* $(,)?) => {
        fn hyper(&self) -> Vec<(&'static str, f64)> {
            vec![$(($name, $crate::hyper_fields!(@get self.$field $(, $kind)?))),*]
        }
        fn set_hyper(&mut self, name: &str, value: f64) -> bool {
            match name {
                $($name => { $crate::hyper_fields!(@set self.$field, value $(, $kind)?); true })*
                _ => false,
            }
        }
    };
    (@get $e:expr) => { $e };
    (@get $e:expr, bool) => { $e as u8 as f64 };
    (@set $e:expr, $v:ident) => { $e = $v };
    (@set $e:expr, $v:ident, bool) => { $e = $v != 0.0 };
}
