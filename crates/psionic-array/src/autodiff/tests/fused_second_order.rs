//! Second derivatives through the fused kernels: grad of grad (`gradgradcheck`) and the
//! Hessian (`hessian`, forward over reverse) against finite differences in f64. The
//! kernels' own rules give first derivatives; where a kernel has none (a fused gradient,
//! the Adam step) its composite gives them, so nothing here may refuse.

use super::check::{data, gradcheck, gradgradcheck};
use crate::autodiff::{grad, hessian, no_grad};
use crate::prim::Prim;
use crate::{DType, Tensor};
use psionic_cpu::adam::AdamCoeffs;

const EPS: f64 = 1e-5;

/// A fixed weighting of `f`'s output, so `s = <f(x), w>` is a scalar with every output
/// element counted differently.
fn scalar(f: &dyn Fn(&[Tensor]) -> Tensor, xs: &[Tensor]) -> Tensor {
    let y = f(xs);
    let n = y.numel();
    let w = Tensor::from_vec((0..n).map(|i| 0.2 + ((i * 5 + 1) % 7) as f64 / 7.0).collect::<Vec<_>>(), &y.shape());
    (&y * &w).sum_all()
}

/// Panics unless the Hessian of `s = <f(x), w>` with respect to `inputs[0]` matches the
/// central differences of its analytic gradient.
fn hessian_check(name: &str, f: &dyn Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let s = |xs: &[Tensor]| scalar(f, xs);
    let h = hessian(s)(inputs);
    let x = &inputs[0];
    let n = x.numel();
    assert_eq!(h.numel(), n * n, "{name}: hessian shape {:?}", h.shape());
    let got = h.reshape(&[n as i64, n as i64]).to_vec::<f64>();
    let base = x.to_vec::<f64>();
    let g = grad(s);
    for j in 0..n {
        let at = |d: f64| {
            let mut p = base.clone();
            p[j] += d;
            let mut args = inputs.to_vec();
            args[0] = Tensor::from_vec(p, &x.shape());
            no_grad(|| g(&args)).to_vec::<f64>()
        };
        let (hi, lo) = (at(EPS), at(-EPS));
        for i in 0..n {
            let num = (hi[i] - lo[i]) / (2.0 * EPS);
            let ana = got[i * n + j];
            assert!((ana - num).abs() <= 1e-5 + 1e-4 * num.abs(), "{name}: H[{i}, {j}] analytic {ana} numeric {num}");
        }
    }
}

/// gradcheck, gradgradcheck and the Hessian of `f` at `inputs` (the first one's).
fn second_order(name: &str, f: &dyn Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    gradcheck(name, f, inputs);
    gradgradcheck(name, f, inputs);
    hessian_check(name, f, inputs);
}

#[test]
fn layer_norm() {
    let f = |a: &[Tensor]| a[0].layer_norm(1, Some(&a[1]), Some(&a[2]), 1e-5);
    let ins = [data(&[2, 5], -2.0, 3.0, 1), data(&[5], 0.5, 1.5, 2), data(&[5], -1.0, 1.0, 3)];
    second_order("layer_norm", &f, &ins);
}

#[test]
fn attention() {
    for causal in [false, true] {
        let f = move |a: &[Tensor]| a[0].attention(&a[1], &a[2], 0.7, causal);
        let ins = [data(&[1, 3, 2], -1.0, 1.0, 4), data(&[1, 4, 2], -1.0, 1.0, 5), data(&[1, 4, 3], -1.0, 1.0, 6)];
        assert!(matches!(f(&ins).node().prim, Prim::Attention(_)), "the fused kernel runs");
        second_order(&format!("attention causal={causal}"), &f, &ins);
        // The Hessian with respect to the keys and the values too.
        for rot in [1, 2] {
            let mut perm = ins.to_vec();
            perm.rotate_left(rot);
            let g = move |a: &[Tensor]| {
                let mut b = a.to_vec();
                b.rotate_right(rot);
                f(&b)
            };
            hessian_check(&format!("attention causal={causal}, input {rot}"), &g, &perm);
        }
    }
}

#[test]
fn softmax_and_log_softmax() {
    let x = [data(&[3, 4], -2.0, 2.0, 7)];
    second_order("softmax", &|a: &[Tensor]| a[0].softmax(-1), &x);
    second_order("log_softmax", &|a: &[Tensor]| a[0].log_softmax(0), &x);
}

#[test]
fn batch_norm() {
    let f = |a: &[Tensor]| a[0].batch_norm_train(Some(&a[1]), Some(&a[2]), 1e-5).0;
    let ins = [data(&[3, 2, 2], -2.0, 2.0, 8), data(&[2], 0.5, 1.5, 9), data(&[2], -1.0, 1.0, 10)];
    second_order("batch_norm", &f, &ins);
}

#[test]
fn adam_step() {
    let c = AdamCoeffs { decay: Some(0.99), beta1: 0.9, beta2: 0.999, bc2_sqrt: 0.7, eps: 1e-3, step_size: -0.1 };
    // Under grad mode the step keeps its fused kernel; its derivatives are its chain's.
    let f = move |a: &[Tensor]| {
        let [p, m, v] = a[0].fused_adam(&a[1], &a[2], &a[3], c).expect("the operands fit");
        assert!(matches!(p.node().prim, Prim::View(_)), "a row of the fused step");
        Tensor::stack(&[&p, &m, &v], 0)
    };
    let ins =
        [data(&[4], -1.0, 1.0, 11), data(&[4], -1.0, 1.0, 12), data(&[4], -0.5, 0.5, 13), data(&[4], 0.1, 0.5, 14)];
    second_order("adam_step", &f, &ins);
    // With respect to the gradient, whose square enters the second moment.
    let by_grad = move |a: &[Tensor]| f(&[a[1].clone(), a[0].clone(), a[2].clone(), a[3].clone()]);
    let swapped = [ins[1].clone(), ins[0].clone(), ins[2].clone(), ins[3].clone()];
    hessian_check("adam_step (gradient)", &by_grad, &swapped);
}

/// A GPT block (pre-norm attention and MLP with residuals, as `models::Gpt` has), written
/// from the fused ops: layer_norm, causal attention, GELU and matmuls.
fn gpt_block(a: &[Tensor]) -> Tensor {
    let (x, w_qkv, w_proj, w_fc, w_out) = (&a[0], &a[1], &a[2], &a[3], &a[4]);
    let (t, e, heads) = (x.size(0) as i64, x.size(1) as i64, 2i64);
    let ones = Tensor::ones(&[e as usize], DType::F64);
    let zeros = Tensor::zeros(&[e as usize], DType::F64);
    let h = x.layer_norm(1, Some(&ones), Some(&zeros), 1e-5).matmul(w_qkv);
    let split = |i: i64| h.narrow(1, i * e, e as usize).reshape(&[t, heads, e / heads]).transpose(0, 1);
    let att = split(0).attention(&split(1), &split(2), 1.0 / ((e / heads) as f64).sqrt(), true);
    let x = x + &att.transpose(0, 1).reshape(&[t, e]).matmul(w_proj);
    let m = x.layer_norm(1, Some(&ones), Some(&zeros), 1e-5).matmul(w_fc).gelu("none").matmul(w_out);
    &x + &m
}

#[test]
fn gpt_block_second_derivatives() {
    let (t, e) = (3, 4);
    let ins = [
        data(&[t, e], -1.0, 1.0, 15),
        data(&[e, 3 * e], -0.5, 0.5, 16),
        data(&[e, e], -0.5, 0.5, 17),
        data(&[e, 2 * e], -0.5, 0.5, 18),
        data(&[2 * e, e], -0.5, 0.5, 19),
    ];
    second_order("gpt block", &gpt_block, &ins);
    // The Hessian with respect to the attention weights.
    let by_qkv = |a: &[Tensor]| gpt_block(&[a[1].clone(), a[0].clone(), a[2].clone(), a[3].clone(), a[4].clone()]);
    let swapped = [ins[1].clone(), ins[0].clone(), ins[2].clone(), ins[3].clone(), ins[4].clone()];
    hessian_check("gpt block (qkv weight)", &by_qkv, &swapped);
}
