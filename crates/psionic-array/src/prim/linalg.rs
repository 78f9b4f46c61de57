//! vjp rules of the `Linalg` primitives (factorizations and triangular solves). Each
//! rule unpacks the cotangent of the packed output into the factors' cotangents and
//! applies the standard formula (Murray 2016; Seeger et al. 2017; Townsend 2016 for
//! the SVD), written with Tensor ops so it can be differentiated again. A factor that is
//! not used has a zero cotangent; the rules keep zero terms zero even where the
//! formula divides by a gap between equal eigen- or singular values.

use super::{BatchCtx, Jvp, JvpCtx, Meta, Primitive, Saves, VjpCtx};
use crate::linalg::{eig_vjp, parts, permute_rows, solve_triangular, unpack};
use crate::tensor::Tensor;
use psionic_core::ops::LinalgOp;
use psionic_core::{DType, Error, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

impl Primitive for LinalgOp {
    fn backward_name(&self) -> Cow<'static, str> {
        match self {
            LinalgOp::Cholesky => "LinalgCholeskyEx",
            LinalgOp::LuFactor => "LinalgLuFactorEx",
            LinalgOp::TriangularSolve { .. } => "LinalgSolveTriangular",
            LinalgOp::Qr { .. } => "LinalgQr",
            LinalgOp::Eigh { .. } => "LinalgEigh",
            LinalgOp::Eig => "LinalgEig",
            LinalgOp::Svd { .. } => "LinalgSvd",
            LinalgOp::PivotPermutation { .. } => "LuUnpack",
        }
        .into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        linalg_meta(*self, inputs)
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], out: &Meta) -> Result<CpuArray> {
        psionic_linalg::eval(*self, inputs, &out.shape)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        vjp(*self, c.x, c.y, c.g)
    }
    /// The factorizations' tangents are the transposes of their vjp rules; pivots do
    /// not vary.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        match self {
            LinalgOp::PivotPermutation { .. } => super::zero_tangent(c),
            LinalgOp::Cholesky
            | LinalgOp::LuFactor
            | LinalgOp::TriangularSolve { .. }
            | LinalgOp::Qr { .. }
            | LinalgOp::Eigh { .. }
            | LinalgOp::Eig
            | LinalgOp::Svd { .. } => Ok(Jvp::Transpose),
        }
    }
    /// Batching passes the batch through as one more leading dim.
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        c.same(&c.all_full())
    }
    fn saves(&self) -> Saves {
        Saves::of(0b11, true)
    }
}

/// Output of a linalg primitive: the batch dims, then the packed parts (or, for a
/// triangular solve, `B`'s matrix shape; for pivots, the permuted rows).
fn linalg_meta(op: LinalgOp, inputs: &[&Meta]) -> Result<Meta> {
    let a = &inputs[0].shape;
    if let LinalgOp::PivotPermutation { m } = op {
        let mut shape = a[..a.len().saturating_sub(1)].to_vec();
        shape.push(m);
        return Ok(Meta::new(shape, DType::I64));
    }
    let name = op.name();
    let dtype = super::same_dtype(name, inputs)?;
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(Error::dtype(
            name,
            format!("Expected a floating point tensor of float or double dtype as input. Got {dtype}"),
        ));
    }
    if a.len() < 2 {
        return Err(Error::shape(name, format!("The input tensor A must have at least 2 dimensions, got shape {a:?}")));
    }
    let (batch, m, n) = (&a[..a.len() - 2], a[a.len() - 2], a[a.len() - 1]);
    let square =
        matches!(op, LinalgOp::Cholesky | LinalgOp::Eigh { .. } | LinalgOp::Eig | LinalgOp::TriangularSolve { .. });
    if square && m != n {
        return Err(Error::shape(
            name,
            format!("A must be batches of square matrices, but they are {m} by {n} matrices"),
        ));
    }
    if let LinalgOp::TriangularSolve { left, .. } = op {
        let b = &inputs[1].shape;
        let ok = b.len() == a.len() && b[..b.len() - 2] == *batch && b[b.len() - if left { 2 } else { 1 }] == n;
        if !ok {
            return Err(Error::shape(
                name,
                format!(
                    "Incompatible shapes of A and B for the equation {}: {a:?} and {b:?}",
                    if left { "AX = B" } else { "XA = B" }
                ),
            ));
        }
        return Ok(Meta::new(b.clone(), dtype));
    }
    let mut shape = batch.to_vec();
    shape.push(op.parts(m, n).iter().map(|p| psionic_core::numel(p)).sum());
    Ok(Meta::new(shape, dtype))
}

fn vjp(op: LinalgOp, x: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let s = x[0].shape();
    let (m, n) = (s[s.len() - 2], s[s.len() - 1]);
    let ys = || unpack(op, y, m, n);
    let gs = || unpack(op, g, m, n);
    Ok(match op {
        LinalgOp::PivotPermutation { .. } => vec![None],
        LinalgOp::Cholesky => vec![Some(cholesky(&ys()[0], &gs()[0]))],
        LinalgOp::LuFactor => {
            let (y, g) = (ys(), gs());
            vec![Some(lu(&y[0], &y[1], &g[0], m, n))]
        }
        LinalgOp::TriangularSolve { upper, left, unit } => {
            let (ga, gb) = triangular_solve(&x[0], y, g, upper, left, unit);
            vec![Some(ga), Some(gb)]
        }
        LinalgOp::Qr { complete } => {
            if complete && m > n {
                return Err(Error::invalid(
                    "linalg.qr",
                    "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr. (The QR decomposition is not differentiable when mode='complete' and nrows > ncols.)",
                ));
            }
            let (y, g) = (ys(), gs());
            vec![Some(qr(&x[0], &y[0], &y[1], &g[0], &g[1], m, n))]
        }
        LinalgOp::Eigh { vectors } => {
            let g = gs();
            let (w, v) = if vectors {
                let y = ys();
                (y[0].clone(), y[1].clone())
            } else {
                let p = parts(LinalgOp::Eigh { vectors: true }, &[&x[0]]);
                (p[0].clone(), p[1].clone())
            };
            let gv = if vectors { Some(&g[1]) } else { None };
            vec![Some(eigh(&w, &v, &g[0], gv))]
        }
        LinalgOp::Eig => {
            let (y, g) = (ys(), gs());
            vec![Some(eig_vjp(&y[0], &y[1], &g[0], &g[1])?)]
        }
        LinalgOp::Svd { full, vectors } => {
            let k = m.min(n);
            let g = gs();
            let (u, sv, vh, gu, gvh) = if vectors {
                let y = ys();
                // Extra columns of a full U (rows of Vh) are not determined by A.
                let narrow = |t: &Tensor, d: i64| if full { t.narrow(d, 0, k) } else { t.clone() };
                (narrow(&y[0], -1), y[1].clone(), narrow(&y[2], -2), Some(narrow(&g[0], -1)), Some(narrow(&g[2], -2)))
            } else {
                let p = parts(LinalgOp::Svd { full: false, vectors: true }, &[&x[0]]);
                (p[0].clone(), p[1].clone(), p[2].clone(), None, None)
            };
            let gsv = if vectors { &g[1] } else { &g[0] };
            vec![Some(svd(&u, &sv, &vh, gsv, gu.as_ref(), gvh.as_ref(), m, n))]
        }
    })
}

/// Lower triangle with the diagonal halved (the adjoint of `L^-1 dL` in `dA = dL L^T + L dL^T`).
fn phi(x: &Tensor) -> Tensor {
    x.tril(-1) + x.diagonal(0, -2, -1).mul(0.5).diag_embed(0, -2, -1)
}

/// `A = L L^T`: `gA = sym(L^-T phi(L^T gL) L^-1)`, symmetrized as PyTorch does.
fn cholesky(l: &Tensor, gl: &Tensor) -> Tensor {
    let p = phi(&l.mT().matmul(&gl.tril(0)));
    let left = solve_triangular(&l.mT(), &p, true, true, false);
    let ga = solve_triangular(l, &left, false, false, false);
    (&ga + &ga.mT()).mul(0.5)
}

/// Packed `P A = L U` with cotangent `glu`: the square formula
/// `gA = P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T`, with the extra block of a wide
/// U or tall L carried through its own linear map.
fn lu(lu: &Tensor, pivots: &Tensor, glu: &Tensor, m: usize, n: usize) -> Tensor {
    let k = m.min(n);
    let ki = k as i64;
    let l = lu.narrow(-1, 0, k).tril(-1) + Tensor::eye(m, Some(k), lu.dtype());
    let u = lu.narrow(-2, 0, k).triu(0);
    let gl = glu.narrow(-1, 0, k).tril(-1);
    let gu = glu.narrow(-2, 0, k).triu(0);
    let square = |l1: &Tensor, u1: &Tensor, gl1: &Tensor, gu1: &Tensor| {
        let phi = l1.mT().matmul(gl1).tril(-1) + gu1.matmul(&u1.mT()).triu(0);
        let x = solve_triangular(&l1.mT(), &phi, true, true, true);
        solve_triangular(&u1.mT(), &x, false, false, false)
    };
    let gpa = if m == n {
        square(&l, &u, &gl, &gu)
    } else if m < n {
        // U = [U1 U2], U2 = L^-1 (P^T A)_2.
        let (u1, u2) = (u.narrow(-1, 0, k), u.narrow(-1, ki, n - k));
        let (gu1, gu2) = (gu.narrow(-1, 0, k), glu.narrow(-1, ki, n - k));
        let linv_gu2 = solve_triangular(&l.mT(), &gu2, true, true, true);
        let gl_eff = (&gl - &linv_gu2.matmul(&u2.mT())).tril(-1);
        Tensor::cat(&[&square(&l, &u1, &gl_eff, &gu1), &linv_gu2], -1)
    } else {
        // L = [L1; L2], L2 = (P^T A)_2 U^-1.
        let (l1, l2) = (l.narrow(-2, 0, k), l.narrow(-2, ki, m - k));
        let (gl1, gl2) = (gl.narrow(-2, 0, k), glu.narrow(-2, ki, m - k));
        let gl2_uinv = solve_triangular(&u.mT(), &gl2, false, false, false);
        let gu_eff = (&gu - &l2.mT().matmul(&gl2_uinv)).triu(0);
        Tensor::cat(&[&square(&l1, &u, &gl1, &gu_eff), &gl2_uinv], -2)
    };
    // Row i of P^T A is row perm[i] of A: scatter the rows back.
    let perm = crate::linalg::permutation(pivots, m);
    permute_rows(&gpa, &perm.argsort(-1, false))
}

/// `X = A^-1 B` (or `B A^-1`): `gB = A^-T gX` (or `gX A^-T`), `gA = -gB X^T` (or
/// `-X^T gB`) on A's triangle.
fn triangular_solve(a: &Tensor, x: &Tensor, gx: &Tensor, upper: bool, left: bool, unit: bool) -> (Tensor, Tensor) {
    let gb = solve_triangular(&a.mT(), gx, !upper, left, unit);
    let ga = if left { -gb.matmul(&x.mT()) } else { -x.mT().matmul(&gb) };
    let off = if unit { 1 } else { 0 };
    let ga = if upper { ga.triu(off) } else { ga.tril(-off) };
    (ga, gb)
}

/// `A = Q R` with `m >= n`: `gA = (gQ + Q (Z - Q^T gQ)) R^-T` with
/// `Z = gR R^T + tril(N - N^T, -1)`, `N = Q^T gQ - gR R^T`.
fn qr_tall(q: &Tensor, r: &Tensor, gq: &Tensor, gr: &Tensor) -> Tensor {
    let qtgq = q.mT().matmul(gq);
    let grrt = gr.matmul(&r.mT());
    let nn = &qtgq - &grrt;
    let z = &grrt + &(&nn - &nn.mT()).tril(-1);
    let lhs = gq + &q.matmul(&(&z - &qtgq));
    // lhs R^-T: solve X R^T = lhs.
    solve_triangular(&r.mT(), &lhs, false, false, false)
}

/// `A = Q R`; a wide A's trailing block `R2 = Q^T A2` gets `gA2 = Q gR2` and feeds `gQ`.
fn qr(a: &Tensor, q: &Tensor, r: &Tensor, gq: &Tensor, gr: &Tensor, m: usize, n: usize) -> Tensor {
    if m >= n {
        return qr_tall(q, r, gq, gr);
    }
    let (r1, gr1, gr2) = (r.narrow(-1, 0, m), gr.narrow(-1, 0, m), gr.narrow(-1, m as i64, n - m));
    let gq_eff = gq + &a.narrow(-1, m as i64, n - m).matmul(&gr2.mT());
    Tensor::cat(&[&qr_tall(q, &r1, &gq_eff, &gr1), &q.matmul(&gr2)], -1)
}

/// `K / E` off the diagonal, 0 on it and wherever `K` is 0 (so an unused factor adds
/// nothing even across equal values).
fn gap_divide(k: &Tensor, e: &Tensor) -> Tensor {
    let nn = k.shape()[k.dim() - 1];
    let keep = k.ne(0.0).logical_and(Tensor::eye(nn, None, psionic_core::DType::Bool).logical_not());
    // The masked-out gaps are replaced before dividing, so differentiating this rule
    // (double backward, and jvp as its transpose) never multiplies 0 by 1/0.
    let safe = Tensor::where_(&keep, e, 1.0);
    Tensor::where_(&keep, &(k / &safe), 0.0)
}

/// `A = V diag(w) V^T`: `gA = V (diag(gw) + F o (V^T gV)) V^T`, `F_ij = 1/(w_j - w_i)`.
fn eigh(w: &Tensor, v: &Tensor, gw: &Tensor, gv: Option<&Tensor>) -> Tensor {
    let mut inner = gw.diag_embed(0, -2, -1);
    if let Some(gv) = gv {
        let k = v.mT().matmul(gv);
        let e = &w.unsqueeze(-2) - &w.unsqueeze(-1);
        inner = &inner + &gap_divide(&k, &e);
    }
    v.matmul(&inner).matmul(&v.mT())
}

/// `A = U diag(S) Vh` (reduced): `gA = U gP Vh` with
/// `gP = diag(gS) + (F o skew(U^T gU)) S + S (F o skew(Vh gVh^T))`, `F_ij = 1/(s_j^2 - s_i^2)`,
/// plus the components of `gU` outside U's span (tall) and of `gVh` outside Vh's (wide).
fn svd(
    u: &Tensor,
    s: &Tensor,
    vh: &Tensor,
    gs: &Tensor,
    gu: Option<&Tensor>,
    gvh: Option<&Tensor>,
    m: usize,
    n: usize,
) -> Tensor {
    let k = m.min(n);
    let mut gp = gs.diag_embed(0, -2, -1);
    let (Some(gu), Some(gvh)) = (gu, gvh) else {
        return u.matmul(&gp).matmul(vh);
    };
    let s2 = s.square();
    let e = &s2.unsqueeze(-2) - &s2.unsqueeze(-1);
    let ju = u.mT().matmul(gu);
    let jv = vh.matmul(&gvh.mT());
    let row = s.unsqueeze(-2);
    let col = s.unsqueeze(-1);
    gp = &gp + &(&gap_divide(&(&ju - &ju.mT()), &e) * &row);
    gp = &gp + &(&col * &gap_divide(&(&jv - &jv.mT()), &e));
    let mut ga = u.matmul(&gp).matmul(vh);
    if m > k {
        let out = gu - &u.matmul(&ju);
        ga = &ga + &(&out / &row).matmul(vh);
    }
    if n > k {
        let out = gvh - &jv.mT().matmul(vh);
        ga = &ga + &u.matmul(&(&out / &col));
    }
    ga
}
