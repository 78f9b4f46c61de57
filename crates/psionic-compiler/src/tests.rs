//! Compiled functions agree with the uncompiled ones, trace once per signature, compose
//! with the transforms, and refuse what they cannot do faithfully.
// Argument lists read as `&[x.clone()]` like the calls they stand for.
#![allow(clippy::cloned_ref_to_slice_refs)]

use crate::{compile, Slot};
use psionic_array::autodiff::{grad, jvp, vmap};
use psionic_array::{fallible, DType, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0 - 1.0).collect();
    Tensor::from_vec(v, shape)
}

fn mlp(x: &[Tensor]) -> Vec<Tensor> {
    let h = x[0].matmul(&x[1]).tanh();
    vec![(&h * &h).sum_all(), h]
}

#[test]
fn replays_match_the_function_and_trace_once_per_signature() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let f = compile(move |x: &[Tensor]| {
        seen.fetch_add(1, Ordering::SeqCst);
        mlp(x)
    });
    for seed in 0..3 {
        let args = [data(&[4, 3], seed), data(&[3, 5], seed + 10)];
        let (got, want) = (f.call(&args), mlp(&args));
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.to_vec::<f64>(), w.to_vec::<f64>());
        }
    }
    assert_eq!((f.traces(), calls.load(Ordering::SeqCst)), (1, 1));
    f.call(&[data(&[2, 3], 0), data(&[3, 5], 1)]);
    f.call(&[data(&[4, 3], 0).to_dtype(DType::F32), data(&[3, 5], 1).to_dtype(DType::F32)]);
    assert_eq!(f.traces(), 3, "a new shape or dtype is a new trace");
}

#[test]
fn simplify_merges_repeats_and_folds_constants() {
    let f = compile(|x: &[Tensor]| {
        let c = Tensor::from_vec(vec![1.0f64, 2.0], &[2]).exp().mul(3.0);
        vec![&(&x[0].sin() + &x[0].sin()) * &c]
    })
    .fused(false);
    let x = data(&[2], 0);
    let g = f.graph(&[x.clone()]).unwrap();
    // sin once, add, mul: the constant's exp and scaling are done at trace time.
    assert_eq!(g.ops.len(), 3, "{g:?}");
    assert!(matches!(g.ops[2].inputs[1], Slot::Const(_)));
    let want = (&x.sin().mul(2.0) * &Tensor::from_vec(vec![1.0f64, 2.0], &[2]).exp().mul(3.0)).to_vec::<f64>();
    let got = f.call(&[x])[0].to_vec::<f64>();
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-15);
    }
}

#[test]
fn composes_with_grad_vmap_and_jvp() {
    let f = compile(|x: &[Tensor]| vec![(&x[0].exp() * &x[1]).sum_all()]);
    let (a, b) = (data(&[3], 1), data(&[3], 2));
    let fc = f.clone();
    let g = grad(move |x: &[Tensor]| fc.call(x).remove(0))(&[a.clone(), b.clone()]);
    assert_eq!(g.to_vec::<f64>(), (&a.exp() * &b).to_vec::<f64>());
    // compile of grad.
    let cg = compile(|x: &[Tensor]| vec![grad(|y: &[Tensor]| y[0].exp().sum_all())(x)]);
    assert_eq!(cg.call(&[a.clone()])[0].to_vec::<f64>(), a.exp().to_vec::<f64>());
    // vmap of a compiled function: the replay is batched by the ops' own rules.
    let fv = f.clone();
    let xs = data(&[4, 3], 3);
    let out = vmap(move |x: &[Tensor]| fv.call(&[x[0].clone(), b.clone()]), &[Some(0)], &[Some(0)])(&[xs.clone()]);
    let want = (&xs.exp() * &data(&[3], 2)).sum(1, false);
    assert_eq!(out[0].to_vec::<f64>(), want.to_vec::<f64>());
    let fj = f.clone();
    let t = data(&[3], 5);
    let (_, tan) = jvp(move |x: &[Tensor]| fj.call(&[x[0].clone(), data(&[3], 2)]), &[a.clone()], &[t.clone()]);
    let want = (&(&a.exp() * &data(&[3], 2)) * &t).sum_all();
    assert!((tan[0].item::<f64>() - want.item::<f64>()).abs() < 1e-14);
}

#[test]
fn gradients_reach_weights_read_from_the_closure() {
    let w = data(&[3], 7).requires_grad_(true).clone();
    let wc = w.clone();
    let f = compile(move |x: &[Tensor]| vec![(&x[0] * &wc).square().sum_all()]);
    let x = data(&[3], 8);
    f.call(&[x.clone()])[0].backward();
    assert_eq!(w.grad().unwrap().to_vec::<f64>(), (&(&x * &w.detach()).mul(2.0) * &x).to_vec::<f64>());
}

#[test]
fn shapeless_reuses_one_trace_only_when_the_graph_allows_it() {
    let f = compile(|x: &[Tensor]| vec![x[0].exp().add(1.0).sum(0, false)]).shapeless(true);
    for n in [3, 5, 8] {
        let x = data(&[n, 2], n as u64);
        assert_eq!(f.call(&[x.clone()])[0].to_vec::<f64>(), x.exp().add(1.0).sum(0, false).to_vec::<f64>());
    }
    // Each shape is traced (its host code may read sizes); one program serves them.
    assert_eq!((f.traces(), f.programs()), (3, 1));
    // A reshape carries the traced shape: traced again at each new shape rather than
    // replayed wrongly, and the program is reused with the new sizes.
    let r = compile(|x: &[Tensor]| vec![x[0].reshape(&[-1]).mul(2.0)]).shapeless(true);
    for n in [2, 3, 3] {
        let x = data(&[n, 2], 1);
        assert_eq!(r.call(&[x.clone()])[0].shape(), [2 * n]);
    }
    assert_eq!((r.traces(), r.programs()), (2, 1));
}

#[test]
fn refuses_in_place_writes_to_arguments_and_value_reads() {
    let f = compile(|x: &[Tensor]| {
        x[0].add_(1.0);
        vec![x[0].clone()]
    });
    let e = fallible(|| f.call(&[data(&[2], 0)])).unwrap_err().to_string();
    assert!(e.contains("must not modify its arguments"), "{e}");
    let g = compile(|x: &[Tensor]| vec![x[0].mul(x[0].sum_all().item::<f64>())]);
    let e = fallible(|| g.call(&[data(&[2], 0)])).unwrap_err().to_string();
    assert!(e.contains("outside vmap or compile"), "{e}");
}

/// Uses every indexing, sorting and convolution primitive (Gather, Scatter, Order,
/// SearchSorted, the Windows view and Fold).
fn index_and_conv(x: &Tensor, idx: &Tensor, w: &Tensor) -> Tensor {
    let g = x.gather(1, idx).scatter_add(1, &idx.narrow(0, 0, 1), &x.narrow(0, 0, 1));
    let s = x.sort(1, true).0;
    let pos = x.narrow(0, 0, 1).sort(1, false).0.searchsorted(&x.narrow(0, 1, 1), false, None, false);
    let c = x.reshape(&[1, 1, 2, 3]).conv_transpose(w, None, &[1], &[0], &[0], 1, &[1]).sum_all();
    &(&(&g + &s) + &pos.to_dtype(DType::F64)) * &c
}

#[test]
fn index_sort_and_conv_primitives_replay_and_merge() {
    let idx = Tensor::from_vec(vec![2i64, 0, 1, 1, 0, 2], &[2, 3]);
    let w = Tensor::from_vec(vec![0.5f64, -1.0, 0.25, 2.0], &[1, 1, 2, 2]);
    // Index and weight are arguments, so every step depends on the inputs (views of
    // captured constants become separate constants per use, which CSE cannot tell apart).
    let once = compile(|a: &[Tensor]| vec![index_and_conv(&a[0], &a[1], &a[2])]);
    let twice = compile(|a: &[Tensor]| vec![index_and_conv(&a[0], &a[1], &a[2]), index_and_conv(&a[0], &a[1], &a[2])]);
    let x = data(&[2, 3], 4);
    let args = [x.clone(), idx.clone(), w.clone()];
    let (g1, g2) = (once.graph(&args).unwrap(), twice.graph(&args).unwrap());
    // CSE finds every step of the second copy equal to the first.
    assert_eq!(g1.ops.len(), g2.ops.len(), "{g2:?}");
    assert_eq!(g2.outputs[0], g2.outputs[1]);
    let (got, want) = (twice.call(&args), index_and_conv(&x, &idx, &w));
    for g in &got {
        assert_eq!(g.to_vec::<f64>(), want.to_vec::<f64>());
    }
}

/// Uses the linalg primitives (Cholesky, LU, triangular solve, QR, eigh and SVD, with
/// and without vectors). Built from the arguments alone: helpers that make constants
/// inside the function (identity matrices, masks) would give each copy its own.
fn factorizations(x: &Tensor, shift: &Tensor) -> Tensor {
    use psionic_array::linalg;
    let spd = &x.matmul(&x.mT()) + shift;
    let (lu, _, _) = linalg::lu_factor_ex(x);
    let (q, r) = linalg::qr(x, linalg::QrMode::Reduced);
    let (w, v) = linalg::eigh(&spd, false);
    let (su, s, vh) = linalg::svd(x, false);
    let parts = [
        linalg::cholesky_ex(&spd, false).0,
        lu,
        linalg::solve_triangular(&r, &q, true, false, false),
        v.abs() * &w.unsqueeze(0),
        su.abs().matmul(&vh.abs()) * &s.unsqueeze(0),
        linalg::eigvalsh(&spd, true).unsqueeze(0) + linalg::svdvals(x).unsqueeze(1),
    ];
    parts[1..].iter().fold(parts[0].clone(), |acc, t| &acc + t)
}

#[test]
fn linalg_primitives_replay_and_merge() {
    let once = compile(|a: &[Tensor]| vec![factorizations(&a[0], &a[1])]);
    let twice = compile(|a: &[Tensor]| vec![factorizations(&a[0], &a[1]), factorizations(&a[0], &a[1])]);
    let x = data(&[3, 3], 5);
    let args = [x.clone(), Tensor::eye(3, None, DType::F64)];
    let (g1, g2) = (once.graph(&args).unwrap(), twice.graph(&args).unwrap());
    assert_eq!(g1.ops.len(), g2.ops.len(), "{g2:?}");
    assert_eq!(g2.outputs[0], g2.outputs[1]);
    let (got, want) = (twice.call(&args), factorizations(&x, &args[1]));
    for g in &got {
        assert_eq!(g.to_vec::<f64>(), want.to_vec::<f64>());
    }
}

/// The fused layer_norm (`LayerNorm`), scale and shift given as arguments: a repeat with
/// the same `eps` merges, one with another `eps` is a step of its own.
#[test]
fn layer_norm_primitive_replays_and_merges() {
    let ln = |a: &[Tensor], eps: f64| a[0].layer_norm(1, Some(&a[1]), Some(&a[2]), eps);
    let once = compile(move |a: &[Tensor]| vec![ln(a, 1e-5)]);
    let twice = compile(move |a: &[Tensor]| vec![ln(a, 1e-5), ln(a, 1e-5)]);
    let other = compile(move |a: &[Tensor]| vec![ln(a, 1e-5), ln(a, 1e-3)]);
    let args = [data(&[4, 3], 6), data(&[3], 7), data(&[3], 8)];
    let (g1, g2, g3) = (once.graph(&args).unwrap(), twice.graph(&args).unwrap(), other.graph(&args).unwrap());
    assert_eq!(g1.ops.len(), g2.ops.len(), "{g2:?}");
    assert_eq!(g2.outputs[0], g2.outputs[1]);
    assert_eq!(g3.ops.len(), g1.ops.len() + 1, "{g3:?}");
    let got = other.call(&args);
    assert_eq!(got[0].to_vec::<f64>(), ln(&args, 1e-5).to_vec::<f64>());
    assert_eq!(got[1].to_vec::<f64>(), ln(&args, 1e-3).to_vec::<f64>());
}

/// softmax's fused backward (`SoftmaxGrad`) inside a compiled gradient: the same
/// backward twice is one step; log_softmax's, on the same operands, is a step of its own.
#[test]
fn softmax_backward_primitive_replays_and_merges() {
    // The cotangent is an argument: a constant made inside would differ per copy.
    fn back(a: &[Tensor], log: bool) -> Tensor {
        let f = move |x: &[Tensor]| vec![if log { x[0].log_softmax(-1) } else { x[0].softmax(-1) }];
        psionic_array::autodiff::vjp(f, &a[..1], &a[1..]).1.remove(0)
    }
    let twice = compile(|a: &[Tensor]| vec![back(a, false), back(a, false)]);
    let other = compile(|a: &[Tensor]| vec![back(a, false), back(a, true)]);
    let args = [data(&[4, 3], 6), data(&[4, 3], 7)];
    let (g1, g2) = (twice.graph(&args).unwrap(), other.graph(&args).unwrap());
    let fused =
        |g: &crate::Graph| g.ops.iter().filter(|s| matches!(s.prim, psionic_array::prim::Prim::SoftmaxGrad(_))).count();
    assert_eq!((fused(&g1), fused(&g2)), (1, 2), "{g1:?} {g2:?}");
    assert_eq!(g1.outputs[0], g1.outputs[1]);
    let got = other.call(&args);
    assert_eq!(got[0].to_vec::<f64>(), back(&args, false).to_vec::<f64>());
    assert_eq!(got[1].to_vec::<f64>(), back(&args, true).to_vec::<f64>());
}

/// Training batch norm inside a compiled gradient: the statistics, the normalisation and
/// the backward's two fused passes replay as steps of their own, with eager's bits.
#[test]
fn batch_norm_primitives_replay_in_a_compiled_gradient() {
    use psionic_array::prim::Prim;
    fn back(a: &[Tensor]) -> Vec<Tensor> {
        let f = |x: &[Tensor]| vec![x[0].batch_norm_train(Some(&x[1]), Some(&x[2]), 1e-5).0];
        psionic_array::autodiff::vjp(f, &a[..3], &a[3..]).1
    }
    let compiled = compile(back);
    let args = [data(&[4, 3, 5], 6), data(&[3], 7), data(&[3], 8), data(&[4, 3, 5], 9)];
    let g = compiled.graph(&args).unwrap();
    let count = |want: fn(&Prim) -> bool| g.ops.iter().filter(|s| want(&s.prim)).count();
    assert_eq!(count(|p| matches!(p, Prim::ChannelMoments(_))), 1, "{g:?}");
    assert_eq!(count(|p| matches!(p, Prim::ChannelSums(_))), 1, "{g:?}");
    assert_eq!(count(|p| matches!(p, Prim::ChannelCombine(_))), 1, "{g:?}");
    for (got, want) in compiled.call(&args).iter().zip(back(&args)) {
        assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
    }
}

#[test]
fn random_draws_are_fresh_on_every_call() {
    use psionic_array::random;
    let f = compile(|x: &[Tensor]| vec![&x[0] + &random::rand(&[64], DType::F32, None)]);
    let x = Tensor::zeros(&[64], DType::F32);
    let (a, b) = (f.call(std::slice::from_ref(&x)), f.call(std::slice::from_ref(&x)));
    assert_ne!(a[0].to_vec::<f32>(), b[0].to_vec::<f32>());
    assert_eq!(f.traces(), 2);
    // The same stream as uncompiled draws from a seeded generator.
    let g = random::Generator::with_seed(5);
    let gc = g.clone();
    let f = compile(move |x: &[Tensor]| vec![&x[0] + &random::rand(&[64], DType::F32, Some(&gc))]);
    let got: Vec<Vec<f32>> = (0..3).map(|_| f.call(std::slice::from_ref(&x))[0].to_vec::<f32>()).collect();
    let h = random::Generator::with_seed(5);
    let want: Vec<Vec<f32>> = (0..3).map(|_| random::rand(&[64], DType::F32, Some(&h)).to_vec::<f32>()).collect();
    assert_eq!(got, want);
    // A function that draws nothing still traces once.
    let f = compile(|x: &[Tensor]| vec![x[0].exp()]);
    f.call(std::slice::from_ref(&x));
    f.call(std::slice::from_ref(&x));
    assert_eq!(f.traces(), 1);
}
