//! `torch.linalg.pinv`. The value comes from the SVD (or eigh); the derivatives do not:
//! through the SVD they would divide by gaps between singular values, which vanish for
//! the rank-deficient matrices a pseudo-inverse is for. Instead, as PyTorch does, pinv
//! is a function with its own rules, the derivative of the pseudo-inverse at constant
//! rank (Golub & Pereyra 1973):
//! `dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P`.
//! The rules are Tensor ops on `A` and `P`, so they differentiate again.

use super::check_matrix;
use super::factor::{eigh, svd};
use super::matrix::tolerance;
use crate::autodiff::CustomFunction;
use crate::tensor::Tensor;

/// `torch.linalg.pinv(A, atol, rtol, hermitian)`: values below the tolerance count as zero.
#[track_caller]
pub fn pinv(a: &Tensor, atol: Option<f64>, rtol: Option<f64>, hermitian: bool) -> Tensor {
    check_matrix("linalg.pinv", a, hermitian);
    CustomFunction::new("linalg.pinv", move |x| vec![value(&x[0], atol, rtol, hermitian)])
        .with_vjp(|x, g, p| vec![Some(vjp(&x[0], &p[0], &g[0]))])
        .with_jvp(move |x, t| {
            let p = pinv(&x[0], atol, rtol, hermitian);
            vec![jvp(&x[0], &p, &t[0])]
        })
        .with_vmap(move |x, axes| {
            // Batch dims lead; the pseudo-inverse maps each matrix on its own.
            let a = match axes[0] {
                Some(ax) => x[0].movedim(&[ax as i64], &[0]),
                None => x[0].clone(),
            };
            (vec![pinv(&a, atol, rtol, hermitian)], vec![axes[0].map(|_| 0)])
        })
        .call(std::slice::from_ref(a))
        .remove(0)
}

/// The pseudo-inverse from the SVD (or, for a symmetric `a`, eigh).
fn value(a: &Tensor, atol: Option<f64>, rtol: Option<f64>, hermitian: bool) -> Tensor {
    let keep = |s: &Tensor, mag: &Tensor| {
        if s.numel() == 0 {
            return s.clone();
        }
        let tol = tolerance(a, &mag.amax(-1, true), atol, rtol);
        Tensor::where_(&mag.gt(&tol), s.reciprocal(), 0.0)
    };
    if hermitian {
        let (w, v) = eigh(a, false);
        let wi = keep(&w, &w.abs());
        (&v * &wi.unsqueeze(-2)).matmul(&v.mT())
    } else {
        let (u, s, vh) = svd(a, false);
        let si = keep(&s, &s);
        (&vh.mT() * &si.unsqueeze(-2)).matmul(&u.mT())
    }
}

/// `dP` for a tangent `da` (the formula above). `(I - A P) X` is `X - A (P X)`, so no
/// identity is built.
fn jvp(a: &Tensor, p: &Tensor, da: &Tensor) -> Tensor {
    let dat = da.mT();
    let left = p.matmul(&p.mT()).matmul(&dat);
    let right = dat.matmul(&p.mT()).matmul(p);
    let inner = &(&left - &left.matmul(a).matmul(p)) + &(&right - &p.matmul(a).matmul(&right));
    &inner - &p.matmul(da).matmul(p)
}

/// The adjoint of [`jvp`] at cotangent `g`:
/// `gA = -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A)`.
fn vjp(a: &Tensor, p: &Tensor, g: &Tensor) -> Tensor {
    let (pt, gt) = (p.mT(), g.mT());
    let x = gt.matmul(p).matmul(&pt);
    let y = pt.matmul(p).matmul(&gt);
    let inner = &(&x - &a.matmul(&p.matmul(&x))) + &(&y - &y.matmul(p).matmul(a));
    &inner - &pt.matmul(g).matmul(&pt)
}
