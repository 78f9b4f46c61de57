//! The PyTorch face: leaves, accumulation, retain/create graph, in-place rules, hooks,
//! grad modes, anomaly mode and memory.

use crate::autodiff::{autograd, detect_anomaly, no_grad, BackwardOpts, GradOpts};
use crate::{fallible, DType, Tensor};

fn leaf(v: Vec<f64>) -> Tensor {
    let n = v.len();
    Tensor::from_vec(v, &[n]).requires_grad_(true).clone()
}

#[test]
fn backward_accumulates_into_leaves() {
    let x = leaf(vec![1.0, 2.0, 3.0]);
    let y = (&x * &x).sum_all();
    y.backward_with(BackwardOpts { retain_graph: true, ..Default::default() });
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![2.0, 4.0, 6.0]);
    y.backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![4.0, 8.0, 12.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
    // The graph was freed by the second backward.
    let e = fallible(|| y.backward()).unwrap_err().to_string();
    assert!(e.contains("backward through the graph a second time"), "{e}");
}

#[test]
fn in_place_on_non_leaf_is_recorded() {
    let x = leaf(vec![1.0, 2.0]);
    let y = x.mul(3.0);
    y.mul_(3.0);
    y.sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![9.0, 9.0]);
    assert!(!y.is_leaf() && x.is_leaf());
}

#[test]
fn writes_through_views_flow_to_the_base() {
    let x = leaf(vec![1.0, 2.0, 3.0, 4.0]);
    let y = x.mul(1.0);
    let w = leaf(vec![10.0, 20.0]);
    y.narrow(0, 1, 2).mul_(&w);
    y.sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![1.0, 10.0, 20.0, 1.0]);
    assert_eq!(w.grad().unwrap().to_vec::<f64>(), vec![2.0, 3.0]);
}

#[test]
fn in_place_errors_match_pytorch() {
    let x = leaf(vec![1.0, 2.0]);
    let e = fallible(|| {
        x.add_(1.0);
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("a leaf Variable that requires grad is being used in an in-place operation"), "{e}");
    let e = fallible(|| {
        x.narrow(0, 0, 1).add_(1.0);
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("a view of a leaf Variable"), "{e}");
    // Modifying a value saved for backward (sigmoid saves its output).
    let y = x.sigmoid();
    y.mul_(2.0);
    let e = fallible(|| y.sum_all().backward()).unwrap_err().to_string();
    assert!(e.contains("modified by an inplace operation") && e.contains("is at version 1; expected version 0"), "{e}");
    // ...but add saves nothing, so modifying its input afterwards is fine.
    let a = x.mul(2.0);
    let b = &a + 1.0;
    a.add_(5.0);
    b.sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![2.0, 2.0]);
}

#[test]
fn no_grad_updates_keep_the_leaf() {
    let p = leaf(vec![1.0, -1.0]);
    (&p * &p).sum_all().backward();
    no_grad(|| {
        let g = p.grad().unwrap();
        p.sub_(g.mul(0.25));
    });
    assert!(p.requires_grad() && p.is_leaf());
    assert_eq!(p.to_vec::<f64>(), vec![0.5, -0.5]);
    assert_eq!(p.grad().unwrap().to_vec::<f64>(), vec![2.0, -2.0]);
    p.zero_grad();
    (&p * &p).sum_all().backward();
    assert_eq!(p.grad().unwrap().to_vec::<f64>(), vec![1.0, -1.0]);
    // Results computed under no_grad do not require grad.
    assert!(!no_grad(|| p.mul(2.0)).requires_grad());
}

#[test]
fn detach_shares_data_not_graph() {
    let x = leaf(vec![1.0, 2.0]);
    let d = x.detach();
    assert!(!d.requires_grad());
    d.mul_(10.0);
    assert_eq!(x.to_vec::<f64>(), vec![10.0, 20.0]);
    assert!(x.requires_grad() && x.is_leaf());
    let y = x.mul(2.0);
    y.detach_();
    assert!(!y.requires_grad());
    let e = fallible(|| Tensor::from_vec(vec![1i64], &[1]).requires_grad_(true).clone()).unwrap_err().to_string();
    assert!(e.contains("only Tensors of floating point"), "{e}");
}

#[test]
fn retain_grad_hooks_and_autograd_grad() {
    let x = leaf(vec![1.0, 2.0]);
    let h = x.mul(3.0);
    h.retain_grad();
    h.register_hook(|g| Some(g.mul(2.0)));
    (&h * &h).sum_all().backward();
    // dL/dh = 2h = [6, 12]; the hook doubles what flows on: dL/dx = 3 * 2 * [6, 12].
    assert_eq!(h.grad().unwrap().to_vec::<f64>(), vec![12.0, 24.0]);
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![36.0, 72.0]);

    let a = leaf(vec![0.5, 1.5]);
    let y = a.pow(3.0).sum_all();
    let g = autograd::grad(&[&y], &[&a], GradOpts { create_graph: true, ..Default::default() });
    let g = g[0].clone().unwrap();
    assert_eq!(g.to_vec::<f64>(), vec![0.75, 6.75]);
    assert!(a.grad().is_none(), "autograd.grad leaves .grad alone");
    let gg = autograd::grad(&[&g.sum_all()], &[&a], GradOpts::default());
    assert_eq!(gg[0].as_ref().unwrap().to_vec::<f64>(), vec![3.0, 9.0]);
    let unused = leaf(vec![1.0]);
    let e = fallible(|| autograd::grad(&[&a.sum_all()], &[&unused], GradOpts::default())).unwrap_err().to_string();
    assert!(e.contains("allow_unused"), "{e}");
    let r = autograd::grad(&[&a.sum_all()], &[&unused], GradOpts { allow_unused: true, ..Default::default() });
    assert!(r[0].is_none());
}

#[test]
fn backward_with_gradient_and_errors() {
    let x = leaf(vec![1.0, 2.0, 3.0]);
    let y = x.mul(2.0);
    let e = fallible(|| y.backward()).unwrap_err().to_string();
    assert!(e.contains("implicitly created only for scalar outputs"), "{e}");
    y.backward_with(BackwardOpts { gradient: Some(Tensor::from_vec(vec![1.0, 0.5, 0.0], &[3])), ..Default::default() });
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![2.0, 1.0, 0.0]);
    let c = Tensor::ones(&[2], DType::F64);
    let e = fallible(|| c.sum_all().backward()).unwrap_err().to_string();
    assert!(e.contains("does not require grad"), "{e}");
    // Integer results are not differentiable.
    assert!(!x.argmax(None, false).requires_grad() && !x.gt(1.0).requires_grad());
}

#[test]
fn anomaly_mode_names_the_op() {
    let x = leaf(vec![0.0, 1.0]);
    let y = x.sqrt().sum_all();
    let e = detect_anomaly(|| fallible(|| y.backward())).unwrap_err().to_string();
    assert!(e.contains("SqrtBackward0") && e.contains("nan"), "{e}");
}

#[test]
fn graphs_hold_inputs_only_when_recording() {
    let x = Tensor::ones(&[4], DType::F64);
    let y = x.exp();
    assert!(y.node().ad.edges.lock().unwrap().is_none(), "no grad needed: no edges kept");
    let w = leaf(vec![1.0; 4]);
    let z = (&x * &w).exp();
    assert!(z.node().ad.edges.lock().unwrap().is_some());
    z.sum_all().backward();
    assert!(z.node().ad.edges.lock().unwrap().is_none(), "backward frees the graph");
}

#[test]
fn mixed_precision_leaves_get_grads_in_their_dtype() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).requires_grad_(true).clone();
    let y = x.to_dtype(DType::F64).mul(3.0).sum_all();
    y.backward();
    let g = x.grad().unwrap();
    assert_eq!(g.dtype(), DType::F32);
    assert_eq!(g.to_vec::<f32>(), vec![3.0, 3.0]);
    let h = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).to_dtype(DType::F16).requires_grad_(true).clone();
    (&h * &h).sum_all().backward();
    assert_eq!(h.grad().unwrap().to_vec::<f32>(), vec![2.0, 4.0]);
}

/// Backward computes a gradient only for the inputs that take one: here `x` feeds a
/// matmul, a convolution and an elementwise product; asking for the weights' gradients
/// alone must cost none of the products for `x`, and leave the weights' gradients as
/// they are.
#[test]
fn backward_skips_the_gradients_of_inputs_that_take_none() {
    let xv = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let x = Tensor::from_vec(xv.clone(), &[2, 3]).requires_grad_(true).clone();
    let w = Tensor::from_vec(vec![0.5, -1.0, 2.0, 1.5, -0.5, 0.25], &[3, 2]).requires_grad_(true).clone();
    let s = Tensor::from_vec(vec![1.0; 6], &[2, 3]).requires_grad_(true).clone();
    let k = Tensor::from_vec(vec![1.0, -2.0, 0.5, 3.0], &[1, 1, 2, 2]).requires_grad_(true).clone();
    let img = x.reshape(&[1, 1, 2, 3]);
    let conv = img.conv(&k, None, &[1], crate::Padding::Explicit(vec![0]), &[1], 1);
    let loss = &(&x.matmul(&w).sum_all() + &(&x * &s).sum_all()) + &conv.sum_all();
    // Counted on this thread: the global sequence also counts the nodes of tests running
    // beside this one.
    let grads = |targets: &[&Tensor]| {
        let before = crate::node::Node::made_on_this_thread();
        let opts = GradOpts { retain_graph: Some(true), ..Default::default() };
        let g = autograd::grad(&[&loss], targets, opts);
        (g, crate::node::Node::made_on_this_thread() - before)
    };
    let (with_x, n_with_x) = grads(&[&w, &s, &k, &x]);
    let (without_x, n_without_x) = grads(&[&w, &s, &k]);
    // Asking for x adds its bookkeeping (its reshape's gradient, two additions summing its
    // three contributions: 3 nodes) and, only when the skip works, its products (the
    // matmul and its transposed view, the product with s, the input-gradient convolution).
    assert!(n_without_x + 3 + 4 <= n_with_x, "{n_without_x} nodes without x's gradient, {n_with_x} with it");
    for (a, b) in with_x.iter().zip(&without_x) {
        assert_eq!(a.as_ref().unwrap().to_vec::<f64>(), b.as_ref().unwrap().to_vec::<f64>());
    }
    // d/dw of sum(x @ w) is x^T @ ones: each row of w gets its column sum of x.
    assert_eq!(without_x[0].as_ref().unwrap().to_vec::<f64>(), vec![5.0, 5.0, 7.0, 7.0, 9.0, 9.0]);
    assert_eq!(without_x[1].as_ref().unwrap().to_vec::<f64>(), xv);
    // Each kernel tap sums the inputs under it in the two windows: taps (0,0) (0,1) (1,0) (1,1).
    assert_eq!(without_x[2].as_ref().unwrap().to_vec::<f64>(), vec![3.0, 5.0, 9.0, 11.0]);
}
