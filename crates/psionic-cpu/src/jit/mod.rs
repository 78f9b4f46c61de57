//! Generated machine code for runs of a fused chain's simple steps (x86-64 with AVX2).
//!
//! A fused chain run step by step on its slice kernels (`crate::fused`) sends every
//! intermediate through L1 once per step: about one cycle per vector per step, so a
//! ten-step chain is compute-bound at several times the memory traffic it saves. Here a
//! run of steps whose eager kernels are single IEEE operations or exact selections
//! (add, multiply, divide, square root, rounding, negation, comparisons and blends), or
//! f32 exp, sigmoid, silu and tanh (`crate::vmath`'s branch-free sequences, on CPUs
//! with FMA), is compiled into one loop that keeps every intermediate in a ymm
//! register: one load per input, one store per value the rest of the chain reads. Each
//! step emits the very operations its eager kernel performs, in the same order, with
//! fused multiply-adds exactly where the kernel has them, so every value has the eager
//! op's bits. Other transcendental steps stay on their kernels, between generated runs.

mod codegen;
#[cfg(target_os = "linux")]
mod exec;
mod x86;

/// Elsewhere no memory is mapped executable: chains run on their kernels.
#[cfg(not(target_os = "linux"))]
mod exec {
    pub struct ExecMem;
    impl ExecMem {
        pub fn new(_code: &[u8]) -> Option<ExecMem> {
            None
        }
        pub fn entry(&self) -> *const u8 {
            std::ptr::null()
        }
    }
}

pub use codegen::{supports, MAX_POINTERS};

use crate::fused::{FloatStep, Operand};
use crate::unary::FloatMath;
use exec::ExecMem;
use std::sync::OnceLock;

/// The element types generated code handles, with what the code generator needs to know.
pub trait JitFloat: FloatMath {
    /// Bytes per element.
    const BYTES: u8;
    /// The element whose bits are the low bits of `bits`.
    fn from_bits64(bits: u64) -> Self;
    /// The element's bits.
    fn bits64(self) -> u64;
}

impl JitFloat for f32 {
    const BYTES: u8 = 4;
    fn from_bits64(bits: u64) -> f32 {
        f32::from_bits(bits as u32)
    }
    fn bits64(self) -> u64 {
        self.to_bits() as u64
    }
}

impl JitFloat for f64 {
    const BYTES: u8 = 8;
    fn from_bits64(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    fn bits64(self) -> u64 {
        self.to_bits()
    }
}

/// Whether generated code can run here: x86-64 Linux with AVX2, and not turned off by
/// `PSIONIC_JIT=0` (the chains then run on their kernels, with the same values).
pub fn available() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        let wanted = std::env::var("PSIONIC_JIT").map_or(true, |v| v != "0");
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        let cpu = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        let cpu = false;
        wanted && cpu
    })
}

/// The generated entry: pointer table (array inputs, then outputs), constant table,
/// element count (a multiple of the lanes).
#[cfg(target_arch = "x86_64")]
type Entry = unsafe extern "sysv64" fn(*const *mut u8, *const u8, usize);
#[cfg(not(target_arch = "x86_64"))]
type Entry = unsafe extern "C" fn(*const *mut u8, *const u8, usize);

/// A compiled run of steps.
pub struct Program<F> {
    _mem: ExecMem,
    entry: Entry,
    /// The same loop with streamed stores, for a run with one output.
    streamed: Option<(ExecMem, Entry)>,
    /// Per input of the run: its entry in the constant table if it is one value.
    scalar_slot: Vec<Option<u32>>,
    /// The constant table with the scalars' entries still to fill, `lanes` per entry.
    table: Vec<F>,
    n_arrays: usize,
    n_outs: usize,
}

/// Elements per ymm register.
fn lanes<F: JitFloat>() -> usize {
    32 / F::BYTES as usize
}

impl<F: JitFloat> Program<F> {
    /// Compiles `steps` (operands: the run's inputs, of which those marked in `scalar`
    /// are one value each, and earlier steps of the run), storing the values of the
    /// steps in `outs`. `None` when a step is not [`supports`]ed or the run needs more
    /// registers than there are.
    pub fn compile(scalar: &[bool], steps: &[(FloatStep, Vec<Operand>)], outs: &[usize]) -> Option<Program<F>> {
        if !available() {
            return None;
        }
        let g = codegen::generate::<F>(scalar, steps, outs, false)?;
        let (mem, entry) = load(&g.code)?;
        let streamed = match outs.len() {
            1 => Some(load(&codegen::generate::<F>(scalar, steps, outs, true)?.code)?),
            _ => None,
        };
        let lanes = lanes::<F>();
        let table = g.table.iter().flat_map(|&b| std::iter::repeat_n(F::from_bits64(b), lanes)).collect();
        let n_arrays = scalar.iter().filter(|s| !**s).count();
        Some(Program { _mem: mem, entry, streamed, scalar_slot: g.scalar_slot, table, n_arrays, n_outs: outs.len() })
    }

    /// The constant table for a call whose scalar input `i` is `value(i)`.
    pub fn table(&self, value: impl Fn(usize) -> F) -> Vec<F> {
        let mut t = self.table.clone();
        self.set_scalars(&mut t, value);
        t
    }

    /// Sets the scalar inputs' entries of a table from [`Program::table`] to `value(i)`
    /// (a row chain's per-row values change from one row to the next; the constants do
    /// not).
    pub fn set_scalars(&self, t: &mut [F], value: impl Fn(usize) -> F) {
        let lanes = lanes::<F>();
        for (i, slot) in self.scalar_slot.iter().enumerate() {
            if let Some(s) = slot {
                t[*s as usize * lanes..][..lanes].fill(value(i));
            }
        }
    }

    /// Runs over `outs[0].len()` elements: `arrays` are the array inputs in order (each at
    /// least that long), `outs` receive the stored values, `table` comes from
    /// [`Program::table`].
    pub fn run(&self, table: &[F], arrays: &[&[F]], outs: &mut [&mut [F]]) {
        assert!(arrays.len() == self.n_arrays && outs.len() == self.n_outs && table.len() == self.table.len());
        let n = outs.first().map_or(0, |o| o.len());
        assert!(arrays.iter().all(|a| a.len() >= n) && outs.iter().all(|o| o.len() == n));
        let lanes = lanes::<F>();
        let body = n - n % lanes;
        let ptrs = pointers(arrays.iter().map(|a| a.as_ptr()), outs.iter_mut().map(|o| o.as_mut_ptr()));
        // SAFETY: every pointer covers `body` elements (checked above); the code reads
        // the arrays and the table and writes only the outputs, at indices below `body`.
        unsafe { (self.entry)(ptrs.as_ptr(), table.as_ptr().cast(), body) };
        if body == n {
            return;
        }
        // The last partial vector: copied into one vector's room per operand, so the
        // loop runs once more on whole registers.
        let rest = n - body;
        let mut tmp: Vec<[F; 8]> = vec![[F::zero(); 8]; arrays.len() + outs.len()];
        for (t, a) in tmp.iter_mut().zip(arrays) {
            t[..rest].copy_from_slice(&a[body..n]);
        }
        let ptrs: Vec<*mut u8> = tmp.iter_mut().map(|t| t.as_mut_ptr().cast::<u8>()).collect();
        // SAFETY: each temporary holds 8 elements, at least one vector's lanes.
        unsafe { (self.entry)(ptrs.as_ptr(), table.as_ptr().cast(), lanes) };
        for (o, t) in outs.iter_mut().zip(&tmp[arrays.len()..]) {
            o[body..].copy_from_slice(&t[..rest]);
        }
    }

    /// [`Program::run`] for a run with one output, its whole vectors at 32-byte aligned
    /// addresses stored around the cache (for outputs too large to stay in it); the
    /// unaligned head and the tail are stored as `run` stores them. Same values.
    pub fn run_streamed(&self, table: &[F], arrays: &[&[F]], out: &mut [F]) {
        assert!(self.n_outs == 1 && arrays.len() == self.n_arrays && table.len() == self.table.len());
        let Some((_, entry)) = &self.streamed else { return self.run(table, arrays, &mut [out]) };
        let n = out.len();
        assert!(arrays.iter().all(|a| a.len() >= n));
        let lanes = lanes::<F>();
        let head = out.as_ptr().align_offset(32).min(n);
        let body = (n - head) / lanes * lanes;
        if body == 0 {
            return self.run(table, arrays, &mut [out]);
        }
        let (before, rest) = out.split_at_mut(head);
        let (middle, after) = rest.split_at_mut(body);
        let slice = |from: usize, len: usize| -> Vec<&[F]> { arrays.iter().map(|a| &a[from..from + len]).collect() };
        if head > 0 {
            self.run(table, &slice(0, head), &mut [before]);
        }
        let ptrs = pointers(arrays.iter().map(|a| a[head..].as_ptr()), [middle.as_mut_ptr()]);
        // SAFETY: every array covers `head + body` elements and the output `body` from
        // its pointer (checked above), which is 32-byte aligned (`head` aligns it) as the
        // streamed stores require; `body` is a multiple of the lanes.
        unsafe { entry(ptrs.as_ptr(), table.as_ptr().cast(), body) };
        if !after.is_empty() {
            self.run(table, &slice(head + body, after.len()), &mut [after]);
        }
    }
}

/// The entry's pointer table, array inputs then outputs, on the stack: no allocation per
/// call (a chain runs one call per block).
fn pointers<F>(
    arrays: impl Iterator<Item = *const F>,
    outs: impl IntoIterator<Item = *mut F>,
) -> [*mut u8; codegen::MAX_POINTERS] {
    let mut ptrs = [std::ptr::null_mut::<u8>(); codegen::MAX_POINTERS];
    let all = arrays.map(|a| a as *mut u8).chain(outs.into_iter().map(|o| o.cast()));
    for (p, a) in ptrs.iter_mut().zip(all) {
        *p = a;
    }
    ptrs
}

/// Generated code mapped executable, and its entry.
fn load(code: &[u8]) -> Option<(ExecMem, Entry)> {
    let mem = ExecMem::new(code)?;
    // SAFETY: the mapping holds a complete function of the `Entry` signature (System V
    // ABI, callee-saved registers restored), generated for this CPU (AVX2 checked by
    // `available`).
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(mem.entry()) };
    Some((mem, entry))
}

#[cfg(test)]
mod tests;
