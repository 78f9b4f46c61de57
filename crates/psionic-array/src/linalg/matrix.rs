//! Functions of matrices built on the factorizations: norms, condition number, rank,
//! pseudo-inverse, powers, exponential, and the small helpers of `torch.linalg`.

use super::factor::svdvals;
use super::solve::{inv, solve};
use super::{check_matrix, eye_like};
use crate::mode::raise;
use crate::ops::args::dims_i64;
use crate::ops::reduce::NormOrd;
use crate::tensor::Tensor;
use psionic_core::{normalize_dim, DType, Error};

/// A matrix norm's `ord` (`torch.linalg.matrix_norm`/`norm`): Frobenius, nuclear, or a
/// number (`inf`, `-inf`, 1, -1, 2, -2 for matrices; any for vectors).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MatrixOrd {
    Fro,
    Nuc,
    P(f64),
}

fn vec_ord(p: f64) -> NormOrd {
    if p == f64::INFINITY {
        NormOrd::Inf
    } else if p == f64::NEG_INFINITY {
        NormOrd::NegInf
    } else {
        NormOrd::P(p)
    }
}

/// `torch.linalg.vector_norm(x, ord, dim, keepdim)`; `dim = None` is every dim.
#[track_caller]
pub fn vector_norm(x: &Tensor, ord: f64, dim: Option<&[i64]>, keepdim: bool) -> Tensor {
    if !x.dtype().is_float() {
        raise(Error::dtype(
            "linalg.vector_norm",
            format!("Expected a floating point or complex tensor as input. Got {}", x.dtype().name()),
        ));
    }
    x.norm(vec_ord(ord), dim.unwrap_or(&[]).to_vec(), keepdim)
}

/// The two matrix dims, normalized and checked distinct.
fn matrix_dims(x: &Tensor, dim: (i64, i64)) -> (usize, usize) {
    let nd = x.dim();
    let (r, c) = (
        crate::mode::check(normalize_dim("linalg.matrix_norm", dim.0, nd)),
        crate::mode::check(normalize_dim("linalg.matrix_norm", dim.1, nd)),
    );
    if r == c {
        raise(Error::invalid("linalg.matrix_norm", "dims must be different"));
    }
    (r, c)
}

/// `torch.linalg.matrix_norm(A, ord, dim, keepdim)` (PyTorch's default `dim` is `(-2, -1)`).
#[track_caller]
pub fn matrix_norm(a: &Tensor, ord: MatrixOrd, dim: (i64, i64), keepdim: bool) -> Tensor {
    if !a.dtype().is_float() || a.dim() < 2 {
        check_matrix("linalg.matrix_norm", a, false);
    }
    let (r, c) = matrix_dims(a, dim);
    let (ri, ci) = (r as i64, c as i64);
    let out = match ord {
        MatrixOrd::Fro => return a.norm(NormOrd::P(2.0), vec![ri, ci], keepdim),
        MatrixOrd::Nuc | MatrixOrd::P(2.0) | MatrixOrd::P(-2.0) => {
            check_matrix("linalg.matrix_norm", a, false);
            let moved = a.movedim(&[ri, ci], &[-2, -1]);
            let s = svdvals(&moved);
            let v = match ord {
                MatrixOrd::Nuc => s.sum(-1, false),
                MatrixOrd::P(p) if p > 0.0 => s.amax(-1, false),
                _ => s.amin(-1, false),
            };
            if !keepdim {
                return v;
            }
            let (lo, hi) = (r.min(c) as i64, r.max(c) as i64);
            return v.unsqueeze(lo).unsqueeze(hi);
        }
        // Max (min) absolute column sum for 1 (-1); row sum for inf (-inf).
        MatrixOrd::P(p) if p.abs() == 1.0 || p.is_infinite() => {
            let (sum_dim, pick_dim) = if p.abs() == 1.0 { (ri, ci) } else { (ci, ri) };
            let sums = a.abs().sum(vec![sum_dim], true);
            if p > 0.0 {
                sums.amax(vec![pick_dim], true)
            } else {
                sums.amin(vec![pick_dim], true)
            }
        }
        MatrixOrd::P(p) => raise(Error::invalid("linalg.matrix_norm", format!("Order {p} not supported."))),
    };
    if keepdim {
        out
    } else {
        out.squeeze_dims(&[ri, ci])
    }
}

/// `torch.linalg.norm(x, ord, dim, keepdim)`: a matrix norm when `ord` is Frobenius or
/// nuclear or `dim` names two dims (or `x` is 2-d with `ord` given and no `dim`), else a
/// vector norm (`ord = None`: the 2-norm of the flattened input).
#[track_caller]
pub fn norm(x: &Tensor, ord: Option<MatrixOrd>, dim: Option<&[i64]>, keepdim: bool) -> Tensor {
    let matrix_dim = match dim {
        Some([r, c]) => Some((*r, *c)),
        None if ord.is_some() && x.dim() == 2 => Some((-2, -1)),
        _ => None,
    };
    match (ord, matrix_dim) {
        (Some(o), Some(d)) => matrix_norm(x, o, d, keepdim),
        (None, Some(d)) => matrix_norm(x, MatrixOrd::Fro, d, keepdim),
        (Some(MatrixOrd::P(p)), None) => vector_norm(x, p, dim, keepdim),
        (None, None) => vector_norm(x, 2.0, dim, keepdim),
        (Some(o), None) => raise(Error::invalid(
            "linalg.norm",
            format!("If dim is not specified but ord is, the input must be 1D or 2D. Got {o:?} on {}-d input", x.dim()),
        )),
    }
}

/// `torch.linalg.cond(A, p)`: `p = None` is the 2-norm ratio of extreme singular values.
#[track_caller]
pub fn cond(a: &Tensor, p: Option<MatrixOrd>) -> Tensor {
    check_matrix("linalg.cond", a, false);
    match p.unwrap_or(MatrixOrd::P(2.0)) {
        MatrixOrd::P(q) if q.abs() == 2.0 => {
            let s = svdvals(a);
            let (hi, lo) = (s.amax(-1, false), s.amin(-1, false));
            if q > 0.0 {
                hi / lo
            } else {
                lo / hi
            }
        }
        o => {
            check_matrix("linalg.cond", a, true);
            matrix_norm(a, o, (-2, -1), false) * matrix_norm(&inv(a), o, (-2, -1), false)
        }
    }
}

/// Default and given tolerances as PyTorch combines them: `max(atol, rtol * largest)`,
/// with `rtol = eps * max(m, n)` when neither is given (and 0 when only `atol` is).
pub(super) fn tolerance(a: &Tensor, largest: &Tensor, atol: Option<f64>, rtol: Option<f64>) -> Tensor {
    let s = a.shape();
    let eps = if a.dtype() == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
    let rtol = match (atol, rtol) {
        (_, Some(r)) => r,
        (Some(at), None) if at > 0.0 => 0.0,
        _ => eps * s[s.len() - 2].max(s[s.len() - 1]) as f64,
    };
    (largest * rtol).maximum(atol.unwrap_or(0.0))
}

/// `torch.linalg.matrix_rank(A, atol, rtol, hermitian)` (i64).
#[track_caller]
pub fn matrix_rank(a: &Tensor, atol: Option<f64>, rtol: Option<f64>, hermitian: bool) -> Tensor {
    check_matrix("linalg.matrix_rank", a, hermitian);
    let s = if hermitian { super::factor::eigvalsh(a, false).abs() } else { svdvals(a) };
    if s.numel() == 0 {
        return Tensor::zeros(&s.shape()[..s.dim() - 1], DType::I64);
    }
    let tol = tolerance(a, &s.amax(-1, true), atol, rtol);
    s.gt(&tol).to_dtype(DType::I64).sum(-1, false)
}

/// `torch.linalg.matrix_power(A, n)`: repeated squaring (negative `n` inverts first).
#[track_caller]
pub fn matrix_power(a: &Tensor, n: i64) -> Tensor {
    let s = a.shape();
    if s.len() < 2 || s[s.len() - 1] != s[s.len() - 2] {
        raise(Error::shape("linalg.matrix_power", format!("A must be batches of square matrices, got {s:?}")));
    }
    if n == 0 {
        // Identity, still connected to `a` (with a zero gradient) as in PyTorch.
        return eye_like(a) + a.narrow(-1, 0, 0).sum(vec![-1], true);
    }
    let mut z = if n < 0 { inv(a) } else { a.clone() };
    let mut k = n.unsigned_abs();
    if k == 1 {
        return if n < 0 { z } else { z.deep_clone() };
    }
    // PyTorch's order of products, so rounding matches.
    let mut result: Option<Tensor> = None;
    while k > 0 {
        if k & 1 == 1 {
            result = Some(match result {
                Some(r) => r.matmul(&z),
                None => z.clone(),
            });
        }
        k >>= 1;
        if k > 0 {
            z = z.matmul(&z);
        }
    }
    result.expect("n != 0")
}

/// `torch.linalg.cross(a, b, dim)`: the 3-vector cross product along `dim` (size 3),
/// broadcasting the other dims.
#[track_caller]
pub fn cross(a: &Tensor, b: &Tensor, dim: i64) -> Tensor {
    let shape = crate::mode::check(psionic_core::broadcast_shapes("linalg.cross", &a.shape(), &b.shape()));
    let (a, b) = (a.broadcast_to(&shape), b.broadcast_to(&shape));
    let d = crate::mode::check(normalize_dim("linalg.cross", dim, shape.len()));
    if shape[d] != 3 {
        raise(Error::shape(
            "linalg.cross",
            format!("inputs dimension {dim} must have length 3. Got {} and {}", shape[d], shape[d]),
        ));
    }
    let c = |t: &Tensor, i: i64| t.narrow(d as i64, i, 1);
    let comp = |i: i64, j: i64| &c(&a, i) * &c(&b, j) - &c(&a, j) * &c(&b, i);
    Tensor::cat(&[&comp(1, 2), &comp(2, 0), &comp(0, 1)], d as i64)
}

/// `torch.linalg.vecdot(x, y, dim)`: `sum(x * y, dim)` with broadcasting.
#[track_caller]
pub fn vecdot(x: &Tensor, y: &Tensor, dim: i64) -> Tensor {
    (x * y).sum(vec![dim], false)
}

/// `torch.linalg.multi_dot`: the chained product; the first argument may be a row vector
/// and the last a column vector (1-d).
#[track_caller]
pub fn multi_dot(tensors: &[&Tensor]) -> Tensor {
    if tensors.len() < 2 {
        raise(Error::invalid(
            "linalg.multi_dot",
            format!("multi_dot(): expected at least 2 tensors but got {}", tensors.len()),
        ));
    }
    let last = tensors.len() - 1;
    let first_vec = tensors[0].dim() == 1;
    let last_vec = tensors[last].dim() == 1;
    let mut ms: Vec<Tensor> = tensors.iter().map(|t| (*t).clone()).collect();
    if first_vec {
        ms[0] = ms[0].unsqueeze(0);
    }
    if last_vec {
        ms[last] = ms[last].unsqueeze(-1);
    }
    for (i, m) in ms.iter().enumerate() {
        if m.dim() != 2 {
            raise(Error::shape(
                "linalg.multi_dot",
                format!("multi_dot(): tensor {i} must be 2D but got {}D", tensors[i].dim()),
            ));
        }
    }
    let mut r = ms[0].clone();
    for m in &ms[1..] {
        r = r.mm(m);
    }
    match (first_vec, last_vec) {
        (true, true) => r.reshape(&[]),
        (true, false) => r.squeeze_dims(&[0]),
        (false, true) => r.squeeze_dims(&[-1]),
        _ => r,
    }
}

/// `torch.linalg.diagonal(A, offset, dim1, dim2)`.
#[track_caller]
pub fn diagonal(a: &Tensor, offset: i64, dim1: i64, dim2: i64) -> Tensor {
    a.diagonal(offset, dim1, dim2)
}

/// `torch.linalg.vander(x, N)`: columns `x^0, x^1, ..., x^(N-1)` (N defaults to x's size).
#[track_caller]
pub fn vander(x: &Tensor, n: Option<usize>) -> Tensor {
    // A 0-d input is a one-element vector (as in PyTorch).
    let x = if x.dim() == 0 { x.unsqueeze(0) } else { x.clone() };
    let n = n.unwrap_or(x.shape()[x.dim() - 1]);
    let mut s = dims_i64(&x.shape());
    s.push(1);
    let ones = x.unsqueeze(-1).ones_like();
    if n <= 1 {
        return ones.narrow(-1, 0, n);
    }
    *s.last_mut().unwrap() = n as i64 - 1;
    let powers = x.unsqueeze(-1).expand(&s).cumprod(-1);
    Tensor::cat(&[&ones, &powers], -1)
}

/// `torch.linalg.tensorinv(A, ind)`: the inverse with respect to `tensordot` over `ind` dims.
#[track_caller]
pub fn tensorinv(a: &Tensor, ind: usize) -> Tensor {
    let s = a.shape();
    if ind == 0 || ind > s.len() {
        raise(Error::invalid(
            "linalg.tensorinv",
            format!("Expected a strictly positive integer for 'ind', but got {ind}"),
        ));
    }
    let (rows, cols) = (psionic_core::numel(&s[..ind]), psionic_core::numel(&s[ind..]));
    if rows != cols {
        raise(Error::shape("linalg.tensorinv", format!("Expected self to satisfy the requirement prod(self.shape[ind:]) == prod(self.shape[:ind]), but got {cols} != {rows}")));
    }
    let out = dims_i64(&[&s[ind..], &s[..ind]].concat());
    inv(&a.reshape(&[rows as i64, cols as i64])).reshape(&out)
}

/// `torch.linalg.tensorsolve(A, B, dims)`: `X` with `tensordot(A, X, X.ndim) = B`; `dims`
/// of `A` are moved to the end first.
#[track_caller]
pub fn tensorsolve(a: &Tensor, b: &Tensor, dims: Option<&[i64]>) -> Tensor {
    let a = match dims {
        Some(d) if !d.is_empty() => {
            let nd = a.dim() as i64;
            let dest: Vec<i64> = (nd - d.len() as i64..nd).collect();
            a.movedim(d, &dest)
        }
        _ => a.clone(),
    };
    let s = a.shape();
    let bd = b.dim();
    let rest = dims_i64(&s[bd.min(s.len())..]);
    let (rows, cols) = (b.numel(), psionic_core::numel(&s[bd.min(s.len())..]));
    if rows != cols {
        raise(Error::shape("linalg.tensorsolve", format!("Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == prod(self.shape[:other.ndim]), but got {cols} != {rows}")));
    }
    solve(&a.reshape(&[rows as i64, cols as i64]), &b.reshape(&[-1]), true).reshape(&rest)
}
