//! The general (non-symmetric) eigendecomposition. Its eigenvalues and eigenvectors are
//! complex even for a real matrix; until Psionic has a complex dtype they are returned
//! in `torch.view_as_real`'s layout, a trailing dim of 2 holding `(re, im)`:
//! `torch.view_as_real(torch.linalg.eig(A)[0])` is `linalg::eig(&a).0`.

use super::complex::Cx;
use super::{check_matrix, parts};
use crate::autocast;
use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::ops::LinalgOp;
use psionic_core::{Error, Result};

/// PyTorch refuses non-finite input (LAPACK would not converge). Checked when the values
/// are known (eagerly); under lazy evaluation, vmap or compile the results are NaN.
#[track_caller]
fn check_finite(a: &Tensor) {
    if a.node().is_evaluated() && !a.isfinite().all().item::<bool>() {
        raise(Error::invalid("linalg.eig", "torch.linalg.eig: input tensor should not contain infs or NaNs."));
    }
}

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
    check_finite(a);
    let p = parts(LinalgOp::Eig, &[a]);
    (p[0].clone(), p[1].clone())
}

/// `torch.linalg.eigvals`: the eigenvalues of [`eig`], `[..., n, 2]` (a view of its
/// result, whose vectors its gradient needs).
#[track_caller]
pub fn eigvals(a: &Tensor) -> Tensor {
    let x = autocast::full(a);
    if let Some(y) = autocast::casting(|| eigvals(&x)) {
        return y;
    }
    check_matrix("linalg.eigvals", a, true);
    check_finite(a);
    parts(LinalgOp::Eig, &[a])[0].clone()
}

/// The gradient of a real matrix's eigendecomposition (PyTorch's `linalg_eig_backward`):
/// with `G = V^H gV` projected onto the unit-norm tangent space (`G - V^H V Re(diag G)`),
/// `gA = Re(V^-H ((G / conj(E)) + diag(gL)) V^H)`, `E_ij = L_j - L_i`. `l`, `v`, `gl`
/// and `gv` are in the `(re, im)` layout (`gv` is zero for `eigvals`). A loss that
/// depends on the eigenvectors' phases (`Im diag(V^H gV)` not near 0) is refused, as in
/// PyTorch, when the values are known.
pub(crate) fn eig_vjp(l: &Tensor, v: &Tensor, gl: &Tensor, gv: &Tensor) -> Result<Tensor> {
    let (l, v) = (Cx::from_pairs(l), Cx::from_pairs(v));
    let vh = v.mh();
    let g = vh.matmul(&Cx::from_pairs(gv));
    // A cotangent that is itself differentiated (jvp's transposition of this rule seeds
    // it with a placeholder of ones) carries no loss to check.
    let phase = g.im.diagonal(0, -2, -1);
    let plain = !gv.requires_grad() && phase.node().is_evaluated();
    if plain && phase.abs().gt(1e-2).any().item::<bool>() {
        return Err(Error::invalid(
            "linalg.eig",
            "linalg_eig_backward: The eigenvectors in the complex case are specified up to multiplication by e^{i phi}. The specified loss function depends on this quantity, so it is ill-defined.",
        ));
    }
    let proj = g.sub(&vh.matmul(&v.mul(&Cx::real(&g.re.diagonal(0, -2, -1)).unsqueeze(-2))));
    let lc = l.conj();
    let off = proj.gap_divide(&lc.unsqueeze(-2).sub(&lc.unsqueeze(-1)));
    let gl = Cx::from_pairs(gl).diag_embed();
    let inner = Cx { re: &gl.re + &off.re, im: &gl.im + &off.im };
    Ok(vh.solve(&inner.matmul(&vh)).re)
}
