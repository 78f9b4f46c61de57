//! One Adam (or AdamW) step for one parameter in a single pass: the parameter, its
//! gradient and both moment estimates are read once, and the new parameter and moments
//! are written side by side as the rows of a `[3, ...]` result.
//!
//! `torch.optim`'s single-tensor Adam runs this as seven kernels (`lerp_`, `mul_`,
//! `addcmul_`, `sqrt`, `div_`, `add_`, `addcdiv_`) plus the decoupled decay's `mul_`,
//! each a pass over memory. The per-element arithmetic here is theirs, step for step and
//! rounding for rounding (each scalar rounded to the element type as those kernels do;
//! `lerp`, `addcmul` and `addcdiv` as in `ternary.rs`), so the results have the same bits
//! as the composite's.

use crate::elementwise::{dense, CHUNK};
use crate::parallel::GRAIN;
use crate::storage::Storage;
use crate::{CpuArray, Element};
use num_traits::Float;
use psionic_core::{DType, Error, Result};
use rayon::prelude::*;

/// The scalars of one step, as `torch.optim.Adam` derives them from its hyperparameters
/// and the step count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamCoeffs {
    /// AdamW's decoupled decay, `1 - lr * weight_decay`, applied to the parameter first.
    pub decay: Option<f64>,
    pub beta1: f64,
    pub beta2: f64,
    /// `sqrt(1 - beta2^step)`, or 1 without bias correction.
    pub bc2_sqrt: f64,
    pub eps: f64,
    /// `-lr / (1 - beta1^step)` (`-lr` without bias correction).
    pub step_size: f64,
}

impl AdamCoeffs {
    /// These coefficients with the ones that move from step to step replaced by
    /// `[decay, bc2_sqrt, step_size]` (a decay only where these have one).
    pub fn moved(&self, k: &[f64]) -> AdamCoeffs {
        AdamCoeffs { decay: self.decay.map(|_| k[0]), bc2_sqrt: k[1], step_size: k[2], ..*self }
    }

    /// The moving coefficients, in the order [`AdamCoeffs::moved`] takes them.
    pub fn moving(&self) -> [f64; 3] {
        [self.decay.unwrap_or(1.0), self.bc2_sqrt, self.step_size]
    }
}

/// `[p', m', v']` stacked as `[3, ...shape]` for parameter `p`, gradient `g` and moments
/// `m`, `v` (one shape, one dtype: f32 or f64).
pub fn adam_step(p: &CpuArray, g: &CpuArray, m: &CpuArray, v: &CpuArray, c: &AdamCoeffs) -> Result<CpuArray> {
    match p.dtype() {
        DType::F32 => Ok(step::<f32>([p, g, m, v], c)),
        DType::F64 => Ok(step::<f64>([p, g, m, v], c)),
        dtype => Err(Error::Unsupported { op: "adam_step", dtype, why: "the fused kernel takes f32 or f64".into() }),
    }
}

/// The step's scalars rounded to the element type, as each of PyTorch's kernels rounds
/// its scalar argument.
#[derive(Clone, Copy)]
struct Consts<F> {
    decay: Option<F>,
    /// The lerp weight `1 - beta1`, and whether lerp starts from the moment (weight
    /// below one half) or from the gradient.
    w: F,
    near_start: bool,
    beta2: F,
    /// addcmul's value `1 - beta2`.
    c2: F,
    bc2_sqrt: F,
    eps: F,
    step_size: F,
}

/// One chunk's index and its pieces of the three outputs, as the zipped iterators yield
/// them.
type Chunk<'a, F> = (usize, ((&'a mut [F], &'a mut [F]), &'a mut [F]));

fn step<F: Float + Element>(xs: [&CpuArray; 4], c: &AdamCoeffs) -> CpuArray {
    let f = |v: f64| F::from(v).unwrap();
    let w = f(1.0 - c.beta1);
    let k = Consts {
        decay: c.decay.map(f),
        w,
        near_start: w.abs() < f(0.5),
        beta2: f(c.beta2),
        c2: f(1.0 - c.beta2),
        bc2_sqrt: f(c.bc2_sqrt),
        eps: f(c.eps),
        step_size: f(c.step_size),
    };
    let n = xs[0].numel();
    let dense = xs.map(|x| dense::<F>(x));
    let [p, g, m, v] = [0, 1, 2, 3].map(|i| dense[i].contiguous_slice::<F>().expect("dense"));
    let mut out = Storage::uninit::<F>(3 * n);
    let (po, rest) = out.as_mut_slice::<F>().split_at_mut(n);
    let (mo, vo) = rest.split_at_mut(n);
    let chunk = |(i, ((po, mo), vo)): Chunk<F>| {
        let r = i * CHUNK..i * CHUNK + po.len();
        let ins = [&p[r.clone()], &g[r.clone()], &m[r.clone()], &v[r]];
        // A square root and two divisions per element: arithmetic-bound enough that
        // AVX-512 measured faster (0.58-0.60 ms against 0.68-0.75 ms at one thread for
        // the 668k parameters of a 784-512-512-10 MLP).
        crate::simd::dispatch_wide(
            #[inline(always)]
            || match k.near_start {
                true => run::<F, true>(ins, [po, mo, vo], &k),
                false => run::<F, false>(ins, [po, mo, vo], &k),
            },
        )
    };
    // Each element's arithmetic is its own, so the split cannot change a result.
    if n * 4 < GRAIN || rayon::current_num_threads() == 1 {
        po.chunks_mut(CHUNK).zip(mo.chunks_mut(CHUNK)).zip(vo.chunks_mut(CHUNK)).enumerate().for_each(chunk);
    } else {
        po.par_chunks_mut(CHUNK)
            .zip(mo.par_chunks_mut(CHUNK))
            .zip(vo.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(chunk);
    }
    CpuArray::new(out, &[[3].as_slice(), xs[0].shape()].concat())
}

/// The step over one chunk. The lerp's branch is a constant of the step, so it is a
/// type parameter and the loop has none.
#[inline(always)]
fn run<F: Float, const NEAR_START: bool>([p, g, m, v]: [&[F]; 4], [po, mo, vo]: [&mut [F]; 3], k: &Consts<F>) {
    // One length for every slice, so the loop has no bounds checks and vectorises.
    let n = po.len();
    let (p, g, m, v, mo, vo) = (&p[..n], &g[..n], &m[..n], &v[..n], &mut mo[..n], &mut vo[..n]);
    for i in 0..n {
        let (gi, mi) = (g[i], m[i]);
        // exp_avg.lerp_(grad, 1 - beta1)
        let m1 = if NEAR_START { k.w.mul_add(gi - mi, mi) } else { (k.w - F::one()).mul_add(gi - mi, gi) };
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        let v1 = v[i] * k.beta2;
        let v1 = v1 + k.c2 * gi * gi;
        // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        let denom = v1.sqrt() / k.bc2_sqrt + k.eps;
        // param.mul_(1 - lr * weight_decay) (AdamW), then
        // param.addcdiv_(exp_avg, denom, value=-step_size)
        let p0 = match k.decay {
            Some(d) => p[i] * d,
            None => p[i],
        };
        po[i] = p0 + k.step_size * m1 / denom;
        mo[i] = m1;
        vo[i] = v1;
    }
}
