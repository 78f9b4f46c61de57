//! Composite activations, losses, arrangement helpers and `linear`: gradchecks in f64,
//! jvp against vjp, vmap against a loop (their values are checked against PyTorch in the
//! conformance suite).

use super::check::{case, check_cases};
use crate::ops::arrange::Cut;
use crate::ops::loss::Reduction;
use crate::Tensor;

#[test]
fn activations_and_losses() {
    let cases = vec![
        case("glu", &[&[3, 4]], |x| x[0].glu(-1)),
        case("softmin", &[&[2, 5]], |x| x[0].softmin(1)),
        case("threshold", &[&[3, 4]], |x| x[0].threshold(0.1, -2.0)),
        case("logaddexp2", &[&[3, 4], &[3, 4]], |x| x[0].logaddexp2(&x[1])),
        case("ldexp", &[&[3, 4]], |x| x[0].ldexp(&Tensor::from_vec(vec![1i64, -2, 0, 3], &[4]))),
        case("rsub", &[&[3, 4], &[4]], |x| x[0].rsub(&x[1], 2.0)),
        case("linear", &[&[2, 3, 4], &[5, 4], &[5]], |x| x[0].linear(&x[1], Some(&x[2]))),
        case("mse_loss", &[&[3, 4], &[3, 4]], |x| x[0].mse_loss(&x[1], Reduction::Mean)),
        case("l1_loss", &[&[3, 4], &[4]], |x| x[0].l1_loss(&x[1], Reduction::None)),
        case("smooth_l1_loss", &[&[3, 4], &[3, 4]], |x| x[0].smooth_l1_loss(&x[1], Reduction::Sum, 0.7)),
        case("huber_loss", &[&[3, 4], &[3, 4]], |x| x[0].huber_loss(&x[1], Reduction::Mean, 0.4)),
    ];
    check_cases(&cases, true, true);
}

#[test]
fn arrangements() {
    let cases = vec![
        case("rot90", &[&[2, 3, 4]], |x| x[0].rot90(3, [2, 0])),
        case("fliplr_flipud", &[&[3, 4]], |x| x[0].fliplr().flipud()),
        case("atleast_3d", &[&[4]], |x| x[0].atleast_3d()),
        case("column_stack", &[&[4], &[4, 2]], |x| Tensor::column_stack(&[&x[0], &x[1]])),
        case("dstack", &[&[2, 3], &[2, 3, 2]], |x| Tensor::dstack(&[&x[0], &x[1]])),
        case("hsplit", &[&[2, 6]], |x| x[0].hsplit(Cut::Sections(3))[1].clone()),
        case("vsplit", &[&[5, 2]], |x| x[0].vsplit(Cut::Indices(&[1, 3]))[2].clone()),
        case("ravel", &[&[2, 3]], |x| x[0].t().ravel()),
    ];
    check_cases(&cases, true, false);
}
