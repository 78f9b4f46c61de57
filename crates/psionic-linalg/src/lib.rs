//! Batched matrix factorizations for the `Linalg` primitive. faer does the numerical work
//! on one matrix at a time (`factor.rs`); this layer walks the batch, packs the results
//! as [`LinalgOp::parts`] lists them, and splits the batch across threads. Each matrix
//! is factored sequentially, so results are the same for any thread count.

mod factor;

use factor::Real;
use psionic_core::ops::LinalgOp;
use psionic_core::{DType, Error, Result};
use psionic_cpu::parallel::for_out_chunks;
use psionic_cpu::{CpuArray, Element, Storage};
use std::borrow::Cow;

/// Evaluates `op` on `inputs` (their last two dims are the matrices) into an output of
/// shape `out_shape` (see `Prim::infer`).
pub fn eval(op: LinalgOp, inputs: &[&CpuArray], out_shape: &[usize]) -> Result<CpuArray> {
    if let LinalgOp::PivotPermutation { m } = op {
        return Ok(pivot_permutation(inputs[0], m, out_shape));
    }
    match inputs[0].dtype() {
        DType::F32 => Ok(eval_typed::<f32>(op, inputs, out_shape)),
        DType::F64 => Ok(eval_typed::<f64>(op, inputs, out_shape)),
        d => Err(Error::dtype(op.name(), format!("Low precision dtypes not supported. Got {d}"))),
    }
}

/// The elements of `x` in row-major order, borrowed when already contiguous.
fn elements<T: Element>(x: &CpuArray) -> Cow<'_, [T]> {
    match x.contiguous_slice::<T>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.to_vec::<T>()),
    }
}

fn eval_typed<T: Real + Element>(op: LinalgOp, inputs: &[&CpuArray], out_shape: &[usize]) -> CpuArray {
    let s = inputs[0].shape();
    let (m, n) = (s[s.len() - 2], s[s.len() - 1]);
    let batches = psionic_core::numel(&s[..s.len() - 2]);
    let total = psionic_core::numel(out_shape);
    let mut out = Storage::uninit::<T>(total);
    if total > 0 {
        let a = elements::<T>(inputs[0]);
        let b = inputs.get(1).map(|b| elements::<T>(b));
        // Every matrix of the batch has the same share of the output (and of B).
        let per_out = total / batches;
        let per_b = b.as_ref().map_or(0, |b| b.len() / batches);
        let work = m * n * m.max(n);
        for_out_chunks(out.as_mut_slice::<T>(), per_out, work, |start, o| {
            let i = start / per_out;
            let am = &a[i * m * n..(i + 1) * m * n];
            match op {
                LinalgOp::Cholesky => factor::cholesky(n, am, o),
                LinalgOp::LuFactor => factor::lu(m, n, am, o),
                LinalgOp::TriangularSolve { upper, left, unit } => {
                    let bm = &b.as_ref().expect("two inputs")[i * per_b..(i + 1) * per_b];
                    factor::triangular_solve(n, am, bm, o, upper, left, unit)
                }
                LinalgOp::Qr { complete } => factor::qr(m, n, am, o, complete),
                LinalgOp::Eigh { vectors } => factor::eigh(n, am, o, vectors),
                LinalgOp::Eig => factor::eig(n, am, o),
                LinalgOp::Svd { full, vectors } => factor::svd(m, n, am, o, full, vectors),
                LinalgOp::PivotPermutation { .. } => unreachable!("integer op handled above"),
            }
        });
    }
    CpuArray::new(out, out_shape)
}

/// Replays LAPACK-style row swaps (1-based) on `0..m`.
fn pivot_permutation(pivots: &CpuArray, m: usize, out_shape: &[usize]) -> CpuArray {
    let piv = psionic_cpu::cast::cast(pivots, DType::I64).to_vec::<i64>();
    let k = pivots.shape().last().copied().unwrap_or(0);
    let batches = psionic_core::numel(out_shape) / m.max(1);
    let mut out = Vec::with_capacity(batches * m);
    for bi in 0..batches {
        let mut perm: Vec<i64> = (0..m as i64).collect();
        for (i, &p) in piv[bi * k..(bi + 1) * k].iter().enumerate() {
            let j = (p - 1).clamp(0, m as i64 - 1) as usize;
            perm.swap(i, j);
        }
        out.extend(perm);
    }
    CpuArray::from_vec(out, out_shape)
}
