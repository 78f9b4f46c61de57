//! Adaptive max pooling, embedding options, embedding_bag, grid_sample, affine_grid and
//! antialiased resizing: gradchecks in f64, jvp against vjp, vmap against a loop, and
//! values worked out by hand.

use super::check::{assert_close, check_cases, data, Case};
use crate::{BagMode, Bags, DType, GridMode, GridPadding, Lookup, Resize, Tensor};

fn case(name: &'static str, shapes: &[&[usize]], f: impl Fn(&[Tensor]) -> Tensor + 'static) -> Case {
    let ins = shapes.iter().enumerate().map(|(i, s)| data(s, -1.5, 1.5, i + 7)).collect();
    (name, Box::new(f), ins)
}

fn ids(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape)
}

#[test]
fn sampling_gradients() {
    let bags = |x: &Tensor, mode: BagMode, o: &Lookup| {
        let off = ids(&[0, 2, 2], &[3]);
        let b = Bags { offsets: Some(&off), ..Bags::new(mode) };
        x.embedding_bag(&ids(&[1, 3, 0, 3, 4], &[5]), &b, o)
    };
    let cases = vec![
        case("adaptive_max_pool1d", &[&[2, 3, 7]], |x| x[0].adaptive_max_pool(&[3]).0),
        case("adaptive_max_pool2d", &[&[2, 5, 4]], |x| x[0].adaptive_max_pool(&[3, 3]).0),
        case("adaptive_max_pool3d", &[&[1, 1, 3, 4, 5]], |x| x[0].adaptive_max_pool(&[2, 3, 2]).0),
        case("embedding_bag_sum_weighted", &[&[5, 3], &[5]], move |x| {
            let psw = x[1].reshape(&[1, 5]);
            let b = Bags { per_sample_weights: Some(&psw), ..Bags::new(BagMode::Sum) };
            x[0].embedding_bag(&ids(&[1, 3, 0, 3, 4], &[1, 5]), &b, &Lookup::default())
        }),
        case("embedding_bag_mean_pad", &[&[5, 3]], move |x| {
            bags(&x[0], BagMode::Mean, &Lookup { padding_idx: Some(3), ..Lookup::default() })
        }),
        case("embedding_bag_max", &[&[5, 3]], move |x| bags(&x[0], BagMode::Max, &Lookup::default())),
        case("grid_sample_bilinear_zeros", &[&[2, 2, 3, 4], &[2, 3, 2, 2]], |x| {
            x[0].grid_sample(&x[1], GridMode::Bilinear, GridPadding::Zeros, false)
        }),
        case("grid_sample_bilinear_reflection", &[&[1, 2, 3, 4], &[1, 2, 3, 2]], |x| {
            x[0].grid_sample(&x[1], GridMode::Bilinear, GridPadding::Reflection, true)
        }),
        case("grid_sample_bicubic_border", &[&[1, 1, 4, 3], &[1, 2, 2, 2]], |x| {
            x[0].grid_sample(&x[1], GridMode::Bicubic, GridPadding::Border, false)
        }),
        case("grid_sample_trilinear", &[&[1, 2, 2, 3, 2], &[1, 2, 1, 2, 3]], |x| {
            x[0].grid_sample(&x[1], GridMode::Bilinear, GridPadding::Border, false)
        }),
        case("grid_sample_nearest", &[&[1, 2, 3, 3]], |x| {
            let g = Tensor::from_vec(vec![-0.9, 0.2, 0.4, -0.3, 1.2, 0.8, 0.05, 0.6], &[1, 2, 2, 2]);
            x[0].grid_sample(&g, GridMode::Nearest, GridPadding::Zeros, false)
        }),
        case("affine_grid", &[&[2, 2, 3]], |x| x[0].affine_grid(&[2, 1, 3, 4], false)),
        case("affine_grid_3d", &[&[1, 3, 4]], |x| x[0].affine_grid(&[1, 1, 2, 3, 2], true)),
        case("interpolate_bilinear_antialias", &[&[1, 2, 6, 5]], |x| {
            x[0].interpolate(Some(&[3, 2]), None, Resize::LinearAntialias, Some(false), false)
        }),
        case("interpolate_bicubic_antialias", &[&[1, 1, 7, 4]], |x| {
            x[0].interpolate(Some(&[3, 5]), None, Resize::BicubicAntialias, Some(true), false)
        }),
    ];
    check_cases(&cases, true, false);
}

#[test]
fn adaptive_max_pool_values() {
    // Windows of 5 -> 3: [0, 2), [1, 4), [3, 5); ties keep the first.
    let x = Tensor::from_vec(vec![1.0f64, 5.0, 2.0, 5.0, 0.0, 3.0, 1.0, 4.0, 1.0, 9.0], &[2, 5]);
    let (v, i) = x.adaptive_max_pool(&[3]);
    assert_eq!(v.to_vec::<f64>(), vec![5.0, 5.0, 5.0, 3.0, 4.0, 9.0]);
    // The first maximum of each window.
    assert_eq!(i.to_vec::<i64>(), vec![1, 1, 3, 0, 2, 4]);
    // 2-D: flat positions within the plane.
    let x = Tensor::arange(0.0, 12.0, 1.0).reshape(&[1, 3, 4]);
    let (v, i) = x.adaptive_max_pool(&[2, 2]);
    assert_eq!(v.to_vec::<f32>(), vec![5.0, 7.0, 9.0, 11.0]);
    assert_eq!(i.to_vec::<i64>(), vec![5, 7, 9, 11]);
    let e = crate::fallible(|| Tensor::zeros(&[2, 0, 3], DType::F32).adaptive_max_pool(&[2])).unwrap_err().to_string();
    assert!(e.contains("non-zero sizes"), "{e}");
}

#[test]
fn embedding_options() {
    // max_norm renormalizes the looked-up rows of the weight itself.
    let w = Tensor::from_vec(vec![3.0f64, 4.0, 0.3, 0.4, 6.0, 8.0], &[3, 2]);
    let o = Lookup { max_norm: Some(1.0), ..Lookup::default() };
    let y = w.embedding_with(&ids(&[0, 1], &[2]), &o);
    let s = 1.0 / (5.0 + 1e-7);
    assert_close("renormed rows", &y, &Tensor::from_vec(vec![3.0 * s, 4.0 * s, 0.3, 0.4], &[2, 2]));
    assert_eq!(w.to_vec::<f64>()[4..], [6.0, 8.0], "rows not looked up stay");
    assert!((w.to_vec::<f64>()[0] - 3.0 * s).abs() < 1e-15);
    // scale_grad_by_freq: an index seen k times gets gradient 1/k per lookup.
    let w = Tensor::ones(&[3, 1], DType::F64).requires_grad_(true).clone();
    let o = Lookup { scale_grad_by_freq: true, ..Lookup::default() };
    w.embedding_with(&ids(&[2, 0, 2, 2], &[4]), &o).sum_all().backward();
    let g = w.grad().unwrap().to_vec::<f64>();
    assert!((g[0] - 1.0).abs() < 1e-15 && g[1] == 0.0 && (g[2] - 1.0).abs() < 1e-15, "{g:?}");
}

#[test]
fn embedding_bag_values() {
    let w = Tensor::from_vec((0..10).map(|v| v as f64).collect::<Vec<_>>(), &[5, 2]);
    let idx = ids(&[1, 2, 4, 4, 0, 3], &[6]);
    let off = ids(&[0, 2, 2, 5], &[4]);
    let run = |mode, pad: Option<i64>, last: bool| {
        let b = Bags { offsets: Some(&off), include_last_offset: last, ..Bags::new(mode) };
        w.embedding_bag(&idx, &b, &Lookup { padding_idx: pad, ..Lookup::default() }).to_vec::<f64>()
    };
    // Bags: [1, 2], [], [4, 4, 0], [3].
    assert_eq!(run(BagMode::Sum, None, false), vec![6.0, 8.0, 0.0, 0.0, 16.0, 19.0, 6.0, 7.0]);
    assert_eq!(run(BagMode::Max, None, false), vec![4.0, 5.0, 0.0, 0.0, 8.0, 9.0, 6.0, 7.0]);
    // Padding entries are left out of the sum and the count.
    assert_eq!(run(BagMode::Mean, Some(4), false), vec![3.0, 4.0, 0.0, 0.0, 0.0, 1.0, 6.0, 7.0]);
    // The last offset ends the last bag: [1, 2], [], [4, 4, 0]; index 3 is dropped.
    assert_eq!(run(BagMode::Sum, None, true), vec![6.0, 8.0, 0.0, 0.0, 16.0, 19.0]);
    let bad = ids(&[1, 0], &[2]);
    let e = crate::fallible(|| {
        w.embedding_bag(&idx, &Bags { offsets: Some(&bad), ..Bags::new(BagMode::Sum) }, &Lookup::default())
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("offsets[0] has to be 0"), "{e}");
    let psw = Tensor::ones(&[6], DType::F64);
    let e = crate::fallible(|| {
        let b = Bags { offsets: Some(&off), per_sample_weights: Some(&psw), ..Bags::new(BagMode::Mean) };
        w.embedding_bag(&idx, &b, &Lookup::default())
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("only supported for mode='sum'"), "{e}");
}

#[test]
fn grid_sample_values() {
    // The identity warp with align_corners=True reads every pixel back exactly.
    let x = data(&[2, 3, 4, 5], -1.0, 1.0, 3);
    let theta = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 0.0, 1.0, 0.0], &[1, 2, 3]).expand(&[2, 2, 3]);
    let g = theta.affine_grid(&[2, 3, 4, 5], true);
    for mode in [GridMode::Bilinear, GridMode::Nearest, GridMode::Bicubic] {
        let y = x.grid_sample(&g, mode, GridPadding::Zeros, true);
        assert_close("identity warp", &y, &x);
    }
    // affine_grid with align_corners=False: pixel centres at (2i + 1)/n - 1.
    let id = Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 0.0, 1.0, 0.0], &[1, 2, 3]);
    let g = id.affine_grid(&[1, 1, 2, 3], false).to_vec::<f64>();
    let want = [-2.0 / 3.0, -0.5, 0.0, -0.5, 2.0 / 3.0, -0.5, -2.0 / 3.0, 0.5, 0.0, 0.5, 2.0 / 3.0, 0.5];
    for (a, b) in g.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{g:?}");
    }
    // A 1x2 image read along its row (y = 0 is the pixel row): x = -0.5 is a quarter of
    // the way from pixel 0 to pixel 1.
    let x = Tensor::from_vec(vec![10.0f64, 20.0], &[1, 1, 1, 2]);
    let at = |gx: f64, gy: f64, p| {
        let g = Tensor::from_vec(vec![gx, gy], &[1, 1, 1, 2]);
        x.grid_sample(&g, GridMode::Bilinear, p, true).item::<f64>()
    };
    assert!((at(-0.5, 0.0, GridPadding::Zeros) - 12.5).abs() < 1e-12);
    // x = 1.5 is pixel coordinate 1.25: zeros keeps 3/4 of pixel 1, border clamps to
    // it, reflection mirrors to 0.75.
    assert!((at(1.5, 0.0, GridPadding::Zeros) - 15.0).abs() < 1e-12);
    assert!((at(1.5, 0.0, GridPadding::Border) - 20.0).abs() < 1e-12);
    assert!((at(1.5, 0.0, GridPadding::Reflection) - 17.5).abs() < 1e-12);
    assert!((at(2.5, 0.0, GridPadding::Reflection) - 12.5).abs() < 1e-12);
    let e = crate::fallible(|| {
        Tensor::zeros(&[1, 1, 2, 2, 2], DType::F32).grid_sample(
            &Tensor::zeros(&[1, 1, 1, 1, 3], DType::F32),
            GridMode::Bicubic,
            GridPadding::Zeros,
            false,
        )
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("bicubic interpolation only supports 4D input"), "{e}");
}

#[test]
fn antialias_values() {
    // 4 -> 2 with the triangle filter stretched to radius 2: weights (3, 3, 1)/7 and
    // (1, 3, 3)/7 (PIL's and PyTorch's normalization at the edges).
    let x = Tensor::from_vec(vec![0.0f64, 1.0, 2.0, 3.0], &[1, 1, 1, 4]);
    let y = x.interpolate(Some(&[1, 2]), None, Resize::LinearAntialias, None, false).to_vec::<f64>();
    assert!((y[0] - 5.0 / 7.0).abs() < 1e-12 && (y[1] - 16.0 / 7.0).abs() < 1e-12, "{y:?}");
    let e = crate::fallible(|| {
        Tensor::zeros(&[1, 1, 4], DType::F32).interpolate(Some(&[2]), None, Resize::LinearAntialias, None, false)
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("requires a 4-D tensor"), "{e}");
}
