//! Custom functions (their own vjp, jvp and vmap rules) and `checkpoint`.
// Argument lists read as `&[x.clone()]` like the calls they stand for.
#![allow(clippy::cloned_ref_to_slice_refs)]

use super::check::{assert_close, data, gradcheck, gradgradcheck, jvp_check};
use crate::autodiff::{checkpoint, grad, jvp, vjp, vmap, vmap_fallbacks, CustomFunction};
use crate::{fallible, DType, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

fn square_with_rules(calls: Arc<AtomicUsize>) -> CustomFunction {
    CustomFunction::new("test_square", |x: &[Tensor]| vec![x[0].square()])
        // Deliberately not the true derivative, so the test can tell the rule was used.
        .with_vjp(|x: &[Tensor], ct: &[Tensor], _out: &[Tensor]| vec![Some(&ct[0] * &x[0].mul(3.0))])
        .with_jvp(|x: &[Tensor], t: &[Tensor]| vec![&t[0] * &x[0].mul(5.0)])
        .with_vmap(move |x: &[Tensor], axes: &[Option<usize>]| {
            calls.fetch_add(1, Ordering::SeqCst);
            (vec![x[0].square()], vec![axes[0]])
        })
}

#[test]
fn custom_rules_are_used_by_every_transform() {
    let calls = Arc::new(AtomicUsize::new(0));
    let f = square_with_rules(calls.clone());
    let x = data(&[4], -1.0, 1.0, 1);
    // vjp (MLX face) and backward (PyTorch face) both use the custom vjp.
    let f1 = f.clone();
    let g = grad(move |a: &[Tensor]| f1.call(a).remove(0).sum_all())(&[x.clone()]);
    assert_close("custom vjp", &g, &x.mul(3.0));
    let leaf = x.deep_clone().requires_grad_(true).clone();
    f.call(&[leaf.clone()])[0].sum_all().backward();
    assert_close("custom vjp via backward", &leaf.grad().unwrap(), &x.mul(3.0));
    // jvp uses the custom jvp.
    let t = data(&[4], -1.0, 1.0, 2);
    let f2 = f.clone();
    let (_, jt) = jvp(move |a: &[Tensor]| f2.call(a), &[x.clone()], &[t.clone()]);
    assert_close("custom jvp", &jt[0], &(&t * &x.mul(5.0)));
    // vmap uses the custom vmap rule, and vmap of grad the custom vjp per example.
    let xb = data(&[3, 4], -1.0, 1.0, 3);
    let f3 = f.clone();
    let out = vmap(move |a: &[Tensor]| f3.call(a), &[Some(0)], &[Some(0)])(&[xb.clone()]);
    assert_close("custom vmap", &out[0], &xb.square());
    assert!(calls.load(Ordering::SeqCst) >= 1);
    let f4 = f.clone();
    let per =
        vmap(move |a: &[Tensor]| vec![grad(|b: &[Tensor]| f4.call(b).remove(0).sum_all())(a)], &[Some(0)], &[Some(0)]);
    assert_close("vmap of custom vjp", &per(&[xb.clone()])[0], &xb.mul(3.0));
    assert!(!vmap_fallbacks().iter().any(|(k, _)| k == "test_square"));
}

#[test]
fn custom_function_without_vmap_rule_loops_and_says_so() {
    let f = CustomFunction::new("test_loop_softsign", |x: &[Tensor]| vec![&x[0] / &x[0].abs().add(1.0)]);
    let xb = data(&[3, 5], -2.0, 2.0, 1);
    let out = vmap(move |a: &[Tensor]| f.call(a), &[Some(1)], &[Some(0)])(&[xb.clone()]);
    assert_close("loop fallback", &out[0], &(&xb / &xb.abs().add(1.0)).t());
    let n = vmap_fallbacks().into_iter().find(|(k, _)| k == "test_loop_softsign").map(|(_, n)| n);
    assert_eq!(n, Some(1), "the fallback is reported");
}

#[test]
fn multiple_outputs_and_default_rules() {
    // No rules given: vjp and jvp come from the forward.
    let f = CustomFunction::new("test_pair", |x: &[Tensor]| vec![&x[0] * &x[1], (&x[0] + &x[1]).sin()]);
    let h = move |a: &[Tensor]| {
        let o = f.call(a);
        &o[0].mul(2.0) + &o[1].sum(0, true)
    };
    let ins = vec![data(&[2, 3], -1.0, 1.0, 1), data(&[2, 3], -1.0, 1.0, 2)];
    gradcheck("custom pair", &h, &ins);
    jvp_check("custom pair", &h, &ins);
}

#[test]
fn several_outputs_share_one_call_of_each_rule() {
    // MLX calls a multi-output vjp rule once, with every output's cotangent: a rule
    // returning a constant gives that constant, not one copy per output used.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let f = CustomFunction::new("test_split", |x: &[Tensor]| {
        vec![x[0].exp(), x[0].sum_all().to_dtype(DType::F32), x[0].gt(0.0).to_dtype(DType::I64)]
    })
    .with_vjp(move |x: &[Tensor], ct: &[Tensor], out: &[Tensor]| {
        seen.fetch_add(1, Ordering::SeqCst);
        assert_eq!((ct.len(), out.len()), (3, 3));
        assert_eq!((ct[1].dtype(), out[2].dtype(), out[2].shape()), (DType::F32, DType::I64, x[0].shape()));
        vec![Some(&(&ct[0] * &out[0]) + &ct[1].to_dtype(DType::F64))]
    })
    .with_jvp(|x: &[Tensor], t: &[Tensor]| {
        vec![&t[0] * &x[0].exp(), t[0].sum_all().to_dtype(DType::F32), x[0].zeros_like().to_dtype(DType::I64)]
    });
    let x = Tensor::from_vec(vec![-1.0f64, 0.5, 2.0], &[3]);
    let outs = f.call(&[x.clone()]);
    assert_eq!(outs.iter().map(Tensor::dtype).collect::<Vec<_>>(), [DType::F64, DType::F32, DType::I64]);
    assert_eq!(outs[2].to_vec::<i64>(), [0, 1, 1]);
    assert_close("packed output 0", &outs[0], &x.exp());
    let f1 = f.clone();
    let g = grad(move |a: &[Tensor]| {
        let o = f1.call(a);
        &o[0].sum_all() + &o[1].to_dtype(DType::F64)
    })(&[x.clone()]);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one vjp call for the whole call");
    assert_close("both cotangents in one call", &g, &x.exp().add(1.0));
    // jvp packs the rule's tangents the same way; vmap loops over the packed value.
    let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]);
    let f2 = f.clone();
    let (_, jt) = jvp(move |a: &[Tensor]| f2.call(a), &[x.clone()], &[t.clone()]);
    assert_close("jvp 0", &jt[0], &(&t * &x.exp()));
    assert_eq!(jt[1].to_vec::<f32>(), [6.0]);
    let xb = data(&[4, 3], -1.0, 1.0, 5);
    let out = vmap(move |a: &[Tensor]| f.call(a), &[Some(0)], &[Some(0)])(&[xb.clone()]);
    assert_close("vmap 0", &out[0], &xb.exp());
    assert_eq!(out[1].to_vec::<f32>(), xb.sum(1, false).to_dtype(DType::F32).to_vec::<f32>());
    assert_eq!(out[2].to_vec::<i64>(), xb.gt(0.0).to_dtype(DType::I64).to_vec::<i64>());
}

#[test]
fn bad_rule_outputs_are_refused() {
    let f = CustomFunction::new("test_bad", |x: &[Tensor]| vec![x[0].exp()])
        .with_vjp(|_x: &[Tensor], ct: &[Tensor], _o: &[Tensor]| vec![Some(ct[0].sum_all())]);
    let x = data(&[3], -1.0, 1.0, 1);
    let e = fallible(|| grad(move |a: &[Tensor]| f.call(a).remove(0).sum_all())(&[x])).unwrap_err().to_string();
    assert!(e.contains("vjp rule of 'test_bad' returned shape []"), "{e}");
}

/// A two-layer block reading captured weights, as a checkpointed layer would.
fn block(w1: Tensor, w2: Tensor) -> impl Fn(&[Tensor]) -> Vec<Tensor> + Send + Sync + Clone + 'static {
    move |x: &[Tensor]| vec![x[0].matmul(&w1).tanh().matmul(&w2).sigmoid()]
}

#[test]
fn checkpoint_matches_plain_and_reaches_captured_weights() {
    let x = data(&[4, 3], -1.0, 1.0, 1);
    let w1 = data(&[3, 5], -1.0, 1.0, 2).requires_grad_(true).clone();
    let w2 = data(&[5, 2], -1.0, 1.0, 3).requires_grad_(true).clone();
    let xr = x.deep_clone().requires_grad_(true).clone();
    block(w1.clone(), w2.clone())(&[xr.clone()])[0].sum_all().backward();
    let want: Vec<Tensor> = [&xr, &w1, &w2].iter().map(|t| t.grad().unwrap()).collect();
    for t in [&xr, &w1, &w2] {
        t.zero_grad();
    }
    let ck = checkpoint(block(w1.clone(), w2.clone()));
    let y = ck(&[xr.clone()]);
    assert_close("checkpoint value", &y[0], &block(w1.clone(), w2.clone())(&[x.clone()])[0].detach());
    y[0].sum_all().backward();
    for (i, (t, w)) in [&xr, &w1, &w2].iter().zip(&want).enumerate() {
        assert_close(&format!("checkpoint grad {i}"), &t.grad().unwrap(), w);
    }
}

#[test]
fn checkpoint_recomputes_instead_of_keeping_intermediates() {
    let calls = Arc::new(AtomicUsize::new(0));
    let kept: Arc<Mutex<Vec<Weak<crate::node::Node>>>> = Arc::default();
    let (c, k) = (calls.clone(), kept.clone());
    let ck = checkpoint(move |x: &[Tensor]| {
        c.fetch_add(1, Ordering::SeqCst);
        let h = x[0].exp();
        k.lock().unwrap().push(Arc::downgrade(&h.node()));
        vec![h.sin()]
    });
    let x = data(&[3], -1.0, 1.0, 1).requires_grad_(true).clone();
    let y = ck(&[x.clone()]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(kept.lock().unwrap()[0].upgrade().is_none(), "the intermediate is freed after the forward");
    y[0].sum_all().backward();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "backward recomputed the forward once");
    let xd = x.detach();
    assert_close("checkpoint grad", &x.grad().unwrap(), &(&xd.exp().cos() * &xd.exp()));
}

#[test]
fn checkpoint_composes_with_higher_order_jvp_and_vmap() {
    let w = data(&[3, 3], -1.0, 1.0, 2);
    let f = {
        let ck = checkpoint(move |x: &[Tensor]| vec![x[0].matmul(&w).tanh().mul(&x[0])]);
        move |x: &[Tensor]| ck(x).remove(0)
    };
    let ins = vec![data(&[2, 3], -1.0, 1.0, 1)];
    gradcheck("checkpoint", &f, &ins);
    gradgradcheck("checkpoint", &f, &ins);
    jvp_check("checkpoint", &f, &ins);
    let before = vmap_fallbacks().into_iter().find(|(k, _)| k == "checkpoint");
    let f2 = f.clone();
    let got = vmap(move |x: &[Tensor]| vec![f2(x)], &[Some(0)], &[Some(0)])(&[data(&[4, 2, 3], -1.0, 1.0, 3)]);
    let want: Vec<Tensor> = (0..4).map(|k| f(&[data(&[4, 2, 3], -1.0, 1.0, 3).select(0, k)])).collect();
    assert_close("vmap of checkpoint", &got[0], &Tensor::stack(&want.iter().collect::<Vec<_>>(), 0));
    assert_eq!(vmap_fallbacks().into_iter().find(|(k, _)| k == "checkpoint"), before, "no loop for checkpoint");
    // vjp through a checkpoint inside vmap: per-example gradients.
    let f3 = f.clone();
    let per = vmap(
        move |x: &[Tensor]| vjp(|a| vec![f3(a)], x, &[Tensor::ones(&[2, 3], DType::F64)]).1,
        &[Some(0)],
        &[Some(0)],
    )(&[data(&[4, 2, 3], -1.0, 1.0, 3)]);
    let want: Vec<Tensor> = (0..4)
        .map(|k| {
            vjp(|a| vec![f(a)], &[data(&[4, 2, 3], -1.0, 1.0, 3).select(0, k)], &[Tensor::ones(&[2, 3], DType::F64)])
                .1
                .remove(0)
        })
        .collect();
    assert_close("vmap of vjp of checkpoint", &per[0], &Tensor::stack(&want.iter().collect::<Vec<_>>(), 0));
}
