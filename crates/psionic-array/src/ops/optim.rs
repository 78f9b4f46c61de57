//! Fused optimizer steps: one primitive per parameter where the step's arithmetic would
//! otherwise be a chain of elementwise kernels, each a pass over memory.

use crate::mode::check;
use crate::prim::{Prim, ViewOp};
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
    /// ops: operands of other dtypes than one f32 or f64, or of different shapes. A step
    /// that is differentiated or batched keeps the kernel: its derivatives are those of
    /// the chain of ops it stands for.
    pub fn fused_adam(
        &self,
        grad: &Tensor,
        exp_avg: &Tensor,
        exp_avg_sq: &Tensor,
        c: AdamCoeffs,
    ) -> Option<[Tensor; 3]> {
        self.fused_adam_moving(grad, exp_avg, exp_avg_sq, c, None)
    }

    /// [`Tensor::fused_adam`] taking the coefficients that move from step to step
    /// (`c.moving()`'s order) from the f64 `[3]` tensor `moving` when given: what a
    /// compiled training step passes, so one trace serves every step.
    pub fn fused_adam_moving(
        &self,
        grad: &Tensor,
        exp_avg: &Tensor,
        exp_avg_sq: &Tensor,
        c: AdamCoeffs,
        moving: Option<&Tensor>,
    ) -> Option<[Tensor; 3]> {
        let dt = self.dtype();
        let shape = self.shape();
        let fits = matches!(dt, DType::F32 | DType::F64)
            && [grad, exp_avg, exp_avg_sq].iter().all(|t| t.dtype() == dt && t.shape() == shape);
        if !fits {
            return None;
        }
        let mut inputs = vec![self, grad, exp_avg, exp_avg_sq];
        inputs.extend(moving);
        let packed = check(Tensor::make(Prim::AdamStep(c), &inputs));
        // Rows of the packed result without a view's link to it: nothing else holds the
        // packed tensor, and the moments stay plain tensors that a compiled step can
        // take as state.
        Some([0, 1, 2].map(|index| check(Tensor::make(Prim::View(ViewOp::Select { dim: 0, index }), &[&packed]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::mode::{enable_grad, no_grad};
    use crate::autodiff::vmap::vmap;

    /// The chain of ops `torch.optim.Adam` runs, which the fused step must reproduce bit
    /// for bit.
    fn composite(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, c: AdamCoeffs) -> [Tensor; 3] {
        crate::prim::adam_chain(&c, p, g, m, v)
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

    /// Dtypes without the kernel and mismatched operands are left to the ops; traced
    /// steps (grad mode on, inside vmap) keep the kernel.
    #[test]
    fn the_fused_step_applies_where_its_operands_fit() {
        let c = AdamCoeffs { decay: None, beta1: 0.9, beta2: 0.999, bc2_sqrt: 1.0, eps: 1e-8, step_size: -1e-3 };
        let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], &[3]);
        no_grad(|| {
            assert!(x.fused_adam(&x, &x, &x, c).is_some());
            assert!(enable_grad(|| x.fused_adam(&x, &x, &x, c)).is_some(), "grad mode");
            let h = x.to_dtype(DType::F16);
            assert!(h.fused_adam(&h, &h, &h, c).is_none(), "f16");
            assert!(x.fused_adam(&x.to_dtype(DType::F64), &x, &x, c).is_none(), "mixed dtypes");
            assert!(x.fused_adam(&x, &x.reshape(&[1, 3]), &x, c).is_none(), "mixed shapes");
        });
    }

    /// The primitive itself: batched by vmap it is the per-example step, and its
    /// gradients and tangents (which it takes from its chain of ops) are the chain's.
    #[test]
    fn the_step_batches_and_differentiates_as_its_chain() {
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
        // Smooth f64 operands (no special values) for the derivatives.
        let d = |seed: u64, lo: f64| {
            let vals = (0..8).map(|i| lo + ((i as u64 * 7 + seed * 3) % 11) as f64 / 10.0).collect::<Vec<_>>();
            Tensor::from_vec(vals, &[2, 4])
        };
        let ins = [d(1, -0.5), d(2, -0.5), d(3, -0.5), d(4, 0.1)];
        let chain = |a: &[Tensor]| vec![Tensor::stack(&composite(&a[0], &a[1], &a[2], &a[3], c).each_ref(), 0)];
        let cot = [Tensor::from_vec((0..24).map(|i| 0.3 + i as f64 / 24.0).collect::<Vec<_>>(), &[3, 2, 4])];
        let (_, want) = crate::autodiff::vjp(chain, &ins, &cot);
        let (_, got) = crate::autodiff::vjp(op, &ins, &cot);
        let tangents = [d(5, -1.0), d(6, -1.0), d(7, -1.0), d(8, -1.0)];
        let (_, want_t) = crate::autodiff::jvp(chain, &ins, &tangents);
        let (_, got_t) = crate::autodiff::jvp(op, &ins, &tangents);
        for (i, (g, w)) in got.iter().chain(&got_t).zip(want.iter().chain(&want_t)).enumerate() {
            let (g, w) = (g.to_vec::<f64>(), w.to_vec::<f64>());
            assert!(g.iter().zip(&w).all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + b.abs())), "{i}: {g:?} vs {w:?}");
        }
    }

    /// Coefficients given as an input give the bits of the same coefficients given as
    /// attributes; batched and differentiated, the step follows its chain of ops, with
    /// the coefficients' own gradient matching finite differences.
    #[test]
    fn moving_coefficients_from_an_input_match_the_attributes() {
        let c = AdamCoeffs { decay: Some(0.99), beta1: 0.9, beta2: 0.999, bc2_sqrt: 0.5, eps: 1e-8, step_size: -1e-2 };
        let moved = [0.97, 0.25, -3e-2];
        let k = Tensor::from_vec(moved.to_vec(), &[3]);
        for dt in [DType::F32, DType::F64] {
            let t = |seed, nonneg| Tensor::from_vec(values(3001, seed, nonneg), &[3001]).to_dtype(dt);
            let (p, g, m, v) = (t(1, false), t(2, false), t(3, false), t(4, true));
            let want = no_grad(|| p.fused_adam(&g, &m, &v, c.moved(&moved))).unwrap();
            let got = no_grad(|| p.fused_adam_moving(&g, &m, &v, c, Some(&k))).unwrap();
            for i in 0..3 {
                same_bits(&got[i], &want[i], &format!("{dt:?} row {i}"));
            }
        }
        assert_eq!(c.moved(&c.moving()), c);
        // Batched over the parameter with shared coefficients: each example's step.
        let op = |a: &[Tensor]| vec![check(Tensor::make(Prim::AdamStep(c), &a.iter().collect::<Vec<_>>()))];
        let d = |seed: u64, lo: f64| {
            let vals = (0..8).map(|i| lo + ((i as u64 * 7 + seed * 3) % 11) as f64 / 10.0).collect::<Vec<_>>();
            Tensor::from_vec(vals, &[2, 4])
        };
        let ps = Tensor::stack(&[&d(1, -0.5), &d(9, -0.2)], 0);
        let (g, m, v) = (d(2, -0.5), d(3, -0.5), d(4, 0.1));
        let got = vmap(op, &[Some(0), None, None, None, None], &[Some(0)])(&[
            ps.clone(),
            g.clone(),
            m.clone(),
            v.clone(),
            k.clone(),
        ]);
        for b in 0..2 {
            let want = op(&[ps.select(0, b), g.clone(), m.clone(), v.clone(), k.clone()]).remove(0);
            let (x, y) = (got[0].select(0, b).to_vec::<f64>(), want.to_vec::<f64>());
            assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 1e-15 * (1.0 + b.abs())), "vmap {b}");
        }
        // The gradient with respect to the coefficients, by central differences.
        let f = |k: &Tensor| op(&[d(1, -0.5), g.clone(), m.clone(), v.clone(), k.clone()]).remove(0).sum_all();
        let (_, grads) =
            crate::autodiff::vjp(|a| vec![f(&a[0])], std::slice::from_ref(&k), &[Tensor::from_vec(vec![1.0], &[])]);
        let grads = grads[0].to_vec::<f64>();
        for i in 0..3 {
            let h = 1e-6;
            let mut up = moved;
            let mut down = moved;
            up[i] += h;
            down[i] -= h;
            let at = |x: [f64; 3]| f(&Tensor::from_vec(x.to_vec(), &[3])).item::<f64>();
            let fd = (at(up) - at(down)) / (2.0 * h);
            assert!((grads[i] - fd).abs() <= 1e-6 * (1.0 + fd.abs()), "coefficient {i}: {} vs {fd}", grads[i]);
        }
    }
}
