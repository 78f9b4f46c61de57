//! Adam and AdamW step f32 and f64 parameters through the fused kernel
//! (`Tensor::fused_adam`) and keep the bits of `torch.optim`'s chain of ops; amsgrad and
//! other dtypes take that chain itself.

use psionic_array::{DType, Tensor};
use psionic_optim::{Adam, Optim, Optimizer};

/// One step of `torch.optim`'s single-tensor Adam written with ops, on `(p, m, v)`.
fn reference(a: &Adam, step: i32, (p, m, v): (&Tensor, &Tensor, &Tensor), g: &Tensor) -> [Tensor; 3] {
    let p = if a.decoupled { p.mul(1.0 - a.lr * a.weight_decay) } else { p.clone() };
    let g = if a.decoupled || a.weight_decay == 0.0 { g.clone() } else { g.add(p.mul(a.weight_decay)) };
    let m = m.lerp(&g, 1.0 - a.beta1);
    let v = v.mul(a.beta2).addcmul(&g, &g, 1.0 - a.beta2);
    let (bc1, bc2) = (1.0 - a.beta1.powi(step), (1.0 - a.beta2.powi(step)).sqrt());
    let denom = v.sqrt().div(bc2).add(a.eps);
    [p.addcdiv(&m, &denom, -a.lr / bc1), m, v]
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64).to_vec::<f64>().iter().map(|x| x.to_bits()).collect()
}

fn grad(step: usize, n: usize) -> Tensor {
    Tensor::from_vec((0..n).map(|i| ((i * 37 + step * 11) % 23) as f64 / 7.0 - 1.5).collect::<Vec<_>>(), &[n])
}

#[test]
fn adam_and_adamw_take_the_fused_step_with_the_ops_bits() {
    let n = 50_000;
    let rules = [Adam::new(1e-2), Adam::adamw(1e-2), Adam { weight_decay: 0.1, ..Adam::new(1e-2) }];
    for (rule, dt) in rules.iter().flat_map(|r| [(r, DType::F32), (r, DType::F64)]) {
        let start =
            Tensor::from_vec((0..n).map(|i| (i % 101) as f64 / 50.0 - 1.0).collect::<Vec<_>>(), &[n]).to_dtype(dt);
        let w = start.deep_clone().requires_grad_(true).clone();
        let mut opt = Optim::new(vec![w.clone()], rule.clone());
        let zeros = start.zeros_like();
        let mut want = (start, zeros.clone(), zeros);
        for step in 1..=3 {
            let g = grad(step, n).to_dtype(dt);
            w.set_grad(Some(g.clone()));
            opt.step();
            let [p, m, v] = reference(rule, step as i32, (&want.0, &want.1, &want.2), &g);
            let st = &opt.state[0][0];
            // The fused step writes the parameter and both moments into one buffer.
            assert!(w.shares_storage(&st.bufs["exp_avg"]), "{dt:?} {rule:?}: not the fused step");
            assert_eq!(bits(&w), bits(&p), "{dt:?} {rule:?} step {step}: param");
            assert_eq!(bits(&st.bufs["exp_avg"]), bits(&m), "{dt:?} step {step}: exp_avg");
            assert_eq!(bits(&st.bufs["exp_avg_sq"]), bits(&v), "{dt:?} step {step}: exp_avg_sq");
            want = (p, m, v);
        }
    }
}

#[test]
fn amsgrad_and_half_precision_take_the_ops() {
    for (rule, dt) in [(Adam { amsgrad: true, ..Adam::new(1e-2) }, DType::F32), (Adam::new(1e-2), DType::F16)] {
        let w = Tensor::ones(&[8], dt).requires_grad_(true).clone();
        let mut opt = Optim::new(vec![w.clone()], rule);
        w.set_grad(Some(grad(1, 8).to_dtype(dt)));
        opt.step();
        let st = &opt.state[0][0];
        assert!(!w.shares_storage(&st.bufs["exp_avg"]), "{dt:?}");
        // Adam's first step moves every parameter by about lr against its gradient's sign.
        let (p, g) = (w.to_dtype(DType::F64).to_vec::<f64>(), grad(1, 8).to_vec::<f64>());
        for (p, g) in p.iter().zip(&g) {
            assert!((p - (1.0 - 1e-2 * g.signum())).abs() < 2e-3, "{dt:?}: {p} for gradient {g}");
        }
    }
}
