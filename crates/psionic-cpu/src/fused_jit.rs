//! How a float chain splits between generated code and kernels: maximal runs of steps
//! the JIT supports become one generated loop each (values in registers), the other
//! steps keep their slice kernels; and which scratch buffer holds each value that
//! crosses from one piece to the next.

use crate::fused::{FloatStep, Operand};
use crate::jit::{supports, JitFloat, Program};
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

/// One piece of a chain's plan.
pub enum Item<F> {
    /// Step `k` on its slice kernel.
    Step(usize),
    /// Steps run by one generated loop.
    Run(Run<F>),
}

pub struct Run<F> {
    pub prog: Program<F>,
    /// The values it reads as arrays, in the program's order: chain inputs or earlier
    /// steps.
    pub arrays: Vec<Operand>,
    /// Per program input: the operand it is when it is one value (a broadcast input of
    /// a chain; a per-row value of a row chain), which the constant table carries.
    pub scalars: Vec<Option<Operand>>,
    /// The steps whose values it stores, in the program's order.
    pub outs: Vec<usize>,
}

/// Plans of one chain, per element type and per pattern of which inputs are one value
/// (what generated code depends on): built on a chain's first run, reused after.
#[derive(Default)]
pub struct JitCache(Mutex<Vec<CachedPlan>>);

/// A plan, its element type and its inputs' pattern of broadcast values.
type CachedPlan = (TypeId, Vec<bool>, Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for JitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JitCache")
    }
}

/// Two chains are equal by their steps; their caches never make them differ.
impl PartialEq for JitCache {
    fn eq(&self, _: &JitCache) -> bool {
        true
    }
}

impl JitCache {
    /// The plan of `steps` for inputs of which those marked in `scalar` are one value.
    pub fn plan<F: JitFloat>(&self, steps: &[(FloatStep, Vec<Operand>)], scalar: &[bool]) -> Arc<ChainPlan<F>> {
        self.cached(scalar, || {
            let eligible = |k: usize| supports(&steps[k].0, F::BYTES == 4);
            let is_scalar = |a: Operand| matches!(a, Operand::Input(i) if scalar[i]);
            let items = plan::<F>(steps, &eligible, &is_scalar);
            let slots = item_slots(&items, steps, &|_| true);
            ChainPlan { items, slots }
        })
    }

    /// The plan of a row chain (`fused_rows`), described by `describe` on its first run
    /// only.
    pub fn rows_plan<F: JitFloat>(&self, describe: impl FnOnce() -> RowChain) -> Arc<ChainPlan<F>> {
        self.cached(&[], || {
            let RowChain { steps, eligible, per_row } = describe();
            let ok = |k: usize| eligible[k] && supports(&steps[k].0, F::BYTES == 4);
            let is_scalar = |a: Operand| matches!(a, Operand::Step(j) if !per_row[j]);
            let items = plan::<F>(&steps, &ok, &is_scalar);
            let slots = item_slots(&items, &steps, &|k| per_row[k]);
            ChainPlan { items, slots }
        })
    }

    /// The cached plan for element type `F` and pattern `key`, built by `build` when
    /// there is none yet.
    fn cached<F: JitFloat>(&self, key: &[bool], build: impl FnOnce() -> ChainPlan<F>) -> Arc<ChainPlan<F>> {
        let ty = TypeId::of::<F>();
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, p)) = cache.iter().find(|(t, k, _)| *t == ty && k == key) {
            return Arc::clone(p).downcast().expect("a plan of its element type");
        }
        let p = Arc::new(build());
        cache.push((ty, key.to_vec(), p.clone()));
        p
    }
}

/// A row chain as the planner sees it: its steps with their operands (elementwise
/// steps as themselves; for the others a placeholder [`FloatStep`], never compiled,
/// since only their operands are read), which steps a generated loop may run
/// (`eligible`: elementwise steps whose value is a row), and which values are rows
/// (`per_row`; the others, one value per row, are the runs' scalars and have no
/// scratch slot).
pub struct RowChain {
    pub steps: Vec<(FloatStep, Vec<Operand>)>,
    pub eligible: Vec<bool>,
    pub per_row: Vec<bool>,
}

/// A chain's pieces in order and the scratch slot of each value crossing between them.
pub struct ChainPlan<F> {
    pub items: Vec<Item<F>>,
    pub slots: Vec<usize>,
}

/// Splits `steps` into runs of generated code over consecutive `eligible` steps (two
/// steps or more; a lone step gains nothing over its kernel) and kernel steps; operands
/// for which `scalar` holds are one value per run.
fn plan<F: JitFloat>(
    steps: &[(FloatStep, Vec<Operand>)],
    eligible: &dyn Fn(usize) -> bool,
    scalar: &dyn Fn(Operand) -> bool,
) -> Vec<Item<F>> {
    let mut items = Vec::new();
    let mut k = 0;
    while k < steps.len() {
        let start = k;
        while k < steps.len() && crate::jit::available() && eligible(k) {
            k += 1;
        }
        if k - start >= 2 {
            if let Some(run) = compile_run::<F>(steps, start..k, scalar) {
                items.push(Item::Run(run));
                continue;
            }
        }
        let end = k.max(start + 1);
        items.extend((start..end).map(Item::Step));
        k = end;
    }
    items
}

/// Steps `range` of the chain as one program: its inputs are the chain inputs and
/// earlier steps they read, its outputs the values read after it (and the chain's
/// result).
fn compile_run<F: JitFloat>(
    steps: &[(FloatStep, Vec<Operand>)],
    range: std::ops::Range<usize>,
    scalar: &dyn Fn(Operand) -> bool,
) -> Option<Run<F>> {
    let mut ins: Vec<Operand> = Vec::new();
    let mut local = Vec::with_capacity(range.len());
    for (step, args) in &steps[range.clone()] {
        let args = args
            .iter()
            .map(|&a| match a {
                Operand::Step(j) if j >= range.start => Operand::Step(j - range.start),
                outside => {
                    let at = ins.iter().position(|&x| x == outside).unwrap_or_else(|| {
                        ins.push(outside);
                        ins.len() - 1
                    });
                    Operand::Input(at)
                }
            })
            .collect();
        local.push((*step, args));
    }
    let last = steps.len() - 1;
    let read_after =
        |s: usize| s == last || steps[range.end..].iter().any(|(_, args)| args.contains(&Operand::Step(s)));
    let outs: Vec<usize> = range.clone().filter(|&s| read_after(s)).collect();
    let scalars: Vec<Option<Operand>> = ins.iter().map(|&a| scalar(a).then_some(a)).collect();
    let mask: Vec<bool> = scalars.iter().map(Option::is_some).collect();
    let local_outs: Vec<usize> = outs.iter().map(|s| s - range.start).collect();
    let prog = Program::<F>::compile(&mask, &local, &local_outs)?;
    let arrays = ins.iter().zip(&scalars).filter(|(_, s)| s.is_none()).map(|(a, _)| *a).collect();
    Some(Run { prog, arrays, scalars, outs })
}

/// A scratch buffer for every value an item writes for which `has_slot` holds (but the
/// chain's result, written to the output), reused once every item reading it has run;
/// an item's buffers are never those of values it reads. Values without one get 0.
fn item_slots<F>(
    items: &[Item<F>],
    steps: &[(FloatStep, Vec<Operand>)],
    has_slot: &dyn Fn(usize) -> bool,
) -> Vec<usize> {
    let n_steps = steps.len();
    let mut last_use = vec![0; n_steps];
    for (t, item) in items.iter().enumerate() {
        for j in item_reads(item, steps) {
            last_use[j] = t;
        }
    }
    let (mut slots, mut free, mut next) = (vec![0; n_steps], Vec::new(), 0);
    for (t, item) in items.iter().enumerate() {
        let writes = match item {
            Item::Step(k) => std::slice::from_ref(k),
            Item::Run(r) => &r.outs[..],
        };
        for &w in writes.iter().filter(|&&w| w + 1 < n_steps && has_slot(w)) {
            slots[w] = free.pop().unwrap_or_else(|| {
                next += 1;
                next - 1
            });
        }
        for j in item_reads(item, steps).into_iter().filter(|&j| has_slot(j)) {
            if last_use[j] == t && !free.contains(&slots[j]) {
                free.push(slots[j]);
            }
        }
    }
    slots
}

/// The steps whose values an item reads.
fn item_reads<F>(item: &Item<F>, steps: &[(FloatStep, Vec<Operand>)]) -> Vec<usize> {
    let ops = match item {
        Item::Step(k) => &steps[*k].1,
        Item::Run(r) => &r.arrays,
    };
    ops.iter()
        .filter_map(|a| match *a {
            Operand::Step(j) => Some(j),
            Operand::Input(_) => None,
        })
        .collect()
}
