//! The composite ops at their edges, checked by hand: the points where a naive formula
//! would give a NaN, a wrong sign or a wrong dtype.

use crate::autodiff::functional::grad;
use crate::{DType, Tensor};

fn t(v: &[f64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()])
}

#[test]
fn sinc_is_one_with_zero_slope_at_zero() {
    let x = t(&[0.0, 0.5, -1.0]);
    let y = x.sinc().to_vec::<f64>();
    assert_eq!(y[0], 1.0);
    assert!((y[1] - 2.0 / std::f64::consts::PI).abs() < 1e-15);
    assert!(y[2].abs() < 1e-15);
    let g = grad(|x: &[Tensor]| x[0].sinc().sum_all())(&[t(&[0.0])]);
    assert_eq!(g.to_vec::<f64>(), vec![0.0]);
}

#[test]
fn signbit_sees_negative_zero() {
    assert_eq!(t(&[-0.0, 0.0, -2.0, 3.0]).signbit().to_vec::<bool>(), vec![true, false, true, false]);
    let i = Tensor::from_vec(vec![-1i64, 0, 1], &[3]);
    assert_eq!(i.signbit().to_vec::<bool>(), vec![true, false, false]);
}

#[test]
fn logsigmoid_is_exact_far_from_zero() {
    let y = t(&[-800.0, 0.0, 40.0]).logsigmoid().to_vec::<f64>();
    assert_eq!(y[0], -800.0);
    assert!((y[1] + std::f64::consts::LN_2).abs() < 1e-15);
    assert!((y[2] + (-40f64).exp()).abs() < 1e-30);
}

#[test]
fn shrinks_and_float_power() {
    let x = t(&[-2.0, -0.5, 0.25, 1.0]);
    assert_eq!(x.hardshrink(0.5).to_vec::<f64>(), vec![-2.0, 0.0, 0.0, 1.0]);
    assert_eq!(x.softshrink(0.5).to_vec::<f64>(), vec![-1.5, 0.0, 0.0, 0.5]);
    let i = Tensor::from_vec(vec![2i32, 3], &[2]);
    let p = i.float_power(2);
    assert_eq!((p.dtype(), p.to_vec::<f64>()), (DType::F64, vec![4.0, 9.0]));
    assert_eq!(i.deg2rad().dtype(), DType::default_float());
}
