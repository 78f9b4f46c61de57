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

/// Example `k` of a batch built from `x`: scaled copies, so every example differs while
/// staying in the domain the test picked for `x`.
fn example(x: &Tensor, k: usize) -> Tensor {
    x.mul([1.0, 0.95, 1.05][k])
}

/// Checks `vmap` of `f` (and of its vjp, i.e. per-example gradients) against a loop of
/// `f` over three examples. First every input is batched (even inputs along their first
/// axis, odd ones along their last); then, with several inputs, the first is shared by
/// all examples and the output gets the batch in its last axis.
pub fn vmap_check(name: &str, f: &dyn Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    use crate::autodiff::{vjp, vmap};
    let n = inputs.len();
    let per_example_vjp = |xs: &[Tensor]| {
        let u = cotangent(&f(xs).shape());
        vjp(|a| vec![f(a)], xs, std::slice::from_ref(&u)).1
    };
    for config in 0..2 {
        if config == 1 && n < 2 {
            continue;
        }
        let axes: Vec<Option<i64>> = (0..n)
            .map(|i| match (config, i) {
                (1, 0) => None,
                (1, _) => Some(0),
                (_, i) if i % 2 == 1 => Some(-1),
                _ => Some(0),
            })
            .collect();
        let args = |k: usize| -> Vec<Tensor> {
            inputs.iter().zip(&axes).map(|(x, a)| if a.is_some() { example(x, k) } else { x.clone() }).collect()
        };
        let batched: Vec<Tensor> = inputs
            .iter()
            .zip(&axes)
            .map(|(x, a)| match a {
                None => x.clone(),
                Some(a) => {
                    let d = if *a < 0 { x.dim() as i64 + 1 + a } else { *a };
                    Tensor::stack(&[&example(x, 0), &example(x, 1), &example(x, 2)], d)
                }
            })
            .collect();
        let out_axis = if config == 0 { 0 } else { -1 };
        let got = vmap(|xs: &[Tensor]| vec![f(xs)], &axes, &[Some(out_axis)])(&batched).remove(0);
        let want: Vec<Tensor> = (0..3).map(|k| f(&args(k))).collect();
        let want = Tensor::stack(&want.iter().collect::<Vec<_>>(), out_axis);
        assert_close(&format!("{name}: vmap {axes:?}"), &got, &want);
        let got = vmap(per_example_vjp, &axes, &[Some(0)])(&batched);
        for i in 0..n {
            let want: Vec<Tensor> = (0..3).map(|k| per_example_vjp(&args(k)).remove(i)).collect();
            let want = Tensor::stack(&want.iter().collect::<Vec<_>>(), 0);
            assert_close(&format!("{name}: vmap of vjp, input {i}, {axes:?}"), &got[i], &want);
        }
    }
}

/// Same shape and values within a tight tolerance (batched kernels may sum in another
/// order than per-example ones).
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_close_tol(what, got, want, 1e-12, 1e-9);
}

pub fn assert_close_tol(what: &str, got: &Tensor, want: &Tensor, atol: f64, rtol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_vec::<f64>(), want.to_vec::<f64>());
    for (j, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = (a - b).abs() <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan());
        assert!(ok, "{what}: element {j}: got {a}, want {b}");
    }
}

/// A named function of some inputs, and the inputs to check it at.
pub type Case = (&'static str, Box<dyn Fn(&[Tensor]) -> Tensor>, Vec<Tensor>);

/// A case of `f` at inputs of `shapes`, values in [-1.5, 1.5] (input `i` seeded `i + 1`).
pub fn case(name: &'static str, shapes: &[&[usize]], f: impl Fn(&[Tensor]) -> Tensor + 'static) -> Case {
    let ins = shapes.iter().enumerate().map(|(i, s)| data(s, -1.5, 1.5, i + 1)).collect();
    (name, Box::new(f), ins)
}

/// gradcheck and the jvp check of every case, the vmap check with `vmap`, and
/// gradgradcheck with `second`.
pub fn check_cases(cases: &[Case], vmap: bool, second: bool) {
    for (name, f, ins) in cases {
        gradcheck(name, f.as_ref(), ins);
        jvp_check(name, f.as_ref(), ins);
        if vmap {
            vmap_check(name, f.as_ref(), ins);
        }
        if second {
            gradgradcheck(name, f.as_ref(), ins);
        }
    }
}
