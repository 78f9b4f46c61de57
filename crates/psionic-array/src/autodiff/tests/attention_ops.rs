//! The fused attention primitive: its derivatives (gradcheck and gradgradcheck in f64,
//! jvp against vjp, vmap), its values against the composite of a product, a mask and
//! softmax it replaces and against a hand-computed case, and its fused gradient against
//! the composite one.

use super::check::{assert_close, assert_close_tol, case, check_cases, data};
use crate::autodiff::tensor_api::{grad, GradOpts};
use crate::prim::Prim;
use crate::Tensor;
use psionic_core::DType;

#[test]
fn attention_differentiates() {
    let cases = vec![
        case("attention", &[&[2, 3, 4], &[2, 5, 4], &[2, 5, 3]], |x| x[0].attention(&x[1], &x[2], 0.5, false)),
        case("attention_causal", &[&[2, 5, 3], &[2, 5, 3], &[2, 5, 2]], |x| x[0].attention(&x[1], &x[2], 0.7, true)),
        // More queries than keys: causal rows past the last key see every key.
        case("attention_causal_tall", &[&[6, 2], &[4, 2], &[4, 3]], |x| x[0].attention(&x[1], &x[2], 1.0, true)),
        // Past one block of queries (32), and a transposed query.
        case("attention_two_blocks", &[&[1, 35, 2], &[1, 35, 2], &[1, 35, 1]], |x| {
            x[0].attention(&x[1], &x[2], 0.8, true)
        }),
        case("attention_strided", &[&[2, 4, 3], &[2, 3, 4], &[2, 3, 2]], |x| {
            x[0].transpose(-2, -1).attention(&x[1], &x[2], 0.6, false)
        }),
    ];
    check_cases(&cases, true, true);
}

/// The composite the primitive replaces.
fn composite(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, causal: bool) -> Tensor {
    q.attention_weights(k, scale, causal).matmul(v)
}

/// The three input gradients of `sum(attention(q, k, v) * g)`: by a plain backward (the
/// fused gradient), or with `create_graph` (the composite).
fn grads(q: &Tensor, k: &Tensor, v: &Tensor, g: &Tensor, causal: bool, create_graph: bool) -> Vec<Tensor> {
    let xs: Vec<Tensor> = [q, k, v].iter().map(|t| t.detach().requires_grad_(true).clone()).collect();
    let s = xs[0].attention(&xs[1], &xs[2], 0.3, causal).mul(g).sum_all();
    let refs: Vec<&Tensor> = xs.iter().collect();
    let opts = GradOpts { create_graph, ..Default::default() };
    grad(&[&s], &refs, opts).into_iter().map(|t| t.unwrap().detach()).collect()
}

#[test]
fn fused_values_and_gradients_match_the_composite() {
    // Leading dims, blocks with a short last one, tall and wide causal matrices.
    let shapes: [([usize; 2], usize, usize, usize, usize); 4] =
        [([2, 3], 7, 9, 5, 4), ([1, 1], 70, 70, 16, 16), ([2, 1], 40, 25, 8, 3), ([1, 2], 20, 64, 4, 6)];
    for dt in [DType::F32, DType::F64] {
        for (i, &(lead, l, s, e, ev)) in shapes.iter().enumerate() {
            let sh = |a: usize, b: usize| [lead[0], lead[1], a, b];
            let q = data(&sh(l, e), -1.5, 1.5, 10 + i).to_dtype(dt);
            let k = data(&sh(s, e), -1.5, 1.5, 20 + i).to_dtype(dt);
            let v = data(&sh(s, ev), -1.0, 1.0, 30 + i).to_dtype(dt);
            let g = data(&sh(l, ev), -1.0, 1.0, 40 + i).to_dtype(dt);
            let (atol, rtol) = if dt == DType::F64 { (1e-12, 1e-10) } else { (2e-6, 1e-4) };
            for causal in [false, true] {
                let what = format!("{dt:?} {lead:?} [{l}, {s}, {e}, {ev}] causal {causal}");
                let wide = |t: &Tensor| t.to_dtype(DType::F64);
                let got = q.attention(&k, &v, 0.3, causal);
                assert_close_tol(&what, &wide(&got), &wide(&composite(&q, &k, &v, 0.3, causal)), atol, rtol);
                let want = grads(&q, &k, &v, &g, causal, true);
                for (j, (a, b)) in grads(&q, &k, &v, &g, causal, false).iter().zip(&want).enumerate() {
                    assert_close_tol(&format!("{what} gradient {j}"), &wide(a), &wide(b), atol, rtol);
                }
            }
        }
    }
}

#[test]
fn attention_by_hand() {
    // One query over two keys with scores 0 and ln 3: weights 1/4 and 3/4 of the values
    // 4 and 8, so 7. With g = 1: dv = p = [1/4, 3/4]; dp = v = [4, 8], Σ p dp = 7, so
    // ds = p (dp - 7) = [-3/4, 3/4] and dq = ds · k = 3/4 ln 3, dk = ds q = [-3/4, 3/4].
    let l3 = 3f64.ln();
    let q = Tensor::from_vec(vec![1.0f64], &[1, 1]).requires_grad_(true).clone();
    let k = Tensor::from_vec(vec![0.0f64, l3], &[2, 1]).requires_grad_(true).clone();
    let v = Tensor::from_vec(vec![4.0f64, 8.0], &[2, 1]).requires_grad_(true).clone();
    let out = q.attention(&k, &v, 1.0, false);
    assert!((out.item::<f64>() - 7.0).abs() < 1e-14);
    out.sum_all().backward();
    assert_close("dq", &q.grad().unwrap(), &Tensor::from_vec(vec![0.75 * l3], &[1, 1]));
    assert_close("dk", &k.grad().unwrap(), &Tensor::from_vec(vec![-0.75, 0.75], &[2, 1]));
    assert_close("dv", &v.grad().unwrap(), &Tensor::from_vec(vec![0.25, 0.75], &[2, 1]));
    // Causal: the one query sees key 0 only.
    assert_eq!(q.detach().attention(&k, &v, 1.0, true).item::<f64>(), 4.0);
}

#[test]
fn other_dtypes_and_empty_matrices_take_the_composite() {
    let q = data(&[2, 3, 4], -1.0, 1.0, 1);
    let (k, v) = (data(&[2, 5, 4], -1.0, 1.0, 2), data(&[2, 5, 3], -1.0, 1.0, 3));
    for dt in [DType::F16, DType::BF16] {
        let (qh, kh, vh) = (q.to_dtype(dt), k.to_dtype(dt), v.to_dtype(dt));
        let got = qh.attention(&kh, &vh, 0.5, true);
        assert!(!matches!(got.node().prim, Prim::Attention(_)));
        assert_close_tol(&format!("{dt:?}"), &got.to_dtype(DType::F64), &composite(&q, &k, &v, 0.5, true), 2e-2, 2e-2);
    }
    // No keys: every output is an empty sum.
    let none = q.attention(&data(&[2, 0, 4], 0.0, 1.0, 4), &data(&[2, 0, 3], 0.0, 1.0, 5), 0.5, false);
    assert_eq!(none.to_vec::<f64>(), vec![0.0; 18]);
}

#[test]
fn mismatched_operands_are_refused() {
    let run = |q: &[usize], k: &[usize], v: &[usize]| {
        let (q, k, v) = (data(q, 0.0, 1.0, 1), data(k, 0.0, 1.0, 2), data(v, 0.0, 1.0, 3));
        crate::mode::fallible(|| q.attention(&k, &v, 1.0, false)).unwrap_err().to_string()
    };
    for (q, k, v) in [
        (&[2, 3, 4][..], &[2, 5, 3][..], &[2, 5, 2][..]),
        (&[2, 3, 4], &[2, 5, 4], &[2, 6, 2]),
        (&[2, 3, 4], &[1, 5, 4], &[1, 5, 2]),
        (&[3, 4], &[2, 5, 4], &[2, 5, 2]),
        (&[4], &[4], &[4]),
    ] {
        let e = run(q, k, v);
        assert!(e.contains("scaled_dot_product_attention") && e.contains("[..., S, Ev]"), "{e}");
    }
}

#[test]
fn fused_gradient_batches_and_differentiates_through_its_composite() {
    use crate::autodiff::vmap;
    let op = |a: &[Tensor]| {
        let prim = Prim::AttentionGrad(crate::prim::AttentionGrad { scale: 0.4, causal: true });
        vec![crate::mode::check(Tensor::make(prim, &[&a[0], &a[1], &a[2], &a[3]]))]
    };
    let (q, k) = (data(&[3, 2, 5, 4], -1.0, 1.0, 1), data(&[3, 2, 6, 4], -1.0, 1.0, 2));
    let (v, g) = (data(&[3, 2, 6, 3], -1.0, 1.0, 3), data(&[3, 2, 5, 3], -1.0, 1.0, 4));
    // Batched gradient and query, shared key and value.
    let (ks, vs) = (k.select(0, 1), v.select(0, 1));
    let got = vmap(op, &[Some(0), None, None, Some(0)], &[Some(0)])(&[q.clone(), ks.clone(), vs.clone(), g.clone()]);
    for b in 0..3 {
        let want = op(&[q.select(0, b), ks.clone(), vs.clone(), g.select(0, b)]).remove(0);
        assert_close(&format!("vmap example {b}"), &got[0].select(0, b), &want);
    }
    // Its own derivatives (attention's second) are its composite's.
    let f = |a: &[Tensor]| op(a).remove(0);
    let ins = [q.select(0, 0), k.select(0, 0), v.select(0, 0), g.select(0, 0)];
    super::check::gradcheck("attention_backward", &f, &ins);
    super::check::jvp_check("attention_backward", &f, &ins);
}
