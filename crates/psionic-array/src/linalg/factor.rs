//! The factorizations: Cholesky, LU, QR, symmetric eigendecomposition, SVD.

use super::{check_info, check_matrix, parts};
use crate::autocast;
use crate::mode::{check, raise};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::LinalgOp;
use psionic_core::{DType, Error};

/// Which factors `qr` returns (PyTorch's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QrMode {
    /// `Q (m, k)`, `R (k, n)`.
    Reduced,
    /// `Q (m, m)`, `R (m, n)`.
    Complete,
    /// `R (k, n)` only; `Q` is empty.
    R,
}

impl QrMode {
    pub fn from_name(name: &str) -> Option<QrMode> {
        Some(match name {
            "reduced" => QrMode::Reduced,
            "complete" => QrMode::Complete,
            "r" => QrMode::R,
            _ => return None,
        })
    }
}

/// Cholesky factor and LAPACK's info (i32) without raising on failure.
#[track_caller]
pub fn cholesky_ex(a: &Tensor, upper: bool) -> (Tensor, Tensor) {
    check_matrix("linalg.cholesky", a, true);
    // The upper factor of A is the transposed lower factor of A^T (whose lower triangle
    // is A's upper one).
    let src = if upper { a.mT() } else { a.clone() };
    let p = parts(LinalgOp::Cholesky, &[&src]);
    let l = if upper { p[0].mT() } else { p[0].clone() };
    (l, p[1].to_dtype(DType::I32))
}

/// `torch.linalg.cholesky`: `L` with `A = L L^T` (or `U` with `A = U^T U`).
#[track_caller]
pub fn cholesky(a: &Tensor, upper: bool) -> Tensor {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| cholesky(&x, upper)) {
        return y;
    }
    let (l, info) = cholesky_ex(a, upper);
    check_info(
        &info,
        |i| {
            format!("The factorization could not be completed because the input is not positive-definite (the leading minor of order {i} is not positive-definite).")
        },
        "linalg.cholesky",
    );
    l
}

/// `torch.linalg.lu_factor_ex`: packed LU, 1-based i32 pivots and info, without raising.
#[track_caller]
pub fn lu_factor_ex(a: &Tensor) -> (Tensor, Tensor, Tensor) {
    check_matrix("linalg.lu_factor", a, false);
    let p = parts(LinalgOp::LuFactor, &[a]);
    (p[0].clone(), p[1].to_dtype(DType::I32), p[2].to_dtype(DType::I32))
}

/// `torch.linalg.lu_factor`: raises when a pivot is exactly zero, as PyTorch does.
#[track_caller]
pub fn lu_factor(a: &Tensor) -> (Tensor, Tensor) {
    let (lu, piv, info) = lu_factor_ex(a);
    check_info(
        &info,
        |i| {
            format!("U[{i},{i}] is zero and using it on lu_solve would result in a division by zero. If you still want to perform the factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")
        },
        "torch.linalg.lu_factor",
    );
    (lu, piv)
}

/// The i64 row order the pivots apply: row `i` of `P^T A` is row `perm[i]` of `A`.
pub(crate) fn permutation(pivots: &Tensor, m: usize) -> Tensor {
    check(Tensor::make(Prim::Linalg(LinalgOp::PivotPermutation { m }), &[pivots]))
}

/// `torch.lu_unpack`: `P (m, m)`, `L (m, k)`, `U (k, n)` from a packed LU.
#[track_caller]
pub fn lu_unpack(lu: &Tensor, pivots: &Tensor) -> (Tensor, Tensor, Tensor) {
    check_matrix("lu_unpack", lu, false);
    let s = lu.shape();
    let (m, n) = (s[s.len() - 2], s[s.len() - 1]);
    let k = m.min(n);
    if pivots.shape().last() != Some(&k) || pivots.dtype() != DType::I32 {
        raise(Error::shape(
            "lu_unpack",
            format!(
                "torch.lu_unpack: pivots must be an int32 tensor whose last dim is {k}, got {:?} {}",
                pivots.shape(),
                pivots.dtype().name()
            ),
        ));
    }
    let l = lu.narrow(-1, 0, k).tril(-1) + Tensor::eye(m, Some(k), lu.dtype());
    let u = lu.narrow(-2, 0, k).triu(0);
    // P[perm[i], i] = 1: row i of P^T is the unit vector at perm[i].
    let perm = permutation(pivots, m);
    let p = perm.unsqueeze(-1).eq(Tensor::arange_dtype(0, m as i64, 1, DType::I64)).to_dtype(lu.dtype()).mT();
    (p, l, u)
}

/// `torch.linalg.lu`: `A = P L U`.
#[track_caller]
pub fn lu(a: &Tensor) -> (Tensor, Tensor, Tensor) {
    let (lu, piv, _) = lu_factor_ex(a);
    lu_unpack(&lu, &piv)
}

/// `torch.linalg.qr`.
#[track_caller]
pub fn qr(a: &Tensor, mode: QrMode) -> (Tensor, Tensor) {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| qr(&x, mode)) {
        return y;
    }
    check_matrix("linalg.qr", a, false);
    let p = parts(LinalgOp::Qr { complete: mode == QrMode::Complete }, &[a]);
    match mode {
        QrMode::R => (Tensor::zeros(&[0], a.dtype()), p[1].clone()),
        _ => (p[0].clone(), p[1].clone()),
    }
}

/// `torch.linalg.eigh`: ascending eigenvalues and orthonormal eigenvectors (columns) of
/// the symmetric matrix whose lower (`upper = false`) or upper triangle `a` holds.
#[track_caller]
pub fn eigh(a: &Tensor, upper: bool) -> (Tensor, Tensor) {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| eigh(&x, upper)) {
        return y;
    }
    check_matrix("linalg.eigh", a, true);
    let src = if upper { a.mT() } else { a.clone() };
    let p = parts(LinalgOp::Eigh { vectors: true }, &[&src]);
    (p[0].clone(), p[1].clone())
}

/// `torch.linalg.eigvalsh`.
#[track_caller]
pub fn eigvalsh(a: &Tensor, upper: bool) -> Tensor {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| eigvalsh(&x, upper)) {
        return y;
    }
    check_matrix("linalg.eigvalsh", a, true);
    let src = if upper { a.mT() } else { a.clone() };
    parts(LinalgOp::Eigh { vectors: false }, &[&src])[0].clone()
}

/// `torch.linalg.svd`: `A = U diag(S) Vh`, singular values descending.
#[track_caller]
pub fn svd(a: &Tensor, full_matrices: bool) -> (Tensor, Tensor, Tensor) {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| svd(&x, full_matrices)) {
        return y;
    }
    check_matrix("linalg.svd", a, false);
    let p = parts(LinalgOp::Svd { full: full_matrices, vectors: true }, &[a]);
    (p[0].clone(), p[1].clone(), p[2].clone())
}

/// `torch.linalg.svdvals`.
#[track_caller]
pub fn svdvals(a: &Tensor) -> Tensor {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| svdvals(&x)) {
        return y;
    }
    check_matrix("linalg.svdvals", a, false);
    parts(LinalgOp::Svd { full: false, vectors: false }, &[a])[0].clone()
}
