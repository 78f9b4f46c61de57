//! The general (non-symmetric) eigendecomposition. Its eigenvalues and eigenvectors are
//! complex even for a real matrix; until Psionic has a complex dtype they are returned
//! in `torch.view_as_real`'s layout, a trailing dim of 2 holding `(re, im)`:
//! `torch.view_as_real(torch.linalg.eig(A)[0])` is `linalg::eig(&a).0`.

use super::complex::Cx;
use super::{check_matrix, parts};
use crate::tensor::Tensor;
use psionic_core::ops::LinalgOp;

/// `torch.linalg.eig`: eigenvalues `[..., n, 2]` and eigenvectors (columns) `[..., n, n, 2]`
/// with `A V = V diag(L)`, each complex number as its `(re, im)` pair. A conjugate pair
/// of eigenvalues comes in LAPACK's order (positive imaginary part first). Eigenvectors
/// have unit norm, and their component of largest modulus is real and positive (LAPACK
/// makes it real; the sign is fixed too so that the choice is unique).
///
/// Gradients follow PyTorch's: a loss must not depend on each eigenvector's phase (`|V|`
/// is fine, `V` itself is not), and eigenvalues must be distinct.
#[track_caller]
pub fn eig(a: &Tensor) -> (Tensor, Tensor) {
    check_matrix("linalg.eig", a, true);
    let p = parts(LinalgOp::Eig { vectors: true }, &[a]);
    (p[0].clone(), p[1].clone())
}

/// `torch.linalg.eigvals`: the eigenvalues of [`eig`], `[..., n, 2]`.
#[track_caller]
pub fn eigvals(a: &Tensor) -> Tensor {
    check_matrix("linalg.eigvals", a, true);
    parts(LinalgOp::Eig { vectors: false }, &[a])[0].clone()
}

/// The gradient of a real matrix's eigendecomposition (PyTorch's `linalg_eig_backward`):
/// with `G = V^H gV` projected onto the unit-norm tangent space (`G - V^H V Re(diag G)`),
/// `gA = Re(V^-H ((G / conj(E)) + diag(gL)) V^H)`, `E_ij = L_j - L_i`. `l`, `v`, `gl`
/// and `gv` are in the `(re, im)` layout; a missing `gv` is zero.
pub(crate) fn eig_vjp(l: &Tensor, v: &Tensor, gl: &Tensor, gv: Option<&Tensor>) -> Tensor {
    let (l, v) = (Cx::from_pairs(l), Cx::from_pairs(v));
    let vh = v.mh();
    let mut inner = Cx::from_pairs(gl).diag_embed();
    if let Some(gv) = gv {
        let g = vh.matmul(&Cx::from_pairs(gv));
        let proj = g.sub(&vh.matmul(&v.mul(&Cx::real(&g.re.diagonal(0, -2, -1)).unsqueeze(-2))));
        let lc = l.conj();
        let e = lc.unsqueeze(-2).sub(&lc.unsqueeze(-1));
        let off = proj.gap_divide(&e);
        inner = Cx { re: &inner.re + &off.re, im: &inner.im + &off.im };
    }
    vh.solve(&inner.matmul(&vh)).re
}
