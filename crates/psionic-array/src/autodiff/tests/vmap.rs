//! `vmap`: axes, nesting, composition with grad and jvp, integer ops, and refusals.
// Argument lists read as `&[x.clone()]` like the calls they stand for.
#![allow(clippy::cloned_ref_to_slice_refs)]

use super::check::{assert_close, data};
use crate::autodiff::{grad, jvp, value_and_grad, vmap, vmap_fallbacks, vmap_tree, Tree};
use crate::{fallible, lazy, DType, Tensor};

fn stack(ts: &[Tensor], dim: i64) -> Tensor {
    Tensor::stack(&ts.iter().collect::<Vec<_>>(), dim)
}

#[test]
fn in_axes_and_out_axes() {
    let x = data(&[3, 4], -1.0, 1.0, 1);
    let w = data(&[3, 2], -1.0, 1.0, 2);
    // Batch along axis 1 of x, shared w, batch placed last in the output.
    let f = vmap(|a: &[Tensor]| vec![a[0].matmul(&a[1]).tanh()], &[Some(1), None], &[Some(-1)]);
    let got = f(&[x.clone(), w.clone()]).remove(0);
    let want = stack(&(0..4).map(|k| x.select(1, k).matmul(&w).tanh()).collect::<Vec<_>>(), -1);
    assert_close("axes", &got, &want);
    // An output that does not depend on the batch is broadcast along it.
    let f = vmap(|a: &[Tensor]| vec![a[0].sum_all(), a[1].sum_all()], &[Some(0), None], &[Some(0)]);
    let outs = f(&[x.clone(), w.clone()]);
    assert_eq!(outs[1].shape(), vec![3]);
    assert_close("broadcast out", &outs[1], &w.sum_all().expand(&[3]));
    // out_axes None keeps an unbatched output as it is.
    let f = vmap(|a: &[Tensor]| vec![a[0].exp(), a[1].mul(2.0)], &[Some(0), None], &[Some(0), None]);
    assert_eq!(f(&[x, w])[1].shape(), vec![3, 2]);
}

#[test]
fn nested_vmap_is_an_outer_product_of_batches() {
    let a = data(&[3, 4], -1.0, 1.0, 1);
    let b = data(&[5, 4], -1.0, 1.0, 2);
    let dot = |x: &[Tensor]| vec![(&x[0] * &x[1]).sum_all()];
    let inner = move |x: &[Tensor]| vmap(dot, &[None, Some(0)], &[Some(0)])(x);
    let got = vmap(inner, &[Some(0), None], &[Some(0)])(&[a.clone(), b.clone()]).remove(0);
    assert_close("nested", &got, &a.matmul(&b.t()));
    // Both levels batching the same input along different axes.
    let m = data(&[2, 3, 4], -1.0, 1.0, 3);
    let f = |x: &[Tensor]| vec![x[0].softmax(0)];
    let got = vmap(move |x: &[Tensor]| vmap(f, &[Some(1)], &[Some(0)])(x), &[Some(0)], &[Some(0)])(&[m.clone()]);
    // Outer maps axis 0; inner maps axis 1 of the [3, 4] slice, i.e. axis 2 of m.
    let want = m.softmax(1).permute(&[0, 2, 1]);
    assert_close("nested axes", &got[0], &want);
}

#[test]
fn vmap_of_grad_gives_per_example_gradients() {
    // Per-example gradients of a logistic loss with shared weights.
    let x = data(&[6, 3], -1.0, 1.0, 1);
    let y = data(&[6], 0.0, 1.0, 2);
    let w = data(&[3], -0.5, 0.5, 3);
    let loss = |a: &[Tensor]| {
        let p = a[1].matmul(&a[0]).sigmoid();
        (&(&a[2] * &p.log()) + &(&a[2].neg().add(1.0) * &p.neg().add(1.0).log())).neg()
    };
    let per = vmap(move |a: &[Tensor]| vec![grad(loss)(a)], &[None, Some(0), Some(0)], &[Some(0)]);
    let got = per(&[w.clone(), x.clone(), y.clone()]).remove(0);
    let want: Vec<Tensor> = (0..6).map(|k| grad(loss)(&[w.clone(), x.select(0, k), y.select(0, k)])).collect();
    assert_close("per-example grads", &got, &stack(&want, 0));
    // And grad of vmap: the gradient of the summed batched loss is their sum.
    let total = move |a: &[Tensor]| {
        vmap(move |b: &[Tensor]| vec![loss(b)], &[None, Some(0), Some(0)], &[Some(0)])(a)[0].sum_all()
    };
    let (_, g) = value_and_grad(total, &[0])(&[w, x, y]);
    assert_close("grad of vmap", &g[0], &want.iter().fold(Tensor::zeros(&[3], DType::F64), |s, t| &s + t));
}

#[test]
fn jvp_and_vmap_compose_both_ways() {
    let x = data(&[4, 3], -1.0, 1.0, 1);
    let t = data(&[4, 3], -1.0, 1.0, 2);
    let f = |a: &[Tensor]| vec![a[0].sin().cumsum(0).mul(&a[0])];
    // vmap of jvp: per-example directional derivatives.
    let g = move |a: &[Tensor]| jvp(f, &a[..1], &a[1..]).1;
    let got = vmap(g, &[Some(0)], &[Some(0)])(&[x.clone(), t.clone()]).remove(0);
    let want: Vec<Tensor> = (0..4).map(|k| g(&[x.select(0, k), t.select(0, k)]).remove(0)).collect();
    assert_close("vmap of jvp", &got, &stack(&want, 0));
    // jvp of vmap: the same numbers, tangent pushed through the batching rules.
    let h = move |a: &[Tensor]| vmap(f, &[Some(0)], &[Some(0)])(a);
    let (_, jt) = jvp(h, &[x], &[t]);
    assert_close("jvp of vmap", &jt[0], &stack(&want, 0));
}

#[test]
fn integer_and_bool_ops_batch() {
    let x = data(&[3, 5], -2.0, 2.0, 1);
    let f = |a: &[Tensor]| {
        let am = a[0].argmax(Some(0), false);
        let pos = a[0].gt(0.0);
        let (_, idx) = a[0].cummax(0);
        vec![am, pos.clone(), pos.any(), idx, a[0].to_dtype(DType::I64).add(1), a[0].flip(&[0])]
    };
    let got = vmap(f, &[Some(1)], &[Some(0)])(&[x.clone()]);
    for (j, g) in got.iter().enumerate() {
        let want: Vec<Tensor> = (0..5).map(|k| f(&[x.select(1, k)]).remove(j)).collect();
        let want = stack(&want, 0);
        assert_eq!(g.dtype(), want.dtype(), "output {j}");
        assert!(g.equal(&want), "output {j}: {g:?} vs {want:?}");
    }
}

#[test]
fn lazy_mode_and_locally_made_tensors() {
    let x = data(&[3, 4], -1.0, 1.0, 1);
    // A tensor made inside the function may become batched through an in-place write.
    let f = |a: &[Tensor]| {
        let acc = Tensor::zeros(&[4], DType::F64);
        acc.add_(&a[0]);
        acc.mul_(2.0);
        vec![acc]
    };
    let eager = vmap(f, &[Some(0)], &[Some(0)])(&[x.clone()]).remove(0);
    let deferred = lazy(|| vmap(f, &[Some(0)], &[Some(0)])(&[x.clone()]).remove(0));
    assert_close("local in-place", &eager, &x.mul(2.0));
    assert_close("lazy", &deferred, &x.mul(2.0));
}

#[test]
fn refusals_are_clear() {
    let x = data(&[3, 4], -1.0, 1.0, 1);
    let y = data(&[5, 4], -1.0, 1.0, 2);
    let id = |a: &[Tensor]| vec![a[0].clone()];
    let err = |r: Result<Vec<Tensor>, crate::Error>| r.unwrap_err().to_string();
    let e = err(fallible(|| vmap(|a: &[Tensor]| vec![&a[0] + &a[1]], &[Some(0)], &[Some(0)])(&[x.clone(), y.clone()])));
    assert!(e.contains("inconsistent sizes") && e.contains("input 1 has size 5"), "{e}");
    let e = err(fallible(|| vmap(id, &[Some(0)], &[None])(&[x.clone()])));
    assert!(e.contains("out_axes[0] is None"), "{e}");
    let e = err(fallible(|| vmap(id, &[None], &[Some(0)])(&[x.clone()])));
    assert!(e.contains("at least one input must be mapped"), "{e}");
    let e = err(fallible(|| vmap(id, &[Some(0)], &[Some(0)])(&[Tensor::scalar(1.0)])));
    assert!(e.contains("0-d"), "{e}");
    let e = err(fallible(|| vmap(id, &[Some(0), Some(0)], &[Some(0)])(&[x.clone()])));
    assert!(e.contains("in_axes has 2 entries but there are 1 inputs"), "{e}");
    // Reading values inside vmap.
    let e = err(fallible(|| {
        vmap(|a: &[Tensor]| vec![a[0].mul(a[0].sum_all().item::<f64>())], &[Some(0)], &[Some(0)])(&[x.clone()])
    }));
    assert!(e.contains("values of a batched tensor are not available"), "{e}");
    // Writing a batched value into a tensor of the caller's.
    let outside = Tensor::zeros(&[4], DType::F64);
    let o2 = outside.clone();
    let e = err(fallible(move || {
        vmap(
            move |a: &[Tensor]| {
                o2.add_(&a[0]);
                vec![o2.clone()]
            },
            &[Some(0)],
            &[Some(0)],
        )(&[x.clone()])
    }));
    assert!(e.contains("from outside the vmapped function"), "{e}");
    assert_eq!(outside.to_vec::<f64>(), vec![0.0; 4], "the refused write left the tensor alone");
}

#[test]
fn primitives_never_fall_back_to_a_loop() {
    // Custom functions in the tests are named `test_*`; nothing else may use the loop.
    let others = || vmap_fallbacks().into_iter().filter(|(k, _)| !k.starts_with("test_")).collect::<Vec<_>>();
    let x = data(&[3, 4, 5], -1.0, 1.0, 1);
    let f = |a: &[Tensor]| vec![a[0].log_softmax(-1).matmul(&a[0].t()).var(0, 1.0, false).logsumexp(0, false)];
    vmap(f, &[Some(2)], &[Some(0)])(&[x]);
    assert!(others().is_empty(), "loop fallbacks: {:?}", others());
}

#[test]
fn vmap_over_trees() {
    let params =
        Tree::map_of([("w", Tree::Leaf(data(&[3, 2], -1.0, 1.0, 1))), ("b", Tree::Leaf(data(&[3], -1.0, 1.0, 2)))]);
    let f = |t: &Tree| {
        let leaves = t.flatten_with_paths();
        let w = &leaves.iter().find(|(k, _)| k == "w").unwrap().1;
        let b = &leaves.iter().find(|(k, _)| k == "b").unwrap().1;
        Tree::List(vec![Tree::Leaf(&w.sum(0, false) + b), Tree::Leaf(b.exp())])
    };
    let out = vmap_tree(f, Some(0), Some(0))(&params).flatten();
    let w = data(&[3, 2], -1.0, 1.0, 1);
    let b = data(&[3], -1.0, 1.0, 2);
    assert_close("tree 0", &out[0], &(&w.sum(1, false) + &b));
    assert_close("tree 1", &out[1], &b.exp());
}
