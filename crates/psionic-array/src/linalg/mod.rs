//! `torch.linalg` (PyTorch names), as free functions: `linalg::inv(&a)`. Factorizations
//! are `Linalg` primitives evaluated by faer (psionic-linalg); everything else is built
//! from them and ordinary ops, so gradients, jvp and vmap come from those rules.
//! Inputs are f32 or f64 with the matrices in the last two dims and any batch in front.
//! Complex results (`eig`, `eigvals`) come as `(re, im)` pairs in a trailing dim of 2.

mod complex;
mod eig;
mod factor;
mod matrix;
mod matrix_exp;
mod pinv;
mod solve;

pub(crate) use eig::eig_vjp;
pub use eig::{eig, eigvals};
pub(crate) use factor::permutation;
pub use factor::{
    cholesky, cholesky_ex, eigh, eigvalsh, lu, lu_factor, lu_factor_ex, lu_unpack, qr, svd, svdvals, QrMode,
};
pub use matrix::{
    cond, cross, diagonal, matrix_norm, matrix_power, matrix_rank, multi_dot, norm, tensorinv, tensorsolve, vander,
    vecdot, vector_norm, MatrixOrd,
};
pub use matrix_exp::matrix_exp;
pub use pinv::pinv;
pub use solve::{
    cholesky_inverse, cholesky_solve, det, inv, inv_ex, logdet, lstsq, lu_solve, slogdet, solve, solve_ex,
    solve_triangular, triangular_solve, Lstsq,
};

use crate::mode::{check, raise};
use crate::ops::args::dims_i64;
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::LinalgOp;
use psionic_core::{DType, Error};

/// The packed result of `op` on `inputs`, split into its parts (views).
pub(crate) fn parts(op: LinalgOp, inputs: &[&Tensor]) -> Vec<Tensor> {
    let packed = check(Tensor::make(Prim::Linalg(op), inputs));
    let s = inputs[0].shape();
    unpack(op, &packed, s[s.len() - 2], s[s.len() - 1])
}

/// Splits a packed linalg output (or its cotangent) for an `m x n` input into its parts.
pub(crate) fn unpack(op: LinalgOp, packed: &Tensor, m: usize, n: usize) -> Vec<Tensor> {
    let ps = packed.shape();
    let batch = dims_i64(&ps[..ps.len() - 1]);
    let mut off = 0i64;
    op.parts(m, n)
        .into_iter()
        .map(|p| {
            let len = psionic_core::numel(&p);
            let piece = packed.narrow(-1, off, len);
            off += len as i64;
            let mut shape = batch.clone();
            shape.extend(p.iter().map(|&d| d as i64));
            piece.reshape(&shape)
        })
        .collect()
}

/// PyTorch's checks on a linalg input: f32/f64 and at least a matrix.
#[track_caller]
pub(crate) fn check_matrix(op: &'static str, a: &Tensor, square: bool) {
    if !matches!(a.dtype(), DType::F32 | DType::F64) {
        raise(Error::dtype(
            op,
            format!("Expected a floating point tensor of float or double dtype as input. Got {}", a.dtype().name()),
        ));
    }
    let s = a.shape();
    if s.len() < 2 {
        raise(Error::shape(op, "The input tensor A must have at least 2 dimensions.".to_string()));
    }
    if square && s[s.len() - 1] != s[s.len() - 2] {
        raise(Error::shape(
            op,
            format!(
                "A must be batches of square matrices, but they are {} by {} matrices",
                s[s.len() - 2],
                s[s.len() - 1]
            ),
        ));
    }
}

/// Raises PyTorch's error for the first nonzero LAPACK `info` (any dtype, batch shape), when its values are known (eager). Under lazy evaluation, vmap or compile the
/// values are not known yet; the factors then carry NaN (Cholesky) or infinities.
#[track_caller]
pub(crate) fn check_info(info: &Tensor, message: impl Fn(i64) -> String, op: &'static str) {
    if !info.node().is_evaluated() {
        return;
    }
    let v = info.to_vec::<f64>();
    if let Some((b, &i)) = v.iter().enumerate().find(|(_, &i)| i != 0.0) {
        let prefix = if info.dim() > 0 { format!("(Batch element {b}): ") } else { String::new() };
        raise(Error::invalid(op, format!("{prefix}{}", message(i as i64))));
    }
}

/// The identity of `a`'s matrix size and dtype, broadcast over its batch.
pub(crate) fn eye_like(a: &Tensor) -> Tensor {
    let s = a.shape();
    let n = s[s.len() - 1];
    Tensor::eye(n, None, a.dtype()).broadcast_to(&s)
}

/// `(batch shape broadcast of a and b)`, with each expanded to it (keeping their own
/// matrix dims).
pub(crate) fn broadcast_batch(op: &'static str, a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    let (sa, sb) = (a.shape(), b.shape());
    let batch = check(psionic_core::broadcast_shapes(op, &sa[..sa.len() - 2], &sb[..sb.len() - 2]));
    let with = |s: &[usize]| [batch.clone(), s[s.len() - 2..].into()].concat();
    (a.broadcast_to(&with(&sa)), b.broadcast_to(&with(&sb)))
}

/// Rows of `b` (`[..., m, k]`) reordered so row `i` is row `perm[i]`.
pub(crate) fn permute_rows(b: &Tensor, perm: &Tensor) -> Tensor {
    let k = b.shape()[b.dim() - 1];
    let mut s = dims_i64(&perm.shape());
    s.push(k as i64);
    b.take_along_dim(&perm.unsqueeze(-1).expand(&s), Some(-2))
}
