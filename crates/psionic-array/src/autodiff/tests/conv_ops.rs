//! Convolution, pooling, padding and im2col: gradchecks in f64, jvp against vjp, and vmap
//! (and the vmap of the vjp) against a loop, like every other op.

use super::check::{case, check_cases, data, gradgradcheck};
use crate::{PadMode, Padding, Pool, Tensor};

#[test]
fn convolutions() {
    let p = |v: &[usize]| Padding::Explicit(v.to_vec());
    let cases = vec![
        case("conv1d", &[&[2, 3, 7], &[4, 3, 3], &[4]], move |x| x[0].conv(&x[1], Some(&x[2]), &[2], p(&[1]), &[1], 1)),
        case("conv2d_dilated", &[&[1, 2, 6, 5], &[3, 2, 2, 3]], move |x| {
            x[0].conv(&x[1], None, &[1, 2], p(&[1, 0]), &[2, 1], 1)
        }),
        case("conv2d_groups", &[&[2, 4, 5, 5], &[6, 2, 3, 3]], move |x| {
            x[0].conv(&x[1], None, &[1], Padding::Same, &[1], 2)
        }),
        case("conv2d_depthwise", &[&[1, 3, 4, 4], &[3, 1, 3, 3]], move |x| {
            x[0].conv(&x[1], None, &[2], p(&[1]), &[1], 3)
        }),
        case("conv1d_depthwise_multiplier", &[&[2, 2, 9], &[4, 1, 3]], move |x| {
            x[0].conv(&x[1], None, &[2], p(&[2]), &[2], 2)
        }),
        case("conv3d_depthwise", &[&[1, 2, 3, 4, 3], &[2, 1, 2, 2, 2]], move |x| {
            x[0].conv(&x[1], None, &[1, 2, 1], p(&[1, 0, 1]), &[1], 2)
        }),
        case("conv3d_unbatched", &[&[2, 3, 4, 3], &[2, 2, 2, 2, 2]], move |x| {
            x[0].conv(&x[1], None, &[1], Padding::Valid, &[1], 1)
        }),
        case("conv_transpose1d", &[&[2, 3, 4], &[3, 2, 3], &[2]], |x| {
            x[0].conv_transpose(&x[1], Some(&x[2]), &[2], &[1], &[1], 1, &[1])
        }),
        case("conv_transpose2d_groups", &[&[1, 4, 3, 3], &[4, 1, 2, 3]], |x| {
            x[0].conv_transpose(&x[1], None, &[2, 1], &[0, 1], &[1, 0], 2, &[1, 2])
        }),
        case("conv_transpose3d", &[&[1, 2, 2, 3, 2], &[2, 2, 2, 2, 2]], |x| {
            x[0].conv_transpose(&x[1], None, &[2], &[0], &[0], 1, &[1])
        }),
    ];
    check_cases(&cases, true, false);
    gradgradcheck(cases[2].0, cases[2].1.as_ref(), &cases[2].2);
    // The direct depthwise kernels, differentiated twice.
    gradgradcheck(cases[3].0, cases[3].1.as_ref(), &cases[3].2);
    gradgradcheck(cases[4].0, cases[4].1.as_ref(), &cases[4].2);
}

/// The direct depthwise kernel against the same convolution as an ordinary one with a
/// block-diagonal weight, forward and both gradients, in f32 with strided inputs.
#[test]
fn depthwise_matches_dense() {
    let (c, m) = (3, 2);
    let x = data(&[2, 5, 7, c], -1.0, 1.0, 4).to_dtype(crate::DType::F32).permute(&[0, 3, 1, 2]);
    let w = data(&[c * m, 1, 3, 2], -1.0, 1.0, 5).to_dtype(crate::DType::F32);
    let mut dense = vec![0.0f32; c * m * c * 6];
    let wv = w.to_vec::<f32>();
    for co in 0..c * m {
        for k in 0..6 {
            dense[(co * c + co / m) * 6 + k] = wv[co * 6 + k];
        }
    }
    let wd = Tensor::from_vec(dense, &[c * m, c, 3, 2]);
    let g = data(&[2, c * m, 3, 5], -1.0, 1.0, 6).to_dtype(crate::DType::F32);
    let run = |w: &Tensor, groups| {
        let (x, w) = (x.detach().requires_grad_(true).clone(), w.detach().requires_grad_(true).clone());
        let y = x.conv(&w, None, &[2, 1], Padding::Explicit(vec![1, 0]), &[1, 2], groups);
        (&y * &g).sum_all().backward();
        (y, x.grad().unwrap(), w.grad().unwrap())
    };
    let (y, gx, gw) = run(&w, c);
    let (yd, gxd, gwd) = run(&wd, 1);
    let tol = |a: &Tensor, b: &Tensor| super::check::assert_close_tol("depthwise", a, b, 1e-5, 1e-5);
    tol(&y, &yd);
    tol(&gx, &gxd);
    // The dense weight's gradient holds the depthwise one on its block diagonal.
    let gdv = gwd.to_vec::<f32>();
    let diag: Vec<f32> =
        (0..c * m).flat_map(|co| (0..6).map(move |k| (co, k))).map(|(co, k)| gdv[(co * c + co / m) * 6 + k]).collect();
    tol(&gw, &Tensor::from_vec(diag, &[c * m, 1, 3, 2]));
}

#[test]
fn pooling_padding_im2col() {
    let cases = vec![
        case("max_pool1d", &[&[2, 3, 8]], |x| x[0].max_pool(&Pool::new(1, &[3], &[2], &[1], &[1], true)).0),
        case("max_pool2d_dilated", &[&[1, 2, 6, 7]], |x| {
            x[0].max_pool(&Pool::new(2, &[2, 3], &[], &[1], &[2, 1], false)).0
        }),
        case("max_pool3d", &[&[1, 1, 4, 4, 3]], |x| x[0].max_pool(&Pool::new(3, &[2], &[1], &[0], &[1], false)).0),
        case("avg_pool1d_ceil", &[&[2, 2, 7]], |x| {
            x[0].avg_pool(&Pool::new(1, &[3], &[2], &[1], &[1], true), false, None)
        }),
        case("avg_pool2d_incl", &[&[1, 2, 5, 6]], |x| {
            x[0].avg_pool(&Pool::new(2, &[3, 2], &[2], &[1], &[1], true), true, None)
        }),
        case("avg_pool3d_divisor", &[&[1, 1, 4, 3, 4]], |x| {
            x[0].avg_pool(&Pool::new(3, &[2], &[], &[0], &[1], false), true, Some(3))
        }),
        case("pad_constant_crop", &[&[2, 3, 4]], |x| x[0].pad(&[1, -1, 2, 0], PadMode::Constant, 0.5)),
        case("pad_reflect", &[&[2, 3, 4]], |x| x[0].pad(&[2, 1, 1, 2], PadMode::Reflect, 0.0)),
        case("pad_replicate", &[&[2, 3, 4]], |x| x[0].pad(&[3, -1], PadMode::Replicate, 0.0)),
        case("pad_circular", &[&[2, 3, 4]], |x| x[0].pad(&[1, 2, 2, 0], PadMode::Circular, 0.0)),
        case("unfold_im2col", &[&[1, 2, 4, 5]], |x| x[0].im2col(&[2, 3], &[1], &[1, 0], &[1, 2])),
        case("fold_col2im", &[&[1, 8, 6]], |x| x[0].col2im(&[3, 4], &[2, 2], &[1], &[0], &[1])),
    ];
    check_cases(&cases, true, false);
}

#[test]
fn resampling_unpooling_lookups() {
    use crate::Resize;
    let cases = vec![
        case("interpolate_nearest", &[&[2, 3, 5]], |x| {
            x[0].interpolate(Some(&[7]), None, Resize::Nearest, None, false)
        }),
        case("interpolate_nearest_exact_scale", &[&[1, 2, 4, 3]], |x| {
            x[0].interpolate(None, Some(&[1.5, 0.7]), Resize::NearestExact, None, false)
        }),
        case("interpolate_linear", &[&[2, 2, 5]], |x| {
            x[0].interpolate(Some(&[8]), None, Resize::Linear, Some(false), false)
        }),
        case("interpolate_bilinear_align", &[&[1, 2, 3, 4]], |x| {
            x[0].interpolate(Some(&[5, 3]), None, Resize::Linear, Some(true), false)
        }),
        case("interpolate_bicubic", &[&[1, 1, 4, 4]], |x| {
            x[0].interpolate(None, Some(&[1.7]), Resize::Bicubic, Some(false), false)
        }),
        case("interpolate_trilinear", &[&[1, 1, 2, 3, 2]], |x| {
            x[0].interpolate(Some(&[3, 4, 3]), None, Resize::Linear, Some(false), false)
        }),
        case("interpolate_area", &[&[1, 2, 5, 7]], |x| {
            x[0].interpolate(Some(&[3, 4]), None, Resize::Area, None, false)
        }),
        case("adaptive_avg_pool3d", &[&[2, 5, 4, 3]], |x| x[0].adaptive_avg_pool(&[2, 3, 2])),
        case("lp_pool2d", &[&[1, 2, 5, 4]], |x| x[0].abs().lp_pool(3.0, &Pool::new(2, &[2], &[1], &[0], &[1], true))),
        case("pixel_shuffle", &[&[2, 8, 2, 3]], |x| x[0].pixel_shuffle(2)),
        case("pixel_unshuffle", &[&[1, 2, 4, 6]], |x| x[0].pixel_unshuffle(2)),
        case("embedding", &[&[5, 3]], |x| x[0].embedding(&Tensor::from_vec(vec![0i64, 2, 2, 4, 1, 0], &[2, 3]), None)),
        case("max_unpool2d", &[&[1, 2, 2, 2]], |x| {
            let idx = Tensor::from_vec(vec![0i64, 3, 9, 14, 1, 6, 8, 15], &[1, 2, 2, 2]);
            x[0].max_unpool(&idx, 2, &Pool::new(2, &[2], &[2], &[0], &[1], false), None)
        }),
    ];
    check_cases(&cases, true, false);
}

#[test]
fn resampling_hand_values() {
    use crate::Resize;
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 4.0], &[1, 1, 3]);
    // Linear, half-pixel centres: out 0 reads src max(0.75*0.5-0.5, 0) = 0.
    let y = x.interpolate(Some(&[4]), None, Resize::Linear, Some(false), false).to_vec::<f64>();
    let want = [1.0, 1.0 + 0.625, 2.0 + 0.375 * 2.0, 4.0];
    for (a, b) in y.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{y:?}");
    }
    let y = x.interpolate(Some(&[5]), None, Resize::Nearest, None, false).to_vec::<f64>();
    assert_eq!(y, vec![1.0, 1.0, 2.0, 2.0, 4.0]);
    assert_eq!(x.adaptive_avg_pool(&[2]).to_vec::<f64>(), vec![1.5, 3.0]);
    // padding_idx's row gets no gradient (by definition, not by calculus).
    let w = Tensor::ones(&[3, 2], crate::DType::F64).requires_grad_(true).clone();
    w.embedding(&Tensor::from_vec(vec![1i64, 2, 1], &[3]), Some(1)).sum_all().backward();
    assert_eq!(w.grad().unwrap().to_vec::<f64>(), vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    let oh = Tensor::from_vec(vec![2i64, 0], &[2]).one_hot(None).to_vec::<i64>();
    assert_eq!(oh, vec![0, 0, 1, 1, 0, 0]);
    let e = crate::fallible(|| Tensor::from_vec(vec![3i64], &[1]).one_hot(Some(2))).unwrap_err().to_string();
    assert!(e.contains("smaller than num_classes"), "{e}");
}
