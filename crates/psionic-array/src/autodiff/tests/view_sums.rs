//! Gradients of selects and slices that meet at one tensor: summed as one `stack` or
//! `cat` when they tile it along a dim, otherwise scattered and added as before. Both
//! give the values of the scatter-and-add sum, which anomaly mode (it runs every view's
//! own rule) computes for comparison.

use super::check::{case, check_cases, data};
use crate::autodiff::{autograd, detect_anomaly, GradOpts};
use crate::prim::Prim;
use crate::Tensor;

/// The gradient of `f` at `x`, and the same through every view's own rule.
fn grads(x: &Tensor, f: &dyn Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
    let run = || {
        let x = x.deep_clone().requires_grad_(true).clone();
        let y = f(&x);
        autograd::grad(&[&y], &[&x], GradOpts::default())[0].clone().unwrap()
    };
    (run(), detect_anomaly(run))
}

/// A named function of one tensor.
type Named = (&'static str, Box<dyn Fn(&Tensor) -> Tensor>);

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_vec::<f64>().iter().map(|v| v.to_bits()).collect()
}

/// The weighted sum of `f` of each part, part `i` weighted with seed `seed + i`.
fn weighted_parts(parts: Vec<Tensor>, f: impl Fn(&Tensor) -> Tensor, seed: usize) -> Tensor {
    parts.iter().enumerate().map(|(i, p)| weighted(&f(p), seed + i)).fold(Tensor::scalar(0.0), |a, b| a + b)
}

/// Weights every element differently, so a piece summed at the wrong place shows.
fn weighted(t: &Tensor, seed: usize) -> Tensor {
    (t * &data(&t.shape(), 0.5, 2.0, seed)).sum_all()
}

#[test]
fn pieces_that_tile_a_dim_sum_to_the_scattered_values() {
    let x = data(&[3, 4, 5], -2.0, 2.0, 7);
    let tilings: Vec<Named> = vec![
        // Attention's split of a fused projection, taken out of order.
        (
            "select",
            Box::new(|x| weighted(&x.select(0, 2), 1) + weighted(&x.select(0, 0), 2) + weighted(&x.select(0, 1), 3)),
        ),
        ("unbind_last_dim", Box::new(|x| weighted_parts(x.unbind(-1), |p| p.exp(), 0))),
        ("chunk", Box::new(|x| weighted_parts(x.chunk(3, 1), |p| p.sin(), 0))),
        ("split_uneven", Box::new(|x| weighted_parts(x.split_with_sizes(&[2, 0, 3], 2), |p| p.clone(), 4))),
        // Negative indices and bounds name the same positions.
        (
            "negative_bounds",
            Box::new(|x| weighted(&x.slice(1, Some(-4), Some(-1), 1), 1) + weighted(&x.slice(1, Some(-1), None, 1), 2)),
        ),
    ];
    for (name, f) in &tilings {
        let (got, want) = grads(&x, f.as_ref());
        assert_eq!(bits(&got), bits(&want), "{name}");
        assert!(matches!(got.node().prim, Prim::Cat(_)), "{name}: summed as {:?}", got.node().prim);
    }
}

#[test]
fn pieces_that_do_not_tile_are_scattered_and_added() {
    let x = data(&[4, 3], -2.0, 2.0, 3);
    let others: Vec<Named> = vec![
        ("partial", Box::new(|x| weighted(&x.select(0, 0), 1) + weighted(&x.select(0, 3), 2))),
        (
            "repeated",
            Box::new(|x| {
                weighted(&x.select(0, 1), 1)
                    + weighted(&x.select(0, 1), 2)
                    + weighted(&x.select(0, 0), 3)
                    + weighted(&x.select(0, 2), 4)
                    + weighted(&x.select(0, 3), 5)
            }),
        ),
        (
            "overlapping",
            Box::new(|x| weighted(&x.slice(0, Some(0), Some(3), 1), 1) + weighted(&x.slice(0, Some(2), None, 1), 2)),
        ),
        (
            "two_dims",
            Box::new(|x| {
                weighted(&x.select(0, 0), 1) + weighted(&x.slice(0, Some(1), None, 1), 2) + weighted(&x.select(1, 2), 3)
            }),
        ),
        (
            "strided",
            Box::new(|x| weighted(&x.slice(0, Some(0), None, 2), 1) + weighted(&x.slice(0, Some(1), None, 2), 2)),
        ),
        ("mixed_kinds", Box::new(|x| weighted(&x.select(0, 0), 1) + weighted(&x.slice(0, Some(1), None, 1), 2))),
        // A dense use before and after the pieces.
        (
            "dense_first",
            Box::new(|x| {
                weighted(&x.sin(), 1) + weighted(&x.select(0, 0), 2) + weighted(&x.slice(0, Some(1), None, 1), 3)
            }),
        ),
        (
            "dense_last",
            Box::new(|x| {
                weighted(&x.select(0, 0), 2) + weighted(&x.slice(0, Some(1), None, 1), 3) + weighted(&x.sin(), 1)
            }),
        ),
    ];
    for (name, f) in &others {
        let (got, want) = grads(&x, f.as_ref());
        assert_eq!(bits(&got), bits(&want), "{name}");
    }
}

#[test]
fn a_tiled_sum_keeps_negative_zeros() {
    // Each piece's gradient is -0 somewhere; the scatter-and-add sum turns those into +0
    // (-0 + 0), the stack keeps them, as PyTorch's unbind and split backward do.
    let x = data(&[2, 3], -1.0, 1.0, 1).requires_grad_(true).clone();
    let c = Tensor::from_vec(vec![-0.0f64, 1.0, 2.0], &[3]);
    let y = (&x.select(0, 0) * &c).sum_all() + (&x.select(0, 1) * &c).sum_all();
    let g = autograd::grad(&[&y], &[&x], GradOpts::default())[0].clone().unwrap();
    let v = g.to_vec::<f64>();
    assert_eq!(v, vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
    assert!(v[0].is_sign_negative() && v[3].is_sign_negative());
}

#[test]
fn tiled_sums_differentiate() {
    let cases = vec![
        case("unbind_products", &[&[3, 4]], |x| {
            let p = x[0].unbind(0);
            &(&p[0] * &p[1]) * &p[2].exp()
        }),
        case("chunk_mixed", &[&[2, 6]], |x| {
            let p = x[0].chunk(2, 1);
            Tensor::cat(&[&(&p[0] * &p[1]), &p[1].sin()], 0)
        }),
    ];
    check_cases(&cases, true, true);
}
