//! Solvers and determinants: triangular solves, LU- and Cholesky-based solves, inverse,
//! det/slogdet/logdet and least squares.

use super::factor::{lu_factor_ex, permutation};
use super::{broadcast_batch, check_info, check_matrix, eye_like, permute_rows};
use crate::autocast;
use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::LinalgOp;
use psionic_core::{DType, Error};

/// `torch.linalg.solve_triangular`: `A X = B` (`left`) or `X A = B` for triangular `A`,
/// reading only its `upper` or lower triangle (and not its diagonal when `unitriangular`).
#[track_caller]
pub fn solve_triangular(a: &Tensor, b: &Tensor, upper: bool, left: bool, unitriangular: bool) -> Tensor {
    check_matrix("linalg.solve_triangular", a, true);
    check_matrix("linalg.solve_triangular", b, false);
    let (a, b) = broadcast_batch("linalg.solve_triangular", a, b);
    let op = LinalgOp::TriangularSolve { upper, left, unit: unitriangular };
    check(Tensor::make(Prim::Linalg(op), &[&a, &b.to_dtype(a.dtype())]))
}

/// `torch.triangular_solve(b, A, upper, transpose, unitriangular)`: `(X, A)` with
/// `op(A) X = b`.
#[track_caller]
pub fn triangular_solve(b: &Tensor, a: &Tensor, upper: bool, transpose: bool, unitriangular: bool) -> (Tensor, Tensor) {
    let (a_op, up) = if transpose { (a.mT(), !upper) } else { (a.clone(), upper) };
    (solve_triangular(&a_op, b, up, true, unitriangular), a.clone())
}

/// `torch.linalg.lu_solve`: solves `A X = B` (or `A^T X = B` with `adjoint`, or `X A = B`
/// when not `left`) from `A`'s packed LU and pivots.
#[track_caller]
pub fn lu_solve(lu: &Tensor, pivots: &Tensor, b: &Tensor, left: bool, adjoint: bool) -> Tensor {
    check_matrix("linalg.lu_solve", lu, true);
    check_matrix("linalg.lu_solve", b, false);
    if !left {
        // X A = B  <=>  A^T X^T = B^T.
        return lu_solve(lu, pivots, &b.mT(), true, !adjoint).mT();
    }
    let n = lu.shape()[lu.dim() - 1];
    let (lu, b) = broadcast_batch("linalg.lu_solve", lu, b);
    let piv = pivots.broadcast_to(&lu.shape()[..lu.dim() - 1]);
    let perm = permutation(&piv, n);
    if !adjoint {
        // A = P L U: X = U^-1 L^-1 P^T B.
        let y = solve_triangular(&lu, &permute_rows(&b, &perm), false, true, true);
        solve_triangular(&lu, &y, true, true, false)
    } else {
        // A^T = U^T L^T P^T: X = P L^-T U^-T B.
        let y = solve_triangular(&lu.mT(), &b, false, true, false);
        let z = solve_triangular(&lu.mT(), &y, true, true, true);
        permute_rows(&z, &perm.argsort(-1, false))
    }
}

/// A right-hand side is a vector when it is 1-d or has exactly A's batch dims.
fn vector_rhs(a: &Tensor, b: &Tensor) -> bool {
    b.dim() == 1 || (b.dim() + 1 == a.dim() && b.shape()[..] == a.shape()[..a.dim() - 1])
}

/// `torch.linalg.solve_ex`: `(X, info)` without raising on a singular `A`.
#[track_caller]
pub fn solve_ex(a: &Tensor, b: &Tensor, left: bool) -> (Tensor, Tensor) {
    check_matrix("torch.linalg.solve", a, true);
    let vector = vector_rhs(a, b);
    let vdim = if left { -1 } else { -2 };
    let bm = if vector { b.unsqueeze(vdim) } else { b.clone() };
    let bm = if left { bm } else { bm.mT() };
    let (lu, piv, info) = lu_factor_ex(a);
    let x = lu_solve(&lu, &piv, &bm.to_dtype(a.dtype()), true, !left);
    let x = if left { x } else { x.mT() };
    (if vector { x.squeeze_dims(&[vdim]) } else { x }, info)
}

/// `torch.linalg.solve`: `A X = B` (or `X A = B`); `B` may be a vector.
#[track_caller]
pub fn solve(a: &Tensor, b: &Tensor, left: bool) -> Tensor {
    let (x, y) = (autocast::full(a), autocast::full(b));
    if let Some(r) = autocast::casting(|| solve(&x, &y, left)) {
        return r;
    }
    let (x, info) = solve_ex(a, b, left);
    check_info(&info, |_| "The solver failed because the input matrix is singular.".into(), "torch.linalg.solve");
    x
}

/// `torch.linalg.inv_ex`: `(A^-1, info)`.
#[track_caller]
pub fn inv_ex(a: &Tensor) -> (Tensor, Tensor) {
    check_matrix("linalg.inv", a, true);
    let (lu, piv, info) = lu_factor_ex(a);
    (lu_solve(&lu, &piv, &eye_like(a), true, false), info)
}

/// `torch.linalg.inv`.
#[track_caller]
pub fn inv(a: &Tensor) -> Tensor {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| inv(&x)) {
        return y;
    }
    let (x, info) = inv_ex(a);
    check_info(
        &info,
        |i| {
            format!("The diagonal element {i} is zero, the inversion could not be completed because the input matrix is singular.")
        },
        "linalg.inv",
    );
    x
}

/// The sign of the pivots' permutation and U's diagonal, from a packed LU.
fn lu_sign_and_diag(a: &Tensor, op: &'static str) -> (Tensor, Tensor) {
    check_matrix(op, a, true);
    let (lu, piv, _) = lu_factor_ex(a);
    let k = piv.shape()[piv.dim() - 1];
    let moved = piv.ne(Tensor::arange_dtype(1, k as i64 + 1, 1, DType::I32)).to_dtype(a.dtype()).sum(-1, false);
    // (-1)^moved.
    let parity = 1.0 - 2.0 * moved.remainder(2.0);
    (parity, lu.diagonal(0, -2, -1))
}

/// `torch.linalg.det`.
#[track_caller]
pub fn det(a: &Tensor) -> Tensor {
    let (parity, d) = lu_sign_and_diag(a, "linalg.det");
    parity * d.prod(-1, false)
}

/// `torch.linalg.slogdet`: `(sign, log|det|)`.
#[track_caller]
pub fn slogdet(a: &Tensor) -> (Tensor, Tensor) {
    let (parity, d) = lu_sign_and_diag(a, "linalg.slogdet");
    (parity * d.sign().prod(-1, false), d.abs().log().sum(-1, false))
}

/// `torch.logdet`: NaN for a negative determinant, -inf for a zero one.
#[track_caller]
pub fn logdet(a: &Tensor) -> Tensor {
    let (sign, logabs) = slogdet(a);
    Tensor::where_(&sign.lt(0.0), f64::NAN, &logabs)
}

/// `torch.cholesky_solve(B, L, upper)`: solves `A X = B` given A's Cholesky factor.
#[track_caller]
pub fn cholesky_solve(b: &Tensor, l: &Tensor, upper: bool) -> Tensor {
    check_matrix("cholesky_solve", l, true);
    let lower = if upper { l.mT() } else { l.clone() };
    let y = solve_triangular(&lower, b, false, true, false);
    solve_triangular(&lower.mT(), &y, true, true, false)
}

/// `torch.cholesky_inverse(L, upper)`: `A^-1` from A's Cholesky factor.
#[track_caller]
pub fn cholesky_inverse(l: &Tensor, upper: bool) -> Tensor {
    cholesky_solve(&eye_like(l), l, upper)
}

/// Least squares for full-rank `A` by QR: `R^-1 Q^T B` when tall, the minimum-norm
/// `Q R^-T B` (QR of `A^T`) when wide.
fn full_rank_lstsq(a: &Tensor, b: &Tensor, m: usize, n: usize) -> Tensor {
    use super::factor::{qr, QrMode};
    if m >= n {
        let (q, r) = qr(a, QrMode::Reduced);
        let (qt, b) = broadcast_batch("torch.linalg.lstsq", &q.mT(), b);
        let (r, y) = broadcast_batch("torch.linalg.lstsq", &r, &qt.matmul(&b));
        solve_triangular(&r, &y, true, true, false)
    } else {
        let (q, r) = qr(&a.mT(), QrMode::Reduced);
        let (rt, b) = broadcast_batch("torch.linalg.lstsq", &r.mT(), b);
        let y = solve_triangular(&rt, &b, false, true, false);
        let (q, y) = broadcast_batch("torch.linalg.lstsq", &q, &y);
        q.matmul(&y)
    }
}

/// The result of [`lstsq`] (PyTorch's named tuple). Empty fields are what the driver
/// does not compute.
#[derive(Clone, Debug)]
pub struct Lstsq {
    pub solution: Tensor,
    pub residuals: Tensor,
    pub rank: Tensor,
    pub singular_values: Tensor,
}

/// `torch.linalg.lstsq(A, B, rcond, driver)`: the minimum-norm least-squares solution.
/// Drivers as on the CPU: `gelsy` (default; rank), `gelsd`/`gelss` (also singular
/// values and, for tall full-rank `A`, residuals), `gels` (residuals, no rank).
#[track_caller]
pub fn lstsq(a: &Tensor, b: &Tensor, rcond: Option<f64>, driver: Option<&str>) -> Lstsq {
    let (x, y) = (autocast::full(a), autocast::full(b));
    if let Some(r) = autocast::casting(|| lstsq(&x, &y, rcond, driver)) {
        return r;
    }
    check_matrix("torch.linalg.lstsq", a, false);
    let driver = driver.unwrap_or("gelsy");
    if !["gelsy", "gelsd", "gelss", "gels"].contains(&driver) {
        raise(Error::invalid(
            "torch.linalg.lstsq",
            format!("parameter `driver` should be one of (gels, gelsy, gelsd, gelss), got {driver}"),
        ));
    }
    let s = a.shape();
    let (m, n) = (s[s.len() - 2], s[s.len() - 1]);
    let vector = b.dim() + 1 == a.dim();
    let bm = if vector { b.unsqueeze(-1) } else { b.clone() };
    if bm.shape()[bm.dim() - 2] != m {
        raise(Error::shape(
            "torch.linalg.lstsq",
            format!("input.size(-2) should match other.size(-2), got {m} and {}", bm.shape()[bm.dim() - 2]),
        ));
    }
    let eps = if a.dtype() == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
    let rcond = rcond.filter(|r| *r > 0.0).unwrap_or(eps * m.max(n) as f64);
    let sv = super::factor::svdvals(a).detach();
    let rank = sv.gt(&(sv.narrow(-1, 0, 1.min(sv.shape()[sv.dim() - 1])) * rcond)).to_dtype(DType::I64).sum(-1, false);
    // Full rank (always assumed when the values are not known yet, under lazy evaluation
    // or vmap): QR, whose gradient stays accurate when singular values cluster. Rank
    // deficient: the minimum-norm solution from the pseudo-inverse.
    let ranks = rank.node().is_evaluated().then(|| rank.to_vec::<i64>());
    let deficient = ranks.as_ref().is_some_and(|r| r.iter().any(|&r| r as usize != m.min(n)));
    let bm_t = bm.to_dtype(a.dtype());
    let x = if deficient {
        let pinv = super::pinv::pinv(a, None, Some(rcond), false);
        let (pa, pb) = broadcast_batch("torch.linalg.lstsq", &pinv, &bm_t);
        pa.matmul(&pb)
    } else {
        full_rank_lstsq(a, &bm_t, m, n)
    };
    let empty = Tensor::zeros(&[0], a.dtype());
    // PyTorch's empty residuals still belong to the graph (a zero gradient).
    let empty_residuals = a.reshape(&[-1]).narrow(0, 0, 0);
    // Only for tall A known to have full rank, as LAPACK's drivers report them.
    let residuals = if driver != "gelsy" && m > n && ranks.is_some() && !deficient {
        let (ab, xb) = broadcast_batch("torch.linalg.lstsq", a, &x);
        (ab.matmul(&xb) - &bm_t).square().sum(-2, false)
    } else {
        empty_residuals
    };
    let solution = if vector { x.squeeze_dims(&[-1]) } else { x };
    Lstsq {
        solution,
        residuals: if vector && residuals.numel() > 0 { residuals.squeeze_dims(&[-1]) } else { residuals },
        rank: if driver == "gels" { Tensor::zeros(&[0], DType::I64) } else { rank },
        singular_values: if driver == "gelsd" || driver == "gelss" { sv } else { empty },
    }
}
