//! Fused optimizer steps: one primitive per parameter where the step's arithmetic would
//! otherwise be a chain of elementwise kernels, each a pass over memory.

use crate::mode::check;
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::DType;
pub use psionic_cpu::adam::AdamCoeffs;

impl Tensor {
    /// One step of `torch.optim.Adam`'s single-tensor arithmetic for the parameter
    /// `self`, its gradient and its moment estimates, in one pass (`Prim::AdamStep`): the
    /// new `(param, exp_avg, exp_avg_sq)`, with the bits of the chain of ops it stands for.
    /// The three share one buffer, as the rows of a `[3, ...]` result.
    ///
    /// `None` where the fused kernel does not apply and the caller composes the step from
    /// ops: operands of other dtypes than one f32 or f64, of different shapes, or a step
    /// that is itself being differentiated or batched (grad mode on, a jvp or vmap
    /// running), since the primitive has no derivative rules.
    pub fn fused_adam(
        &self,
        grad: &Tensor,
        exp_avg: &Tensor,
        exp_avg_sq: &Tensor,
        c: AdamCoeffs,
    ) -> Option<[Tensor; 3]> {
        let dt = self.dtype();
        let shape = self.shape();
        let fits = matches!(dt, DType::F32 | DType::F64)
            && [grad, exp_avg, exp_avg_sq].iter().all(|t| t.dtype() == dt && t.shape() == shape);
        if !fits || !crate::prim::untraced() {
            return None;
        }
        let packed = check(Tensor::make(Prim::AdamStep(c), &[self, grad, exp_avg, exp_avg_sq]));
        Some([0, 1, 2].map(|i| packed.select(0, i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::mode::{enable_grad, no_grad};
    use crate::autodiff::vmap::vmap;

    /// The chain of ops `torch.optim.Adam` runs (`_single_tensor_adam`), which the fused
    /// step must reproduce bit for bit.
    fn composite(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, c: AdamCoeffs) -> [Tensor; 3] {
        let p0 = c.decay.map_or(p.clone(), |d| p.mul(d));
        let m1 = m.lerp(g, 1.0 - c.beta1);
        let v1 = v.mul(c.beta2).addcmul(g, g, 1.0 - c.beta2);
        let denom = v1.sqrt().div(c.bc2_sqrt).add(c.eps);
        [p0.addcdiv(&m1, &denom, c.step_size), m1, v1]
    }

    /// Values over many magnitudes, with zeros of both signs, subnormals, infinities and
    /// NaN among them; `nonneg` for the second moment.
    fn values(n: usize, seed: u64, nonneg: bool) -> Vec<f64> {
        let special = [0.0, -0.0, 1e-310, 1e-40, 1e30, f64::INFINITY, f64::NAN, 1.0, -1.0];
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                let x = if i % 97 == 0 {
                    special[(i / 97) % special.len()]
                } else {
                    (u - 0.5) * 10f64.powi((i % 13) as i32 - 8)
                };
                if nonneg {
                    x.abs()
                } else {
                    x
                }
            })
            .collect()
    }

    fn same_bits(a: &Tensor, b: &Tensor, what: &str) {
        let (x, y) = (a.to_dtype(DType::F64).to_vec::<f64>(), b.to_dtype(DType::F64).to_vec::<f64>());
        assert_eq!(a.dtype(), b.dtype(), "{what}");
        for (i, (x, y)) in x.iter().zip(&y).enumerate() {
            assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{what} element {i}: {x:e} vs {y:e}");
        }
    }

    /// Both lerp branches (`1 - beta1` below and above one half), with and without the
    /// decoupled decay and bias correction, in f32 and f64, long enough for several chunks
    /// on two threads and with a strided gradient.
    #[test]
    fn the_fused_step_has_the_bits_of_the_ops() {
        let n = 70_001;
        let coeffs = [
            AdamCoeffs {
                decay: None,
                beta1: 0.9,
                beta2: 0.999,
                bc2_sqrt: (1.0f64 - 0.999f64.powi(3)).sqrt(),
                eps: 1e-8,
                step_size: -1e-3 / (1.0 - 0.9f64.powi(3)),
            },
            AdamCoeffs {
                decay: Some(1.0 - 1e-3 * 0.01),
                beta1: 0.3,
                beta2: 0.95,
                bc2_sqrt: 1.0,
                eps: 1e-6,
                step_size: -0.05,
            },
        ];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for dt in [DType::F32, DType::F64] {
            let t = |seed, nonneg| Tensor::from_vec(values(n, seed, nonneg), &[n]).to_dtype(dt);
            let (p, m, v) = (t(1, false), t(3, false), t(4, true));
            // The gradient read through a transposed view.
            let g = Tensor::from_vec(values(n - 1, 2, false), &[7, (n - 1) / 7]).to_dtype(dt).t();
            let p = Tensor::cat(&[&p.narrow(0, 0, n - 1)], 0).reshape(&[(n - 1) as i64 / 7, 7]);
            let (m, v) = (m.narrow(0, 1, n - 1).reshape(&[-1, 7]), v.narrow(0, 1, n - 1).reshape(&[-1, 7]));
            for c in coeffs {
                let want = composite(&p, &g, &m, &v, c);
                for threads in [1, 2] {
                    // Grad mode is per thread: the step runs without it on the pool's.
                    let step = || no_grad(|| p.fused_adam(&g, &m, &v, c));
                    let got = if threads == 1 { step() } else { pool.install(step) }.expect("fused");
                    for (i, name) in ["param", "exp_avg", "exp_avg_sq"].iter().enumerate() {
                        same_bits(&got[i], &want[i], &format!("{dt:?} {c:?} {threads} threads: {name}"));
                    }
                }
            }
        }
    }

    /// Traced steps are left to the ops (which can be differentiated and batched), as are
    /// dtypes without the kernel and mismatched operands.
    #[test]
    fn the_fused_step_stays_out_of_traced_code() {
        let c = AdamCoeffs { decay: None, beta1: 0.9, beta2: 0.999, bc2_sqrt: 1.0, eps: 1e-8, step_size: -1e-3 };
        let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], &[3]);
        no_grad(|| {
            assert!(x.fused_adam(&x, &x, &x, c).is_some());
            assert!(enable_grad(|| x.fused_adam(&x, &x, &x, c)).is_none(), "grad mode");
            let h = x.to_dtype(DType::F16);
            assert!(h.fused_adam(&h, &h, &h, c).is_none(), "f16");
            assert!(x.fused_adam(&x.to_dtype(DType::F64), &x, &x, c).is_none(), "mixed dtypes");
            assert!(x.fused_adam(&x, &x.reshape(&[1, 3]), &x, c).is_none(), "mixed shapes");
            let batched = vmap(
                |a: &[Tensor]| {
                    vec![Tensor::from_vec(vec![a[0].fused_adam(&a[0], &a[0], &a[0], c).is_none() as u8], &[])]
                },
                &[Some(0)],
                &[None],
            );
            assert_eq!(batched(&[x.reshape(&[3, 1])])[0].to_vec::<u8>(), vec![1]);
        });
    }

    /// The primitive itself, built directly (as a compiled or replayed graph could hold
    /// it): batched by vmap it is the per-example step, and it refuses to be
    /// differentiated, in reverse or forward mode.
    #[test]
    fn the_step_batches_and_refuses_derivatives() {
        let c = AdamCoeffs { decay: Some(0.99), beta1: 0.9, beta2: 0.999, bc2_sqrt: 0.5, eps: 1e-8, step_size: -1e-2 };
        let op = |a: &[Tensor]| vec![check(Tensor::make(Prim::AdamStep(c), &[&a[0], &a[1], &a[2], &a[3]]))];
        let t = |seed, nonneg| Tensor::from_vec(values(24, seed, nonneg), &[3, 2, 4]).to_dtype(DType::F32);
        let (p, g, m, v) = (t(1, false), t(2, false), t(3, false), t(4, true));
        // A batched parameter and gradient, shared moments.
        let (ms, vs) = (m.select(0, 1), v.select(0, 1));
        let got =
            vmap(op, &[Some(0), Some(0), None, None], &[Some(0)])(&[p.clone(), g.clone(), ms.clone(), vs.clone()]);
        assert_eq!(got[0].shape(), vec![3, 3, 2, 4]);
        for b in 0..3 {
            let want = op(&[p.select(0, b), g.select(0, b), ms.clone(), vs.clone()]).remove(0);
            same_bits(&got[0].select(0, b), &want, &format!("vmap example {b}"));
        }
        let pg = p.select(0, 0).requires_grad_(true).clone();
        let y = op(&[pg.clone(), g.select(0, 0), ms.clone(), vs.clone()]).remove(0);
        let err = crate::mode::fallible(|| y.sum_all().backward()).unwrap_err().to_string();
        assert!(err.contains("not differentiable"), "{err}");
        let tangent = pg.ones_like();
        let f = |a: &[Tensor]| op(&[a[0].clone(), g.select(0, 0), ms.clone(), vs.clone()]);
        let err = crate::mode::fallible(|| crate::autodiff::forward::jvp(f, &[pg.detach()], &[tangent]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not differentiable"), "{err}");
    }
}
