//! `gradcheck` and `gradgradcheck`: analytic gradients against central finite
//! differences in f64.

use crate::autodiff::{autograd, no_grad, GradOpts};
use crate::{DType, Tensor};

const EPS: f64 = 1e-6;
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;

/// A fixed, non-uniform cotangent so every output element is weighted differently.
fn cotangent(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| 0.3 + 0.7 * ((i * 7 + 3) % 11) as f64 / 11.0).collect();
    Tensor::from_vec(v, shape)
}

fn scalarised(f: &dyn Fn(&[Tensor]) -> Tensor, xs: &[Tensor], v: &Tensor) -> Tensor {
    let y = f(xs);
    assert_eq!(y.dtype(), DType::F64, "gradcheck wants f64 outputs");
    (&y * v).sum_all()
}

/// Panics (naming `name`) unless the vjp of `f` at `inputs` matches finite differences.
pub fn gradcheck(name: &str, f: &dyn Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let xs: Vec<Tensor> = inputs.iter().map(|x| x.deep_clone().requires_grad_(true).clone()).collect();
    let v = cotangent(&f(&xs).shape());
    let s = scalarised(f, &xs, &v);
    let refs: Vec<&Tensor> = xs.iter().collect();
    // A function whose gradient is constant has a second derivative that needs no graph.
    let analytic = if s.requires_grad() {
        autograd::grad(&[&s], &refs, GradOpts { allow_unused: true, ..Default::default() })
    } else {
        vec![None; refs.len()]
    };
    for (i, x) in inputs.iter().enumerate() {
        let shape = x.shape();
        let base = x.to_vec::<f64>();
        let got = analytic[i].as_ref().map_or(vec![0.0; base.len()], |g| {
            assert_eq!(g.shape(), shape, "{name}: grad {i} shape");
            g.to_vec::<f64>()
        });
        for j in 0..base.len() {
            let at = |d: f64| {
                let mut p = base.clone();
                p[j] += d;
                let mut args: Vec<Tensor> = inputs.to_vec();
                args[i] = Tensor::from_vec(p, &shape);
                no_grad(|| scalarised(f, &args, &v).item::<f64>())
            };
            let num = (at(EPS) - at(-EPS)) / (2.0 * EPS);
            let ok = (got[j] - num).abs() <= ATOL + RTOL * num.abs();
            assert!(ok, "{name}: d/dx{i}[{j}] analytic {} numeric {num}", got[j]);
        }
    }
}

/// Checks second derivatives: the gradient (built with `create_graph`) contracted with a
/// fixed vector is itself gradchecked.
pub fn gradgradcheck(name: &str, f: &dyn Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let h = |xs: &[Tensor]| {
        let v = cotangent(&f(xs).shape());
        let s = (&f(xs) * &v).sum_all();
        let refs: Vec<&Tensor> = xs.iter().collect();
        let gs =
            autograd::grad(&[&s], &refs, GradOpts { create_graph: true, allow_unused: true, ..Default::default() });
        let mut total = Tensor::zeros(&[], DType::F64);
        for (g, x) in gs.iter().zip(xs) {
            if let Some(g) = g {
                total = &total + &(g * &cotangent(&x.shape()).mul(0.5)).sum_all();
            }
        }
        total
    };
    // `h` differentiates internally, so its inputs must require grad even when checked
    // numerically (under no_grad the inner grad would see constants).
    let wrapped = |xs: &[Tensor]| {
        let ys: Vec<Tensor> = xs
            .iter()
            .map(|x| {
                if x.requires_grad() {
                    x.clone()
                } else {
                    crate::autodiff::enable_grad(|| x.deep_clone().requires_grad_(true).clone())
                }
            })
            .collect();
        crate::autodiff::enable_grad(|| h(&ys))
    };
    gradcheck(&format!("{name} (2nd order)"), &wrapped, inputs);
}

/// Deterministic f64 test data in `[lo, hi]`, spread so no two elements tie.
pub fn data(shape: &[usize], lo: f64, hi: f64, seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let u = (((i + seed * 13) * 2_654_435_761usize) % 1_000_003) as f64 / 1_000_003.0;
            lo + (hi - lo) * u
        })
        .collect();
    Tensor::from_vec(v, shape)
}

/// Checks that forward mode and reverse mode are transposes of each other at `inputs`:
/// `<J t, u> == <t, J^T u>` for fixed tangents `t` and cotangent `u`.
pub fn jvp_check(name: &str, f: &dyn Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let ts: Vec<Tensor> = inputs.iter().enumerate().map(|(i, x)| data(&x.shape(), -1.0, 1.0, 40 + i)).collect();
    let (outs, jt) = crate::autodiff::jvp(|x| vec![f(x)], inputs, &ts);
    let u = cotangent(&outs[0].shape());
    let (_, vj) = crate::autodiff::vjp(|x| vec![f(x)], inputs, std::slice::from_ref(&u));
    let lhs = (&jt[0] * &u).sum_all().item::<f64>();
    let rhs: f64 = vj.iter().zip(&ts).map(|(g, t)| (g * t).sum_all().item::<f64>()).sum();
    assert!((lhs - rhs).abs() <= 1e-9 * (1.0 + rhs.abs()), "{name}: <Jt,u> = {lhs} but <t,J'u> = {rhs}");
}
