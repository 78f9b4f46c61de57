//! Row chains: compile's fusion of reductions along the last dim with the elementwise
//! work before and after them (softmax, layer_norm, logsumexp written from primitives).
//!
//! A chain's values are either rows (the full `[..., N]` shape) or one value per row (a
//! reduction's result and what is computed from it, `[...]` or `[..., 1]`). The chain
//! runs a block of whole rows at a time: each step's own kernel (the eager op's: a
//! slice kernel, `sum_slice`, the max/min scan) on the block's rows, a row value in a
//! scratch buffer reused once it is dead, a per-row value in a short vector. So a row is
//! read from memory once and the result written once, and every value has the eager
//! ops' bits: the same kernels see the same operands in the same order. Consecutive
//! elementwise row steps the JIT supports run as one generated loop per row instead
//! (`fused_jit` plans the split, as for flat chains; same bits), with the per-row
//! values they read in the loop's constant table.

use crate::array::CpuArray;
use crate::binary::{float_binary_kernel, SliceKernel2};
use crate::elementwise::{broadcast, view_bytes, Src};
use crate::fused::{prefetch_share, row_run, FloatStep, Operand};
use crate::fused_jit::{ChainPlan, Item, JitCache, RowChain, Run};
use crate::jit::JitFloat;
use crate::parallel::for_out_chunks;
use crate::reduce::{extreme, reduce, sum_slice};
use crate::storage::Storage;
use crate::unary::{float_unary_kernel, FloatMath, SliceKernel};
use psionic_core::ops::{BinaryOp, ReduceOp, UnaryOp};
use psionic_core::Result;
use std::sync::Arc;

/// What a step of a row chain computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// A reduction of a row to one value: sum, max or min.
    Reduce(ReduceOp),
    /// Its operand's value unchanged (a reshape adding or dropping the size-1 dim).
    Same,
}

/// A step: its op, its operands, and whether its value is a row (else one per row).
#[derive(Clone, Debug, PartialEq)]
pub struct RowStep {
    pub op: RowOp,
    pub args: Vec<Operand>,
    pub per_row: bool,
}

/// Elements of one row-valued buffer of a block: 32 KiB of f32, so a chain's few live
/// row values stay in L2 (a longer row is a block on its own). Every block pays each
/// step's dispatch once: at 8 KiB that was about a seventh of layer_norm's time from
/// primitives (64 x 512 x 768: 31.9 ms at one thread, 27.3 ms at 32 KiB; 64 KiB and
/// 128 KiB measured the same as 32).
const BLOCK_ELEMS: usize = 8192;

/// Blocks per task of the parallel loop: enough work to pay for its scratch buffers.
const BLOCKS_PER_TASK: usize = 8;

enum Kernel<F> {
    Unary(SliceKernel<F>),
    Binary(SliceKernel2<F>),
    None,
}

/// Runs the chain over rows of `row_shape` (its last dim is the row) and returns the last
/// step's value in `out_shape`: `row_shape` when it is a row, else one value per row.
/// Inputs are broadcast to `row_shape`; every input and value is of `F`'s dtype. Runs
/// of elementwise row steps become generated loops (see `fused_jit`), planned once per
/// chain in `cache`.
pub fn run_rows<F: JitFloat>(
    inputs: &[&CpuArray],
    row_shape: &[usize],
    steps: &[RowStep],
    out_shape: &[usize],
    cache: &JitCache,
) -> Result<CpuArray> {
    assert!(!steps.is_empty() && !row_shape.is_empty(), "a row chain has steps and rows");
    let n = *row_shape.last().expect("checked");
    let n_rows = psionic_core::numel(&row_shape[..row_shape.len() - 1]);
    let last_dim = row_shape.len() - 1;
    let srcs: Vec<CpuArray> = inputs.iter().map(|x| broadcast(x, row_shape).into_owned()).collect();
    let mut kernels = Vec::with_capacity(steps.len());
    let mut work = 0;
    // A sum of an input not contiguous along its rows may be one eager `reduce` adds up
    // by columns (another order): it is taken from that kernel, before the rows run.
    let mut pre: Vec<Option<Vec<F>>> = vec![None; steps.len()];
    for (k, s) in steps.iter().enumerate() {
        let w = if s.per_row { n } else { 1 };
        let kernel = match s.op {
            RowOp::Unary(op) => {
                let (cost, f) = float_unary_kernel::<F>(op);
                work += cost * w;
                Kernel::Unary(f)
            }
            RowOp::Binary(op) => {
                let (cost, f) = float_binary_kernel::<F>(op)?;
                work += cost * w;
                Kernel::Binary(f)
            }
            RowOp::Reduce(op) => {
                work += n;
                if let (ReduceOp::Sum, Operand::Input(i)) = (op, s.args[0]) {
                    if srcs[i].layout.strides[last_dim] != 1 {
                        let r = reduce(op, inputs[i], &[last_dim])?;
                        pre[k] = Some(r.contiguous_slice::<F>().expect("a fresh reduction").to_vec());
                    }
                }
                Kernel::None
            }
            RowOp::Same => Kernel::None,
        };
        kernels.push(kernel);
    }
    let rows_per_block = (BLOCK_ELEMS / n.max(1)).max(1);
    let last = steps.len() - 1;
    let chain = jit_plan::<F>(steps, cache);
    let slots: Vec<Option<usize>> =
        steps.iter().enumerate().map(|(k, s)| (s.per_row && k < last).then_some(chain.slots[k])).collect();
    let n_slots = slots.iter().flatten().max().map_or(0, |m| m + 1);
    let per_out = if steps[last].per_row { n } else { 1 };
    let read: usize = srcs.iter().map(|x| view_bytes(&x.layout, size_of::<F>())).sum();
    let stream = crate::stream::worth_streaming(read + n_rows * per_out * size_of::<F>());
    let plan = Plan { steps, kernels: &kernels, items: &chain.items, slots: &slots, pre: &pre, srcs: &srcs, n, stream };
    let mut out = Storage::uninit::<F>(n_rows * per_out);
    let task_rows = rows_per_block * BLOCKS_PER_TASK;
    for_out_chunks(out.as_mut_slice::<F>(), task_rows * per_out, work.div_ceil(per_out), |start, o| {
        let scratch: Vec<Vec<F>> = (0..n_slots).map(|_| vec![F::zero(); rows_per_block * n]).collect();
        let stats: Vec<Vec<F>> = steps.iter().map(|_| Vec::with_capacity(rows_per_block)).collect();
        let mut w = Work { scratch, stats, tables: plan.tables(), gathers: Vec::new() };
        let r0 = start / per_out;
        let rows = o.len() / per_out;
        for b in (0..rows).step_by(rows_per_block) {
            let k = rows_per_block.min(rows - b);
            plan.block(r0 + b, k, &mut w, &mut o[b * per_out..(b + k) * per_out]);
        }
    });
    Ok(CpuArray::new(out, out_shape))
}

/// How the chain splits into generated runs and kernel steps, and the scratch slot of
/// each row value (from the chain's cache, described on its first run only).
fn jit_plan<F: JitFloat>(steps: &[RowStep], cache: &JitCache) -> Arc<ChainPlan<F>> {
    cache.rows_plan::<F>(|| {
        let float = |s: &RowStep| match s.op {
            RowOp::Unary(op) => Some(FloatStep::Unary(op)),
            RowOp::Binary(op) => Some(FloatStep::Binary(op)),
            RowOp::Reduce(_) | RowOp::Same => None,
        };
        let placeholder = FloatStep::Unary(UnaryOp::Neg);
        RowChain {
            steps: steps.iter().map(|s| (float(s).unwrap_or(placeholder), s.args.clone())).collect(),
            eligible: steps.iter().map(|s| float(s).is_some() && s.per_row).collect(),
            per_row: steps.iter().map(|s| s.per_row).collect(),
        }
    })
}

/// A task's buffers: row values, per-row values, each run's constant table, and rows of
/// inputs gathered for a run.
struct Work<F> {
    scratch: Vec<Vec<F>>,
    stats: Vec<Vec<F>>,
    tables: Vec<Vec<F>>,
    gathers: Vec<Vec<F>>,
}

/// What every block of a row chain runs.
struct Plan<'a, F> {
    steps: &'a [RowStep],
    kernels: &'a [Kernel<F>],
    /// Kernel steps and generated runs, in order.
    items: &'a [Item<F>],
    slots: &'a [Option<usize>],
    pre: &'a [Option<Vec<F>>],
    srcs: &'a [CpuArray],
    n: usize,
    /// Whether the last step's writes go around the cache.
    stream: bool,
}

/// An operand of a row step for a block of rows.
enum RowsOf<'a, F> {
    /// The block's rows back to back.
    Whole(&'a [F]),
    /// An input seen row by row.
    Input(&'a CpuArray),
    /// One value per row.
    PerRow(&'a [F]),
}

impl<F: JitFloat> Plan<'_, F> {
    /// Each item's constant table (empty for kernel steps), its per-row entries to fill.
    fn tables(&self) -> Vec<Vec<F>> {
        let table = |it: &Item<F>| match it {
            Item::Run(r) => r.prog.table(|_| F::zero()),
            Item::Step(_) => Vec::new(),
        };
        self.items.iter().map(table).collect()
    }

    /// Rows `r0..r0 + k` into `out` (their rows, or one value each).
    fn block(&self, r0: usize, k: usize, w: &mut Work<F>, out: &mut [F]) {
        let n = self.n;
        let mut g1: Vec<F> = Vec::new();
        let mut g2: Vec<F> = Vec::new();
        // The next block's contiguous inputs, fetched a share per item while this block
        // computes (the hardware prefetcher stops at a row's end).
        let ahead: Vec<&[F]> = self
            .srcs
            .iter()
            .filter(|x| x.layout.is_contiguous() && (r0 + k) * n < x.layout.numel())
            .map(|x| {
                let d = &x.storage.as_slice::<F>()[x.layout.offset + (r0 + k) * n..];
                &d[..(k * n).min(d.len())]
            })
            .collect();
        for (t, item) in self.items.iter().enumerate() {
            prefetch_share(&ahead, t, self.items.len());
            match item {
                Item::Step(s_i) => self.step(*s_i, r0, k, w, out, (&mut g1, &mut g2)),
                Item::Run(run) => {
                    let mut table = std::mem::take(&mut w.tables[t]);
                    self.run(run, &mut table, r0, k, w, out);
                    w.tables[t] = table;
                }
            }
        }
    }

    /// Step `s_i` on its kernel over the block.
    fn step(&self, s_i: usize, r0: usize, k: usize, w: &mut Work<F>, out: &mut [F], g: (&mut Vec<F>, &mut Vec<F>)) {
        let (n, last, s) = (self.n, self.steps.len() - 1, &self.steps[s_i]);
        let (scratch, stats) = (&mut w.scratch, &mut w.stats);
        let (g1, g2) = g;
        if !s.per_row {
            let mut v = std::mem::take(&mut stats[s_i]);
            v.clear();
            v.resize(k, F::zero());
            let dst: &mut [F] = if s_i == last { &mut *out } else { &mut v };
            crate::stream::scope(self.stream && s_i == last, || {
                self.per_row_step(s_i, r0, k, scratch, stats, dst, g1, g2)
            });
            stats[s_i] = v;
            return;
        }
        let mut buf = match self.slots[s_i] {
            Some(slot) => std::mem::take(&mut scratch[slot]),
            None => Vec::new(),
        };
        let dst: &mut [F] = if s_i == last { &mut *out } else { &mut buf[..k * n] };
        let ops: Vec<RowsOf<F>> = s.args.iter().map(|&a| self.rows_of(a, r0, k, scratch, stats)).collect();
        crate::stream::scope(self.stream && s_i == last, || match (&self.kernels[s_i], &ops[..]) {
            (Kernel::Unary(f), [RowsOf::Whole(a)]) => f(a, dst),
            (Kernel::Binary(f), [RowsOf::Whole(a), RowsOf::Whole(b)]) => f(Src::Slice(a), Src::Slice(b), dst),
            (kernel, ops) => {
                for (i, d) in dst.chunks_mut(n).enumerate() {
                    let a = row(&ops[0], r0, i, n, g1);
                    match kernel {
                        Kernel::Unary(f) => match a {
                            Src::Slice(a) => f(a, d),
                            Src::Scalar(v) => f(&vec![v; n], d),
                        },
                        Kernel::Binary(f) => f(a, row(&ops[1], r0, i, n, g2), d),
                        Kernel::None => {
                            let Src::Slice(a) = a else { unreachable!("a row step copying a row") };
                            d.copy_from_slice(a)
                        }
                    }
                }
            }
        });
        drop(ops);
        if let Some(slot) = self.slots[s_i] {
            scratch[slot] = buf;
        }
    }

    /// A generated run over the block, a row per call: its per-row values go into its
    /// constant table `table` before each row, its row operands are the rows' slices.
    fn run(&self, r: &Run<F>, table: &mut [F], r0: usize, k: usize, w: &mut Work<F>, out: &mut [F]) {
        let (n, last) = (self.n, self.steps.len() - 1);
        // The scratch buffers it writes, out of the scratch while it runs (never those it
        // reads: see `fused_jit::item_slots`).
        let slot = |s: usize| self.slots[s].expect("a row value read after its run has a slot");
        let mut bufs: Vec<Vec<F>> = r
            .outs
            .iter()
            .map(|&s| if s == last { Vec::new() } else { std::mem::take(&mut w.scratch[slot(s)]) })
            .collect();
        w.gathers.resize_with(r.arrays.len(), Vec::new);
        let (scratch, stats) = (&w.scratch, &w.stats);
        for i in 0..k {
            r.prog.set_scalars(table, |p| match r.scalars[p] {
                Some(Operand::Step(j)) => stats[j][i],
                _ => unreachable!("a row run's scalars are per-row values"),
            });
            // At most `MAX_POINTERS` operands: fixed arrays, no allocation per row.
            let mut arrays: [&[F]; crate::jit::MAX_POINTERS] = [&[]; crate::jit::MAX_POINTERS];
            for ((a, &op), g) in arrays.iter_mut().zip(&r.arrays).zip(w.gathers.iter_mut()) {
                *a = match op {
                    Operand::Step(j) => &scratch[slot(j)][i * n..(i + 1) * n],
                    Operand::Input(x) => input_row(&self.srcs[x], r0 + i, n, g),
                };
            }
            let mut row_out = Some(&mut out[i * n..(i + 1) * n]);
            let mut outs: [&mut [F]; crate::jit::MAX_POINTERS] = Default::default();
            for ((o, b), &s) in outs.iter_mut().zip(bufs.iter_mut()).zip(&r.outs) {
                *o = if s == last { row_out.take().expect("one result") } else { &mut b[i * n..(i + 1) * n] };
            }
            r.prog.run(table, &arrays[..r.arrays.len()], &mut outs[..r.outs.len()]);
        }
        for (b, &s) in bufs.into_iter().zip(&r.outs) {
            if s != last {
                w.scratch[slot(s)] = b;
            }
        }
    }

    /// A step whose value is one per row, into `dst` (`k` values).
    #[allow(clippy::too_many_arguments)]
    fn per_row_step(
        &self,
        s_i: usize,
        r0: usize,
        k: usize,
        scratch: &[Vec<F>],
        stats: &[Vec<F>],
        dst: &mut [F],
        g1: &mut Vec<F>,
        g2: &mut Vec<F>,
    ) {
        let (s, n) = (&self.steps[s_i], self.n);
        if let RowOp::Reduce(op) = s.op {
            if let Some(pre) = &self.pre[s_i] {
                dst.copy_from_slice(&pre[r0..r0 + k]);
                return;
            }
            let rows = self.rows_of(s.args[0], r0, k, scratch, stats);
            for (i, d) in dst.iter_mut().enumerate() {
                let r = match row(&rows, r0, i, n, g1) {
                    Src::Slice(r) => r,
                    Src::Scalar(v) => {
                        g1.clear();
                        g1.resize(n, v);
                        &g1[..]
                    }
                };
                *d = match op {
                    ReduceOp::Sum => sum_slice(r),
                    ReduceOp::Max => extreme(r, true),
                    ReduceOp::Min => extreme(r, false),
                    other => unreachable!("{other:?} is not a row chain's reduction"),
                };
            }
            return;
        }
        // Operands: per-row values, or an input's value for each row.
        let value = |a: Operand, g: &mut Vec<F>| -> Vec<F> {
            match a {
                Operand::Step(j) => stats[j][..k].to_vec(),
                Operand::Input(i) => (0..k)
                    .map(|r| match row_run(&self.srcs[i], r0 + r, 0, 1, g) {
                        Src::Slice(v) => v[0],
                        Src::Scalar(v) => v,
                    })
                    .collect(),
            }
        };
        match &self.kernels[s_i] {
            Kernel::Unary(f) => f(&value(s.args[0], g1), dst),
            Kernel::Binary(f) => {
                let (a, b) = (value(s.args[0], g1), value(s.args[1], g2));
                f(Src::Slice(&a), Src::Slice(&b), dst)
            }
            Kernel::None => dst.copy_from_slice(&value(s.args[0], g1)),
        }
    }

    /// Operand `a` of a row step over rows `r0..r0 + k`.
    fn rows_of<'b>(
        &'b self,
        a: Operand,
        r0: usize,
        k: usize,
        scratch: &'b [Vec<F>],
        stats: &'b [Vec<F>],
    ) -> RowsOf<'b, F> {
        match a {
            Operand::Step(j) if self.steps[j].per_row => {
                RowsOf::Whole(&scratch[self.slots[j].expect("a row value has a slot")][..k * self.n])
            }
            Operand::Step(j) => RowsOf::PerRow(&stats[j][..k]),
            Operand::Input(i) => {
                let x = &self.srcs[i];
                let l = &x.layout;
                if l.is_contiguous() {
                    RowsOf::Whole(&x.storage.as_slice::<F>()[l.offset + r0 * self.n..][..k * self.n])
                } else {
                    RowsOf::Input(x)
                }
            }
        }
    }
}

/// Row `r` of input `x` as a slice of `n`: in place when its row is contiguous, else
/// gathered (or, for one value per row, repeated) into `g`.
fn input_row<'a, F: FloatMath>(x: &'a CpuArray, r: usize, n: usize, g: &'a mut Vec<F>) -> &'a [F] {
    if x.layout.strides.last() == Some(&0) {
        let v = match row_run(x, r, 0, 1, g) {
            Src::Scalar(v) => v,
            Src::Slice(s) => s[0],
        };
        g.clear();
        g.resize(n, v);
        return &g[..];
    }
    match row_run(x, r, 0, n, g) {
        Src::Slice(s) => s,
        Src::Scalar(_) => unreachable!("a row with a stride"),
    }
}

/// Row `i` of a block starting at row `r0`.
fn row<'a, 'b: 'a, F: FloatMath>(rows: &RowsOf<'b, F>, r0: usize, i: usize, n: usize, g: &'a mut Vec<F>) -> Src<'a, F> {
    match rows {
        RowsOf::Whole(d) => Src::Slice(&d[i * n..(i + 1) * n]),
        RowsOf::PerRow(v) => Src::Scalar(v[i]),
        RowsOf::Input(x) => row_run(x, r0 + i, 0, n, g),
    }
}
