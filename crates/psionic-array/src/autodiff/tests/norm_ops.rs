//! layer_norm's fused primitive: its derivatives (gradcheck and gradgradcheck in f64,
//! jvp against vjp, vmap with batched and shared scales) and its values, which must be
//! the bits of the composite of reductions and broadcast ops it replaces; and its fused
//! input gradient, against the composite one and by hand.

use super::check::{case, check_cases, data};
use crate::Tensor;
use psionic_core::DType;

#[test]
fn layer_norm_differentiates() {
    let cases = vec![
        case("layer_norm", &[&[2, 3, 4], &[4], &[4]], |x| x[0].layer_norm(1, Some(&x[1]), Some(&x[2]), 1e-5)),
        case("layer_norm_2_axes", &[&[2, 3, 4], &[3, 4], &[3, 4]], |x| {
            x[0].layer_norm(2, Some(&x[1]), Some(&x[2]), 1e-3)
        }),
        case("layer_norm_weight_only", &[&[3, 5], &[5]], |x| x[0].layer_norm(1, Some(&x[1]), None, 1e-5)),
        case("layer_norm_plain", &[&[3, 5]], |x| x[0].layer_norm(1, None, None, 1e-5)),
        case("layer_norm_all_axes", &[&[2, 3]], |x| x[0].layer_norm(2, None, None, 1e-5)),
        case("layer_norm_strided", &[&[4, 3], &[4], &[4]], |x| x[0].t().layer_norm(1, Some(&x[1]), Some(&x[2]), 1e-5)),
    ];
    check_cases(&cases, true, true);
}

/// The composite the primitive replaces, op for op.
fn composite(x: &Tensor, axes: usize, w: Option<&Tensor>, b: Option<&Tensor>, eps: f64) -> Tensor {
    let r = x.dim() as i64;
    let dims: Vec<i64> = (r - axes as i64..r).collect();
    let (var, mean) = x.var_mean(dims, 0.0, true);
    let y = x.sub(&mean).mul(var.add(eps).rsqrt());
    let y = w.map_or(y.clone(), |w| y.mul(w));
    b.map_or(y.clone(), |b| y.add(b))
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64).to_vec::<f64>().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn fused_layer_norm_has_the_composites_bits() {
    // Short rows in many chunks, rows past one summation block (pairwise partials), two
    // normalised dims, a strided input, and no affine operands (signed zeros kept).
    let shapes: [(&[usize], usize, bool); 5] = [
        (&[2000, 33], 1, true),
        (&[3, 5000], 1, true),
        (&[4, 6, 10], 2, true),
        (&[7, 9], 1, false),
        (&[5, 4], 1, true),
    ];
    for dt in [DType::F32, DType::F64] {
        for (i, &(shape, axes, affine)) in shapes.iter().enumerate() {
            let x = data(shape, -3.0, 5.0, 10 + i).to_dtype(dt);
            let x = if i == 4 { x.t().contiguous().t() } else { x };
            let trailing = &shape[shape.len() - axes..];
            let w = data(trailing, -2.0, 2.0, 20 + i).to_dtype(dt);
            let b = data(trailing, -1.0, 1.0, 30 + i).to_dtype(dt);
            let (w, b) = if affine { (Some(&w), Some(&b)) } else { (None, None) };
            let want = bits(&composite(&x, axes, w, b, 1e-5));
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| bits(&x.layer_norm(axes, w, b, 1e-5)));
                assert_eq!(got, want, "{dt:?} {shape:?} over {axes} dims, {threads} threads");
            }
        }
    }
    // -0 stays -0 without a bias: (x - mean) is -0 where x is -0 and the mean +0.
    let x = Tensor::from_vec(vec![-0.0f32, 0.0, 0.0, 0.0], &[1, 4]);
    let y = x.layer_norm(1, None, None, 1e-5).to_vec::<f32>();
    assert!(y[0] == 0.0 && y[0].is_sign_negative() && y[1].is_sign_positive());
}

#[test]
fn other_dtypes_and_mixed_operands_take_the_composite() {
    let x = data(&[3, 8], -2.0, 2.0, 1);
    let w = data(&[8], -2.0, 2.0, 2).to_dtype(DType::F32);
    // An f64 input with an f32 weight promotes as the composite's ops do.
    let got = x.layer_norm(1, Some(&w), None, 1e-5);
    assert_eq!(bits(&got), bits(&composite(&x, 1, Some(&w), None, 1e-5)));
    let h = x.to_dtype(DType::BF16);
    let got = h.layer_norm(1, None, None, 1e-5);
    assert_eq!(got.dtype(), DType::BF16);
    assert_eq!(bits(&got), bits(&composite(&h, 1, None, None, 1e-5)));
}

#[test]
fn layer_norm_refuses_mismatched_operands() {
    let x = data(&[3, 8], -2.0, 2.0, 1);
    let w = data(&[4], -2.0, 2.0, 2);
    let err = crate::mode::fallible(|| x.layer_norm(1, Some(&w), None, 1e-5)).unwrap_err().to_string();
    assert!(err.contains("Expected weight to be of same shape as normalized_shape"), "{err}");
    let err = crate::mode::fallible(|| x.layer_norm(3, None, None, 1e-5)).unwrap_err().to_string();
    assert!(err.contains("last 3 dims of a 2-d input"), "{err}");
}

/// Input, weight and the three gradients of `sum(layer_norm(x) * g)`, by a plain
/// backward (the fused input gradient) or one with `create_graph` (the composite).
fn layer_norm_grads(x: &Tensor, w: &Tensor, g: &Tensor, axes: usize, create_graph: bool) -> Vec<Tensor> {
    let (x, w) = (x.detach().requires_grad_(true).clone(), w.detach().requires_grad_(true).clone());
    let b = w.zeros_like().requires_grad_(true).clone();
    let s = x.layer_norm(axes, Some(&w), Some(&b), 1e-5).mul(g).sum_all();
    let opts = crate::autodiff::tensor_api::GradOpts { create_graph, ..Default::default() };
    crate::autodiff::tensor_api::grad(&[&s], &[&x, &w, &b], opts).into_iter().map(|t| t.unwrap().detach()).collect()
}

#[test]
fn fused_gradient_matches_the_composite() {
    // Short rows in many chunks, rows past one summation block, two normalised dims, a
    // strided input and gradient, one row; f64 to its rounding and f32 to its own.
    let shapes: [(&[usize], usize); 5] =
        [(&[700, 33], 1), (&[3, 5000], 1), (&[4, 6, 10], 2), (&[9, 7], 1), (&[1, 16], 1)];
    for dt in [DType::F32, DType::F64] {
        for (i, &(shape, axes)) in shapes.iter().enumerate() {
            let x = data(shape, -3.0, 5.0, 40 + i).to_dtype(dt);
            let g = data(shape, -1.0, 1.0, 50 + i).to_dtype(dt);
            let (x, g) = if i == 3 { (x.t().contiguous().t(), g.t().contiguous().t()) } else { (x, g) };
            let w = data(&shape[shape.len() - axes..], -2.0, 2.0, 60 + i).to_dtype(dt);
            let want = layer_norm_grads(&x, &w, &g, axes, true);
            let (atol, rtol) = if dt == DType::F64 { (1e-12, 1e-10) } else { (2e-5, 2e-4) };
            let runs: Vec<Vec<Tensor>> = [1, 2]
                .map(|threads| {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| layer_norm_grads(&x, &w, &g, axes, false))
                })
                .into();
            for (k, (got, want)) in runs[0].iter().zip(&want).enumerate() {
                let what = format!("{dt:?} {shape:?} over {axes} dims, gradient {k}");
                super::check::assert_close_tol(
                    &what,
                    &got.to_dtype(DType::F64),
                    &want.to_dtype(DType::F64),
                    atol,
                    rtol,
                );
            }
            assert_eq!(bits(&runs[0][0]), bits(&runs[1][0]), "{dt:?} {shape:?}: thread counts differ");
        }
    }
}

#[test]
fn fused_gradient_by_hand() {
    // x = [1, 2, 3], w = 1, g = [1, 0, 0], eps = 0: mean 2, var 2/3, rstd = sqrt(3/2),
    // xhat = rstd [-1, 0, 1]; mean(g) = 1/3, mean(g xhat) = -rstd/3, so
    // dx = rstd (g - 1/3 - xhat (-rstd/3)) = rstd [1/6, -1/3, 1/6].
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[1, 3]);
    let w = Tensor::from_vec(vec![1.0f64; 3], &[3]);
    let g = Tensor::from_vec(vec![1.0f64, 0.0, 0.0], &[1, 3]);
    let got = crate::mode::check(Tensor::make(
        crate::prim::Prim::LayerNormGrad(crate::prim::LayerNormGrad { axes: 1, eps: 0.0 }),
        &[&x, &w, &g],
    ));
    let r = 1.5f64.sqrt();
    let want = Tensor::from_vec(vec![r / 6.0, -r / 3.0, r / 6.0], &[1, 3]);
    super::check::assert_close("by hand", &got, &want);
    // A gradient not of the input's shape is refused.
    let g2 = Tensor::from_vec(vec![1.0f64; 3], &[3]);
    let prim = crate::prim::Prim::LayerNormGrad(crate::prim::LayerNormGrad { axes: 1, eps: 0.0 });
    let err = crate::mode::fallible(|| crate::mode::check(Tensor::make(prim, &[&x, &w, &g2]))).unwrap_err().to_string();
    assert!(err.contains("the gradient [3] the input's"), "{err}");
}

#[test]
fn fused_gradient_batches_and_differentiates_through_its_composite() {
    use crate::autodiff::vmap;
    use crate::prim::Prim;
    let op = |a: &[Tensor]| {
        vec![crate::mode::check(Tensor::make(
            Prim::LayerNormGrad(crate::prim::LayerNormGrad { axes: 1, eps: 1e-5 }),
            &[&a[0], &a[1], &a[2]],
        ))]
    };
    let (x, w, g) = (data(&[3, 2, 5], -2.0, 2.0, 1), data(&[3, 5], -1.0, 1.0, 2), data(&[3, 2, 5], -1.0, 1.0, 3));
    // A shared weight (the kernel itself) and a batched one (the composite).
    for (w_axis, wb) in [(None, w.select(0, 1)), (Some(0), w.clone())] {
        let got = vmap(op, &[Some(0), w_axis, Some(0)], &[Some(0)])(&[x.clone(), wb.clone(), g.clone()]).remove(0);
        for k in 0..3 {
            let wk = if w_axis.is_some() { wb.select(0, k as i64) } else { wb.clone() };
            let want = op(&[x.select(0, k as i64), wk, g.select(0, k as i64)]).remove(0);
            super::check::assert_close(&format!("vmap, weight axis {w_axis:?}"), &got.select(0, k as i64), &want);
        }
    }
    // Its own derivatives (layer_norm's second) are its composite's.
    let f = |a: &[Tensor]| op(a).remove(0);
    let ins = [x.select(0, 0), w.select(0, 0), g.select(0, 0)];
    super::check::gradcheck("layer_norm_backward", &f, &ins);
    super::check::jvp_check("layer_norm_backward", &f, &ins);
}
