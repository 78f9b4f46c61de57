//! `linalg`: gradchecks in f64, jvp against vjp, and vmap (and the vmap of the vjp)
//! against a loop. Inputs are shaped inside each function so the factorization is
//! defined and smooth there (symmetric for eigh/Cholesky, diagonally dominant for
//! solves); eigen- and singular vectors enter through gauge-invariant functions, as in
//! PyTorch's own OpInfo samples.

use super::check::{check_cases, gradgradcheck, Case};
use crate::linalg::{self, MatrixOrd, QrMode};
use crate::{DType, Tensor};

/// Test data without structure: the shared `data` generator is an arithmetic progression
/// modulo a prime, whose matrices are nearly low-rank.
fn data(shape: &[usize], seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i * i) as f64 * 0.7 + i as f64 * 1.9 + seed as f64 * 2.3).sin()).collect();
    Tensor::from_vec(v, shape)
}

fn case(name: &'static str, shapes: &[&[usize]], f: impl Fn(&[Tensor]) -> Tensor + 'static) -> Case {
    let ins = shapes.iter().enumerate().map(|(i, s)| data(s, i + 3)).collect();
    (name, Box::new(f), ins)
}

fn flat(ts: &[&Tensor]) -> Tensor {
    let v: Vec<Tensor> = ts.iter().map(|t| t.reshape(&[-1])).collect();
    Tensor::cat(&v.iter().collect::<Vec<_>>(), 0)
}

/// Adds `c` to the diagonal: well away from singular.
fn shift(x: &Tensor, c: f64) -> Tensor {
    let n = x.shape()[x.dim() - 1];
    x + &Tensor::eye(n, None, DType::F64).mul(c)
}

fn spd(x: &Tensor) -> Tensor {
    shift(&x.matmul(&x.mT()), 1.0)
}

fn sym(x: &Tensor) -> Tensor {
    x + &x.mT()
}

#[test]
fn factorizations() {
    let cases = vec![
        case("cholesky", &[&[3, 3]], |x| linalg::cholesky(&spd(&x[0]), false)),
        case("cholesky_upper_batched", &[&[2, 3, 3]], |x| linalg::cholesky(&spd(&x[0]), true)),
        case("lu_factor_square", &[&[4, 4]], |x| linalg::lu_factor(&x[0]).0),
        case("lu_wide", &[&[3, 5]], |x| {
            let (_, l, u) = linalg::lu(&x[0]);
            flat(&[&l, &u])
        }),
        case("lu_tall", &[&[5, 3]], |x| {
            let (_, l, u) = linalg::lu(&x[0]);
            flat(&[&l, &u])
        }),
        case("qr_tall", &[&[5, 3]], |x| {
            let (q, r) = linalg::qr(&x[0], QrMode::Reduced);
            flat(&[&q, &r])
        }),
        case("qr_wide", &[&[3, 5]], |x| {
            let (q, r) = linalg::qr(&x[0], QrMode::Reduced);
            flat(&[&q, &r])
        }),
        case("qr_complete_square", &[&[2, 3, 3]], |x| {
            let (q, r) = linalg::qr(&x[0], QrMode::Complete);
            flat(&[&q, &r])
        }),
        case("eigh", &[&[4, 4]], |x| {
            let (w, v) = linalg::eigh(&sym(&x[0]), false);
            flat(&[&w, &v.abs()])
        }),
        case("eigh_upper", &[&[2, 3, 3]], |x| {
            let (w, v) = linalg::eigh(&sym(&x[0]), true);
            flat(&[&w, &v.abs()])
        }),
        case("eigvalsh", &[&[4, 4]], |x| linalg::eigvalsh(&sym(&x[0]), false)),
        case("svd_tall", &[&[5, 3]], |x| {
            let (u, s, vh) = linalg::svd(&x[0], false);
            flat(&[&u.abs(), &s, &vh.abs()])
        }),
        case("svd_wide_full", &[&[3, 5]], |x| {
            let (u, s, vh) = linalg::svd(&x[0], true);
            flat(&[&u.matmul(&vh.narrow(-2, 0, 3)), &s])
        }),
        case("svdvals", &[&[2, 4, 3]], |x| linalg::svdvals(&x[0])),
    ];
    check_cases(&cases, true, false);
    gradgradcheck(cases[0].0, cases[0].1.as_ref(), &cases[0].2);
    gradgradcheck(cases[11].0, cases[11].1.as_ref(), &cases[11].2);
    // The values-only forms rebuild the vectors in their backward; that must stay
    // differentiable for second derivatives.
    gradgradcheck(cases[10].0, cases[10].1.as_ref(), &cases[10].2);
    gradgradcheck(cases[13].0, cases[13].1.as_ref(), &cases[13].2);
}

#[test]
fn solves() {
    let cases = vec![
        case("solve_triangular_lower_left", &[&[3, 3], &[3, 2]], |x| {
            linalg::solve_triangular(&shift(&x[0], 3.0), &x[1], false, true, false)
        }),
        case("solve_triangular_upper_right_unit", &[&[3, 3], &[2, 3]], |x| {
            linalg::solve_triangular(&x[0], &x[1], true, false, true)
        }),
        case("solve", &[&[3, 3], &[3, 2]], |x| linalg::solve(&shift(&x[0], 3.0), &x[1], true)),
        case("solve_vector_right", &[&[2, 3, 3], &[2, 3]], |x| linalg::solve(&shift(&x[0], 3.0), &x[1], false)),
        case("inv", &[&[2, 3, 3]], |x| linalg::inv(&shift(&x[0], 3.0))),
        case("det", &[&[3, 3]], |x| linalg::det(&x[0])),
        case("slogdet", &[&[2, 3, 3]], |x| {
            let (s, l) = linalg::slogdet(&shift(&x[0], 2.0));
            flat(&[&s, &l])
        }),
        case("logdet", &[&[3, 3]], |x| linalg::logdet(&spd(&x[0]))),
        case("lu_solve_adjoint", &[&[3, 3], &[3, 2]], |x| {
            let (lu, piv) = linalg::lu_factor(&shift(&x[0], 2.0));
            linalg::lu_solve(&lu, &piv, &x[1], true, true)
        }),
        case("cholesky_solve", &[&[3, 3], &[3, 2]], |x| {
            linalg::cholesky_solve(&x[1], &linalg::cholesky(&spd(&x[0]), false), false)
        }),
        case("cholesky_inverse_upper", &[&[3, 3]], |x| {
            linalg::cholesky_inverse(&linalg::cholesky(&spd(&x[0]), true), true)
        }),
        case("lstsq_tall", &[&[5, 3], &[5, 2]], |x| linalg::lstsq(&x[0], &x[1], None, None).solution),
        case("lstsq_wide", &[&[2, 4], &[2, 3]], |x| linalg::lstsq(&x[0], &x[1], None, None).solution),
        case("pinv", &[&[4, 3]], |x| linalg::pinv(&x[0], None, None, false)),
        case("pinv_hermitian", &[&[3, 3]], |x| linalg::pinv(&spd(&x[0]), None, None, true)),
        // Rank 1 of 3x3, staying rank 1 under perturbation of its factors (OpInfo's
        // `singular` samples): two equal (zero) singular values, whose gap the SVD's
        // gradient divides by; the rank-constant rule does not.
        case("pinv_rank_deficient", &[&[2, 3, 1], &[2, 1, 3]], |x| {
            linalg::pinv(&x[0].matmul(&x[1]), None, None, false)
        }),
        case("tensorinv", &[&[2, 3, 6]], |x| {
            linalg::tensorinv(&shift(&x[0].reshape(&[6, 6]), 3.0).reshape(&[6, 2, 3]), 1)
        }),
    ];
    check_cases(&cases, true, false);
    let deficient = cases.iter().find(|c| c.0 == "pinv_rank_deficient").expect("case");
    gradgradcheck(deficient.0, deficient.1.as_ref(), &deficient.2);
}

#[test]
fn matrix_functions() {
    let cases = vec![
        case("matrix_norm_fro", &[&[3, 4]], |x| linalg::matrix_norm(&x[0], MatrixOrd::Fro, (-2, -1), false)),
        case("matrix_norm_nuc", &[&[2, 3, 4]], |x| linalg::matrix_norm(&x[0], MatrixOrd::Nuc, (-2, -1), true)),
        case("matrix_norm_2", &[&[3, 4]], |x| linalg::matrix_norm(&x[0], MatrixOrd::P(2.0), (-1, -2), false)),
        case("matrix_norm_1", &[&[3, 4]], |x| linalg::matrix_norm(&x[0], MatrixOrd::P(1.0), (-2, -1), false)),
        case("matrix_norm_neg_inf", &[&[2, 3, 4]], |x| {
            linalg::matrix_norm(&x[0], MatrixOrd::P(f64::NEG_INFINITY), (0, 2), true)
        }),
        case("vector_norm_3", &[&[3, 4]], |x| linalg::vector_norm(&x[0], 3.0, Some(&[1]), false)),
        case("cond", &[&[3, 3]], |x| linalg::cond(&shift(&x[0], 2.0), None)),
        case("cond_fro", &[&[3, 3]], |x| linalg::cond(&shift(&x[0], 2.0), Some(MatrixOrd::Fro))),
        case("matrix_power_5", &[&[3, 3]], |x| linalg::matrix_power(&x[0], 5)),
        case("matrix_power_neg", &[&[2, 3, 3]], |x| linalg::matrix_power(&shift(&x[0], 2.0), -2)),
        case("cross", &[&[2, 3], &[3]], |x| linalg::cross(&x[0], &x[1], -1)),
        case("vander", &[&[2, 4]], |x| linalg::vander(&x[0], Some(3))),
        case("multi_dot", &[&[3], &[3, 4], &[4, 2]], |x| linalg::multi_dot(&[&x[0], &x[1], &x[2]])),
        case("vecdot", &[&[2, 3], &[3]], |x| linalg::vecdot(&x[0], &x[1], -1)),
    ];
    check_cases(&cases, true, false);
    // matrix_exp picks its scaling from the values, so it is checked outside vmap.
    let exp = vec![
        case("matrix_exp_small", &[&[3, 3]], |x| linalg::matrix_exp(&x[0])),
        case("matrix_exp_scaled", &[&[2, 3, 3]], |x| linalg::matrix_exp(&x[0].mul(8.0))),
    ];
    check_cases(&exp, false, false);
}

/// `|z|` of `(re, im)` pairs: the eigenvectors' phase-free part.
fn modulus(z: &Tensor) -> Tensor {
    z.square().sum(-1, false).sqrt()
}

#[test]
fn general_eigen() {
    let cases = vec![
        // Both have complex eigenvalue pairs (checked below), so the complex algebra of
        // the gradient is exercised and not only its real special case.
        case("eig", &[&[4, 4]], |x| {
            let (l, v) = linalg::eig(&x[0]);
            flat(&[&l, &modulus(&v)])
        }),
        case("eig_batched", &[&[2, 3, 3]], |x| {
            let (l, v) = linalg::eig(&x[0].mT());
            flat(&[&l, &modulus(&v)])
        }),
        case("eigvals", &[&[5, 5]], |x| linalg::eigvals(&x[0])),
    ];
    for (name, _, ins) in &cases {
        let im = linalg::eigvals(&ins[0]).select(-1, 1);
        assert!(im.abs().to_vec::<f64>().iter().any(|&v| v > 0.1), "{name}: no complex eigenvalues");
    }
    check_cases(&cases, true, false);
    gradgradcheck(cases[0].0, cases[0].1.as_ref(), &cases[0].2);
    gradgradcheck(cases[2].0, cases[2].1.as_ref(), &cases[2].2);
}
