//! The driver of fused elementwise chains (compile's fusion).
//!
//! The output is cut into tiles of [`TILE`] elements. Per tile each input is seen as a
//! `[len]` array: a view in place when the input is contiguous over the output's shape,
//! a 0-d array when it is one value broadcast, else a gathered copy of the tile's
//! elements. The caller's chain runs on those (the same elementwise kernels as eager
//! ops, on arrays small enough to stay in L2), and its result is copied to the
//! tile's place in the output: the chain's intermediates never reach memory, and its
//! bits are the eager ops' bits, since the same kernels compute every element.

use crate::array::CpuArray;
use crate::binary::{float_binary_kernel, SliceKernel2};
use crate::element::Element;
use crate::elementwise::{broadcast, extend_row, view_bytes, Src};
use crate::fused_jit::{Item, JitCache, Run};
use crate::jit::JitFloat;
use crate::parallel::for_out_chunks;
use crate::storage::Storage;
use crate::unary::{float_unary_kernel, SliceKernel};
use psionic_core::ops::{BinaryOp, UnaryOp};
use psionic_core::strided::Rows;
use psionic_core::{DType, Error, Layout, Result};
use std::sync::Mutex;

/// Elements per tile: 64 KiB of f32, so a chain's live values stay in L2. Each step of
/// each tile costs a kernel call (its driver, a buffer from the cache): at 2048 that
/// cost made a 10-op chain on 4M f32 slower than unfused; 8192 gave 0.70 of eager's time
/// and 16384 0.59 (one thread).
pub const TILE: usize = 16384;

/// How one input of a fused chain is read per tile.
enum TileSrc {
    /// One value broadcast over the output: the same 0-d array for every tile.
    Scalar(CpuArray),
    /// Contiguous over the output's shape from this storage offset: a view per tile.
    Flat(CpuArray, usize),
    /// Any other layout (already broadcast to the output's shape): gathered per tile.
    Strided(CpuArray),
}

impl TileSrc {
    fn of(x: &CpuArray, shape: &[usize]) -> TileSrc {
        let x = broadcast(x, shape).into_owned();
        let l = &x.layout;
        if l.numel() <= 1 || l.strides.iter().all(|&s| s == 0) {
            let scalar = Layout { offset: l.offset, ..Layout::contiguous(&[]) };
            TileSrc::Scalar(x.with_layout(scalar))
        } else if l.is_contiguous() {
            let off = l.offset;
            TileSrc::Flat(x, off)
        } else {
            TileSrc::Strided(x)
        }
    }

    /// The input's elements `start..start + len` of the output's row-major order.
    fn tile(&self, start: usize, len: usize) -> CpuArray {
        match self {
            TileSrc::Scalar(x) => x.clone(),
            TileSrc::Flat(x, off) => x.with_layout(Layout { offset: off + start, ..Layout::contiguous(&[len]) }),
            TileSrc::Strided(x) => crate::with_dtype!(x.dtype(), T => gather_range::<T>(x, start, len)),
        }
    }
}

/// The elements `start..start + len` (row-major order) of `x`, a contiguous copy.
fn gather_range<T: Element>(x: &CpuArray, start: usize, len: usize) -> CpuArray {
    let mut out = Vec::with_capacity(len);
    gather_into::<T>(x, start, len, &mut out);
    CpuArray::from_vec(out, &[len])
}

/// Runs `chain(len, tile inputs)` over the output of `shape` and `dtype` a tile at a
/// time (tiles in parallel) and assembles the results. `chain` returns the tile's
/// `len` values of `dtype` (or one value, broadcast); the first error of any tile is
/// returned.
pub fn run_tiles(
    inputs: &[&CpuArray],
    shape: &[usize],
    dtype: DType,
    work: usize,
    chain: impl Fn(usize, &[CpuArray]) -> Result<CpuArray> + Sync + Send,
) -> Result<CpuArray> {
    let srcs: Vec<TileSrc> = inputs.iter().map(|x| TileSrc::of(x, shape)).collect();
    let n = psionic_core::numel(shape);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let out = crate::with_dtype!(dtype, T => {
        let mut out = Storage::uninit::<T>(n);
        for_out_chunks(out.as_mut_slice::<T>(), TILE, work, |start, o| {
            let tile: Vec<CpuArray> = srcs.iter().map(|s| s.tile(start, o.len())).collect();
            match chain(o.len(), &tile) {
                Ok(r) => put::<T>(&r, o),
                Err(e) => {
                    failed.lock().unwrap().get_or_insert(e);
                }
            }
        });
        out
    });
    match failed.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(CpuArray::new(out, shape)),
    }
}

/// Copies a tile's result (`o.len()` values, or one broadcast) into `o`.
fn put<T: Element>(r: &CpuArray, o: &mut [T]) {
    assert_eq!(r.dtype(), T::DTYPE, "a fused chain's result has the dtype it declared");
    if let Some(src) = r.contiguous_slice::<T>().filter(|s| s.len() == o.len()) {
        o.copy_from_slice(src);
        return;
    }
    let src = r.storage.as_slice::<T>();
    let r = broadcast(r, &[o.len()]);
    let [s] = [r.layout.strides[0]];
    for (i, v) in o.iter_mut().enumerate() {
        *v = src[(r.layout.offset as isize + i as isize * s) as usize];
    }
}

/// Where a step of a fused chain reads a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// Input `i` of the chain.
    Input(usize),
    /// The result of step `i` (an earlier one).
    Step(usize),
}

/// A step of a chain that [`run_float`] runs on its own slice kernels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FloatStep {
    Unary(UnaryOp),
    Binary(BinaryOp),
}

impl FloatStep {
    /// Whether the step has a float slice kernel: not a predicate, comparison, logical
    /// or bitwise op (those change the dtype or refuse floats).
    pub fn has_kernel(&self) -> bool {
        use BinaryOp::*;
        use UnaryOp::*;
        match self {
            FloatStep::Unary(op) => !op.out_is_bool() && !matches!(op, BitwiseNot),
            FloatStep::Binary(op) => !op.out_is_bool() && !matches!(op, BitAnd | BitOr | BitXor | Shl | Shr),
        }
    }
}

/// A step's slice kernel.
enum Kernel<F> {
    Unary(SliceKernel<F>),
    Binary(SliceKernel2<F>),
}

/// Bytes of one value of a block: 8 KiB, so the values a chain keeps alive between its
/// steps (a few, buffers reused as values die) stay in L1.
const BLOCK_BYTES: usize = 8192;

/// A chain of float steps, all in the dtype of `F` (f32 or f64) like its inputs, run
/// without the per-tile arrays of [`run_tiles`]: blocks of 8 KiB of the output in turn,
/// each step's own slice kernel (the eager op's, so the same bits) reading its
/// operands in place (contiguous inputs), as one broadcast value, or from a gathered
/// block, and writing into a scratch buffer reused once its value is dead; the last
/// step writes into the output. Runs of steps with generated code (`crate::jit`, planned
/// by `crate::fused_jit` and cached in `cache`) take one loop each, their intermediates
/// in registers; a chain that is one such run over inputs in place skips the blocks.
pub fn run_float<F: JitFloat>(
    inputs: &[&CpuArray],
    shape: &[usize],
    steps: &[(FloatStep, Vec<Operand>)],
    cache: &JitCache,
) -> Result<CpuArray> {
    assert!(!steps.is_empty() && inputs.iter().all(|x| x.dtype() == F::DTYPE), "a float chain of one dtype");
    let mut kernels = Vec::with_capacity(steps.len());
    let (mut work, mut costly) = (0, false);
    for (s, _) in steps {
        let (w, k) = match *s {
            FloatStep::Unary(op) => {
                let (w, k) = float_unary_kernel::<F>(op);
                (w, Kernel::Unary(k))
            }
            FloatStep::Binary(op) => {
                let (w, k) = float_binary_kernel::<F>(op)?;
                (w, Kernel::Binary(k))
            }
        };
        work += w;
        // Kernels of work 8 and more are transcendentals, bound by arithmetic.
        costly |= w >= 8;
        kernels.push(k);
    }
    let srcs: Vec<TileSrc> = inputs.iter().map(|x| TileSrc::of(x, shape)).collect();
    let scalar: Vec<bool> = srcs.iter().map(|s| matches!(s, TileSrc::Scalar(_))).collect();
    let chain = cache.plan::<F>(steps, &scalar);
    let (items, slots) = (&chain.items, &chain.slots);
    let n_slots = slots.iter().copied().max().map_or(0, |m| m + 1);
    // Each run's constants, with the broadcast inputs' values: fixed for this call.
    let value = |i: usize| match &srcs[i] {
        TileSrc::Scalar(x) => x.storage.as_slice::<F>()[x.layout.offset],
        _ => unreachable!("a run's scalar is a broadcast input"),
    };
    let tables: Vec<Vec<F>> = items
        .iter()
        .map(|it| match it {
            Item::Run(r) => r.prog.table(|j| match r.scalars[j] {
                Some(Operand::Input(i)) => value(i),
                _ => unreachable!("a chain run's scalars are broadcast inputs"),
            }),
            Item::Step(_) => Vec::new(),
        })
        .collect();
    let block = BLOCK_BYTES / size_of::<F>();
    let n = psionic_core::numel(shape);
    // The last step's writes go around the cache when the chain's reads and its output
    // reach the cache's size, as an eager op's would (the scratch blocks never do).
    let read: usize = inputs.iter().map(|x| view_bytes(&broadcast(x, shape).layout, size_of::<F>())).sum();
    let stream = crate::stream::worth_streaming(read + n * size_of::<F>());
    let mut out = Storage::uninit::<F>(n);
    let plan = Plan { steps, kernels: &kernels, items, tables: &tables, slots, stream };
    let row = shape.last().copied().unwrap_or(1);
    if row >= ROW_BLOCKS_FROM && srcs.iter().any(|s| matches!(s, TileSrc::Strided(_))) {
        // Row by row: along the last dim each input is in place (unit stride), one value
        // (a broadcast column: a row's statistic) or strided, so nothing broadcast is
        // gathered element by element.
        for_out_chunks(out.as_mut_slice::<F>(), (TILE / row).max(1) * row, work, |start, o| {
            let mut scratch: Vec<Vec<F>> = (0..n_slots).map(|_| vec![F::zero(); block]).collect();
            let mut gathered: Vec<Vec<F>> = srcs.iter().map(|_| Vec::with_capacity(block)).collect();
            for (i, o_row) in o.chunks_mut(row).enumerate() {
                let r = start / row + i;
                for c0 in (0..row).step_by(block) {
                    let len = block.min(row - c0);
                    let ins: Vec<Src<F>> = srcs
                        .iter()
                        .zip(gathered.iter_mut())
                        .map(|(s, g)| match s {
                            TileSrc::Scalar(x) => Src::Scalar(x.storage.as_slice::<F>()[x.layout.offset]),
                            TileSrc::Flat(x, off) => {
                                Src::Slice(&x.storage.as_slice::<F>()[off + r * row + c0..][..len])
                            }
                            TileSrc::Strided(x) => row_run(x, r, c0, len, g),
                        })
                        .collect();
                    plan.run(&ins, &[], &mut scratch, &mut o_row[c0..c0 + len]);
                }
            }
        });
        return Ok(CpuArray::new(out, shape));
    }
    if let ([Item::Run(r)], true) = (&items[..], srcs.iter().all(|s| !matches!(s, TileSrc::Strided(_)))) {
        // One generated loop is the whole chain and reads its inputs in place: it runs
        // over each task's whole range at once (no scratch, no per-block calls).
        let arrays: Vec<&[F]> = r
            .arrays
            .iter()
            .map(|a| match (a, &srcs[..]) {
                (Operand::Input(i), srcs) => match &srcs[*i] {
                    TileSrc::Flat(x, off) => &x.storage.as_slice::<F>()[*off..*off + n],
                    _ => unreachable!("an array input read in place"),
                },
                (Operand::Step(_), _) => unreachable!("the first item reads no step"),
            })
            .collect();
        // Streamed stores pay where the loop is bound by memory traffic: with steps of
        // single instructions only. Measured over 4M f32 (median of 5, one thread):
        // ten such steps 1.16-1.18 ms against 1.35-1.62 ms; but `x * sigmoid(x) * y + z`
        // 4.9 ms against 4.1-4.2 ms and GELU's tanh form 8.0-8.9 ms against 7.5 ms,
        // whose arithmetic already hides the write-allocate reads.
        let stream = stream && !costly;
        for_out_chunks(out.as_mut_slice::<F>(), TILE, work, |start, o| {
            let ins: Vec<&[F]> = arrays.iter().map(|a| &a[start..start + o.len()]).collect();
            if stream {
                r.prog.run_streamed(&tables[0], &ins, o);
            } else {
                r.prog.run(&tables[0], &ins, &mut [o]);
            }
        });
        return Ok(CpuArray::new(out, shape));
    }
    for_out_chunks(out.as_mut_slice::<F>(), TILE, work, |start, o| {
        let mut scratch: Vec<Vec<F>> = (0..n_slots).map(|_| vec![F::zero(); block]).collect();
        let mut gathered: Vec<Vec<F>> = srcs.iter().map(|_| Vec::with_capacity(block)).collect();
        for b0 in (0..o.len()).step_by(block) {
            let len = block.min(o.len() - b0);
            // The inputs of this block: in place, one value, or gathered.
            let ins: Vec<Src<F>> = srcs
                .iter()
                .zip(gathered.iter_mut())
                .map(|(s, g)| match s {
                    TileSrc::Scalar(x) => Src::Scalar(x.storage.as_slice::<F>()[x.layout.offset]),
                    TileSrc::Flat(x, off) => Src::Slice(&x.storage.as_slice::<F>()[off + start + b0..][..len]),
                    TileSrc::Strided(x) => {
                        gather_into::<F>(x, start + b0, len, g);
                        Src::Slice(&g[..])
                    }
                })
                .collect();
            // The next block's contiguous inputs, fetched while this block computes.
            let next = start + b0 + len;
            let ahead: Vec<&[F]> = srcs
                .iter()
                .filter_map(|s| match s {
                    TileSrc::Flat(x, off) if next < n => {
                        let d = &x.storage.as_slice::<F>()[off + next..];
                        Some(&d[..block.min(d.len())])
                    }
                    _ => None,
                })
                .collect();
            plan.run(&ins, &ahead, &mut scratch, &mut o[b0..b0 + len]);
        }
    });
    Ok(CpuArray::new(out, shape))
}

/// Output rows at least this long run row by row when an input is strided (a row's
/// fixed cost, an offset per input, is then small beside its work); shorter ones are
/// gathered in flat blocks.
const ROW_BLOCKS_FROM: usize = 256;

/// Elements `c0..c0 + len` of row `r` (the last dim) of `x` (broadcast to the output's
/// shape): in place at unit stride, one value at stride 0, else gathered into `g`.
pub(crate) fn row_run<'a, F: Element>(
    x: &'a CpuArray,
    r: usize,
    c0: usize,
    len: usize,
    g: &'a mut Vec<F>,
) -> Src<'a, F> {
    let l = &x.layout;
    let nd = l.shape.len();
    let (mut off, mut rest) = (l.offset as isize, r);
    for d in (0..nd - 1).rev() {
        off += (rest % l.shape[d]) as isize * l.strides[d];
        rest /= l.shape[d];
    }
    let s = l.strides[nd - 1];
    let off = (off + c0 as isize * s) as usize;
    let data = x.storage.as_slice::<F>();
    match s {
        1 => Src::Slice(&data[off..off + len]),
        0 => Src::Scalar(data[off]),
        _ => {
            g.clear();
            extend_row(g, data, off, len, s);
            Src::Slice(&g[..])
        }
    }
}

/// What every block of a float chain runs: the steps, their kernels, how they split
/// into generated runs and kernel steps, and the scratch slot of each value.
struct Plan<'a, F> {
    steps: &'a [(FloatStep, Vec<Operand>)],
    kernels: &'a [Kernel<F>],
    items: &'a [Item<F>],
    /// Each run's constant table (empty for kernel steps).
    tables: &'a [Vec<F>],
    slots: &'a [usize],
    /// Whether the last step's writes go around the cache.
    stream: bool,
}

impl<F: JitFloat> Plan<'_, F> {
    /// The chain on one block of inputs `ins`, into `out` (the block's place in the
    /// output); values in `scratch`.
    fn run(&self, ins: &[Src<F>], ahead: &[&[F]], scratch: &mut [Vec<F>], out: &mut [F]) {
        let (len, last) = (out.len(), self.steps.len() - 1);
        for (t, item) in self.items.iter().enumerate() {
            // A share of the next block's input lines per item: memory reads then
            // overlap the chain's arithmetic instead of stalling its first step.
            prefetch_share(ahead, t, self.items.len());
            let k = match item {
                Item::Step(k) => *k,
                Item::Run(r) => {
                    self.run_generated(r, &self.tables[t], ins, scratch, out);
                    continue;
                }
            };
            let args = &self.steps[k].1;
            let read = |a: Operand, scratch| operand(a, ins, scratch, self.slots, len);
            // The destination is taken out of `scratch` while the operands (other
            // slots: a step never writes where an operand it reads lives) are read.
            let mut dst = if k == last { Vec::new() } else { std::mem::take(&mut scratch[self.slots[k]]) };
            let d: &mut [F] = if k == last { &mut *out } else { &mut dst[..len] };
            let run = || match &self.kernels[k] {
                Kernel::Unary(f) => match read(args[0], scratch) {
                    Src::Slice(s) => f(s, d),
                    Src::Scalar(v) => f(&vec![v; len], d),
                },
                Kernel::Binary(f) => f(read(args[0], scratch), read(args[1], scratch), d),
            };
            crate::stream::scope(self.stream && k == last, run);
            if k != last {
                scratch[self.slots[k]] = dst;
            }
        }
    }

    /// A generated run on one block: its array operands in place, its values stored
    /// into their scratch buffers (or the output).
    fn run_generated(&self, r: &Run<F>, table: &[F], ins: &[Src<F>], scratch: &mut [Vec<F>], out: &mut [F]) {
        let (len, last) = (out.len(), self.steps.len() - 1);
        let mut bufs: Vec<Vec<F>> = r
            .outs
            .iter()
            .map(|&k| if k == last { Vec::new() } else { std::mem::take(&mut scratch[self.slots[k]]) })
            .collect();
        {
            // An input broadcast along the block's rows only (one value per row, read
            // row by row) is one value here: spread over the block.
            let ops: Vec<Src<F>> = r.arrays.iter().map(|&a| operand(a, ins, scratch, self.slots, len)).collect();
            let spread: Vec<Vec<F>> = ops
                .iter()
                .map(|o| match o {
                    Src::Scalar(v) => vec![*v; len],
                    Src::Slice(_) => Vec::new(),
                })
                .collect();
            let arrays: Vec<&[F]> = ops
                .iter()
                .zip(&spread)
                .map(|(o, s)| match o {
                    Src::Slice(x) => *x,
                    Src::Scalar(_) => &s[..],
                })
                .collect();
            let mut outs: Vec<&mut [F]> = Vec::with_capacity(bufs.len());
            let mut out = Some(out);
            for (b, &k) in bufs.iter_mut().zip(&r.outs) {
                outs.push(if k == last { out.take().expect("one result") } else { &mut b[..len] });
            }
            r.prog.run(table, &arrays, &mut outs);
        }
        for (b, &k) in bufs.into_iter().zip(&r.outs) {
            if k != last {
                scratch[self.slots[k]] = b;
            }
        }
    }
}

/// An operand of a block: an input's, or an earlier step's value in its scratch buffer.
fn operand<'a, F: Copy>(
    a: Operand,
    ins: &[Src<'a, F>],
    scratch: &'a [Vec<F>],
    slots: &[usize],
    len: usize,
) -> Src<'a, F> {
    match a {
        Operand::Input(i) => ins[i],
        Operand::Step(j) => Src::Slice(&scratch[slots[j]][..len]),
    }
}

/// The elements `start..start + len` (row-major order) of `x` into `out` (cleared).
fn gather_into<T: Element>(x: &CpuArray, start: usize, len: usize, out: &mut Vec<T>) {
    out.clear();
    let rows = Rows::<1>::from_layouts(&x.layout.shape, [&x.layout]);
    let (n, [s]) = (rows.row_len(), rows.inner_strides());
    let src = x.storage.as_slice::<T>();
    let end = start + len;
    rows.for_rows(start / n..(end - 1) / n + 1, |r, [off]| {
        let (a, b) = (start.max(r * n) - r * n, end.min((r + 1) * n) - r * n);
        extend_row(out, src, (off as isize + a as isize * s) as usize, b - a, s);
    });
}

/// Share `k` of `of` of the cache lines of `ahead`, prefetched.
pub(crate) fn prefetch_share<F>(ahead: &[&[F]], k: usize, of: usize) {
    let line = 64 / size_of::<F>();
    for a in ahead {
        let lines = a.len().div_ceil(line);
        let per = lines.div_ceil(of);
        for l in k * per..((k + 1) * per).min(lines) {
            prefetch(&a[l * line]);
        }
    }
}

/// Asks for the cache line holding `v` to be brought into L1.
#[inline(always)]
fn prefetch<F>(v: &F) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(v as *const F as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}
