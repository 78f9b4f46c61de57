//! layer_norm's fused primitive: its derivatives (gradcheck and gradgradcheck in f64,
//! jvp against vjp, vmap with batched and shared scales) and its values, which must be
//! the bits of the composite of reductions and broadcast ops it replaces.

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
