//! `torch.linalg` (and the legacy `torch.*` spellings): factorizations, solvers,
//! determinants, norms and matrix functions.

use super::{unsupported, Call, R};
use crate::value::Value;
use psionic_array::linalg::{self, MatrixOrd, QrMode};
use psionic_array::{DType, Tensor};

fn string<'a>(c: &'a Call, i: usize, name: &str) -> R<Option<&'a str>> {
    match c.param(i, name) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => unsupported(format!("{name} is not a string")),
    }
}

/// A norm order: a number (including inf) or "fro"/"nuc".
fn ord(v: Option<&Value>) -> R<Option<MatrixOrd>> {
    Ok(match v {
        None | Some(Value::None) => None,
        Some(Value::Str(s)) if s == "fro" => Some(MatrixOrd::Fro),
        Some(Value::Str(s)) if s == "nuc" => Some(MatrixOrd::Nuc),
        Some(v) => Some(MatrixOrd::P(v.f64()?)),
    })
}

fn dims(v: Option<&Value>) -> R<Option<Vec<i64>>> {
    match v {
        None | Some(Value::None) => Ok(None),
        Some(v) => v.ints().map(Some),
    }
}

fn pair(d: &[i64]) -> R<(i64, i64)> {
    match d {
        [a, b] => Ok((*a, *b)),
        _ => unsupported("matrix norm over other than two dims"),
    }
}

pub(super) fn call(c: &Call) -> Option<R<Vec<Tensor>>> {
    let op = c.op.strip_prefix("linalg.").unwrap_or(c.op);
    let legacy = op.len() == c.op.len();
    // Unprefixed names that are another table's (norm, diagonal) or not torch.* functions.
    if legacy && matches!(op, "norm" | "diagonal" | "cholesky" | "qr" | "det" | "slogdet" | "inv" | "solve" | "eig") {
        return None;
    }
    run(c, op, legacy).transpose()
}

/// The shared arguments of the three norms: `(dim, keepdim)`.
fn norm_args(c: &Call) -> R<(Option<Vec<i64>>, bool)> {
    c.only(3, &["ord", "dim", "keepdim", "dtype"])?;
    if c.kwargs.contains_key("dtype") {
        return unsupported("norm with dtype");
    }
    Ok((dims(c.param(1, "dim"))?, c.flag(2, "keepdim", false)?))
}

/// The call's outputs, or `None` when `op` is not in this table.
fn run(c: &Call, op: &str, legacy: bool) -> R<Option<Vec<Tensor>>> {
    if op == "multi_dot" {
        let Value::List(items) = c.input else { return unsupported("multi_dot input is not a list") };
        let ts: Vec<&Tensor> = items
            .iter()
            .map(|v| v.as_tensor().ok_or(()))
            .collect::<Result<_, _>>()
            .or_else(|_| unsupported("multi_dot item"))?;
        return Ok(Some(vec![linalg::multi_dot(&ts)]));
    }
    let Ok(x) = c.x() else { return Ok(None) };
    let upper = |default: bool| c.kw_flag("upper", default);
    Ok(Some(match op {
        "cholesky" => {
            c.only(0, &["upper"])?;
            vec![linalg::cholesky(x, upper(false)?)]
        }
        "cholesky_ex" => {
            c.only(0, &["upper"])?;
            let (l, info) = linalg::cholesky_ex(x, upper(false)?);
            vec![l, info]
        }
        "cholesky_solve" => {
            c.only(2, &["upper"])?;
            vec![linalg::cholesky_solve(x, c.tensor(0, "input2")?, c.flag(1, "upper", false)?)]
        }
        "cholesky_inverse" => {
            c.only(1, &["upper"])?;
            vec![linalg::cholesky_inverse(x, c.flag(0, "upper", false)?)]
        }
        "lu_factor" | "lu_factor_ex" => {
            c.only(0, &["pivot"])?;
            if !c.kw_flag("pivot", true)? {
                return unsupported("LU without pivoting (CUDA only in PyTorch)");
            }
            let (lu, piv, info) = linalg::lu_factor_ex(x);
            if op == "lu_factor" {
                vec![linalg::lu_factor(x).0, piv]
            } else {
                vec![lu, piv, info]
            }
        }
        "lu" if legacy => {
            c.only(2, &["pivot", "get_infos"])?;
            if !c.flag(0, "pivot", true)? {
                return unsupported("LU without pivoting (CUDA only in PyTorch)");
            }
            let (lu, piv, info) = linalg::lu_factor_ex(x);
            if c.flag(1, "get_infos", false)? {
                vec![lu, piv, info]
            } else {
                vec![lu, piv]
            }
        }
        "lu" => {
            c.only(0, &["pivot"])?;
            let (p, l, u) = linalg::lu(x);
            vec![p, l, u]
        }
        "lu_unpack" => {
            c.only(1, &["unpack_data", "unpack_pivots"])?;
            let (p, l, u) = linalg::lu_unpack(x, c.tensor(0, "pivots")?);
            vec![p, l, u]
        }
        "lu_solve" if legacy => {
            c.only(2, &[])?;
            vec![linalg::lu_solve(c.tensor(0, "LU_data")?, c.tensor(1, "LU_pivots")?, x, true, false)]
        }
        "lu_solve" => {
            c.only(2, &["left", "adjoint"])?;
            vec![linalg::lu_solve(
                x,
                c.tensor(0, "pivots")?,
                c.tensor(1, "B")?,
                c.kw_flag("left", true)?,
                c.kw_flag("adjoint", false)?,
            )]
        }
        "qr" => {
            c.only(1, &["mode"])?;
            let mode = string(c, 0, "mode")?.unwrap_or("reduced");
            let Some(mode) = QrMode::from_name(mode) else { return unsupported(format!("qr mode {mode}")) };
            let (q, r) = linalg::qr(x, mode);
            vec![q, r]
        }
        "eigh" | "eigvalsh" => {
            c.only(1, &["UPLO"])?;
            let up = string(c, 0, "UPLO")?.unwrap_or("L") == "U";
            if op == "eigh" {
                let (w, v) = linalg::eigh(x, up);
                vec![w, v]
            } else {
                vec![linalg::eigvalsh(x, up)]
            }
        }
        // Complex results, in the (re, im) layout the harvester stores them in.
        "eig" => {
            c.only(0, &[])?;
            let (l, v) = linalg::eig(x);
            vec![l, v]
        }
        "eigvals" => {
            c.only(0, &[])?;
            vec![linalg::eigvals(x)]
        }
        "svd" if legacy => {
            c.only(2, &["some", "compute_uv"])?;
            if !c.flag(1, "compute_uv", true)? {
                return unsupported("svd without compute_uv");
            }
            let (u, s, vh) = linalg::svd(x, !c.flag(0, "some", true)?);
            vec![u, s, vh.mT()]
        }
        "svd" => {
            c.only(1, &["full_matrices"])?;
            let (u, s, vh) = linalg::svd(x, c.flag(0, "full_matrices", true)?);
            vec![u, s, vh]
        }
        "svdvals" => {
            c.only(0, &[])?;
            vec![linalg::svdvals(x)]
        }
        "solve_triangular" => {
            c.only(1, &["upper", "left", "unitriangular"])?;
            let b = c.tensor(0, "B")?;
            vec![linalg::solve_triangular(
                x,
                b,
                upper(false)?,
                c.kw_flag("left", true)?,
                c.kw_flag("unitriangular", false)?,
            )]
        }
        "triangular_solve" => {
            c.only(4, &["upper", "transpose", "unitriangular"])?;
            let a = c.tensor(0, "A")?;
            let (x, a) = linalg::triangular_solve(
                x,
                a,
                c.flag(1, "upper", true)?,
                c.flag(2, "transpose", false)?,
                c.flag(3, "unitriangular", false)?,
            );
            vec![x, a]
        }
        "solve" | "solve_ex" => {
            c.only(1, &["left"])?;
            let b = c.tensor(0, "B")?;
            let left = c.kw_flag("left", true)?;
            if op == "solve" {
                vec![linalg::solve(x, b, left)]
            } else {
                let (x, info) = linalg::solve_ex(x, b, left);
                vec![x, info]
            }
        }
        "inv" => {
            c.only(0, &[])?;
            vec![linalg::inv(x)]
        }
        "inv_ex" => {
            c.only(0, &[])?;
            let (i, info) = linalg::inv_ex(x);
            vec![i, info]
        }
        "det" => {
            c.only(0, &[])?;
            vec![linalg::det(x)]
        }
        "logdet" => {
            c.only(0, &[])?;
            vec![linalg::logdet(x)]
        }
        "slogdet" => {
            c.only(0, &[])?;
            let (s, l) = linalg::slogdet(x);
            vec![s, l]
        }
        "lstsq" => {
            c.only(3, &["rcond", "driver"])?;
            let r = linalg::lstsq(x, c.tensor(0, "b")?, c.opt_f64(1, "rcond")?, string(c, 2, "driver")?);
            if c.variant == "grad_oriented" {
                // OpInfo's variant returns the differentiable pair only.
                vec![r.solution, r.residuals]
            } else {
                vec![r.solution, r.residuals, r.rank, r.singular_values]
            }
        }
        "matrix_norm" => {
            let (d, keepdim) = norm_args(c)?;
            let o = ord(c.param(0, "ord"))?.unwrap_or(MatrixOrd::Fro);
            vec![linalg::matrix_norm(x, o, d.map_or(Ok((-2, -1)), |d| pair(&d))?, keepdim)]
        }
        "vector_norm" => {
            let (d, keepdim) = norm_args(c)?;
            vec![linalg::vector_norm(x, c.opt_f64(0, "ord")?.unwrap_or(2.0), d.as_deref(), keepdim)]
        }
        "norm" => {
            let (d, keepdim) = norm_args(c)?;
            vec![linalg::norm(x, ord(c.param(0, "ord"))?, d.as_deref(), keepdim)]
        }
        "cond" => {
            c.only(1, &["p"])?;
            vec![linalg::cond(x, ord(c.param(0, "p"))?)]
        }
        "matrix_rank" => {
            c.only(0, &["atol", "rtol", "hermitian", "tol"])?;
            if c.kwargs.contains_key("tol") {
                return unsupported("matrix_rank tol");
            }
            let (atol, rtol) = (opt_tensor_or_f64(c, "atol")?, opt_tensor_or_f64(c, "rtol")?);
            vec![linalg::matrix_rank(x, atol, rtol, c.kw_flag("hermitian", false)?)]
        }
        // OpInfo's singular variant: pinv(a @ b.mT), a rank-deficient product.
        "pinv" if c.variant == "singular" => {
            c.only(1, &[])?;
            vec![linalg::pinv(&x.matmul(&c.tensor(0, "b")?.mT()), None, None, false)]
        }
        "pinv" => {
            c.only(0, &["atol", "rtol", "hermitian", "rcond"])?;
            let rtol = match c.kwargs.get("rcond") {
                Some(v) => Some(v.f64()?),
                None => opt_tensor_or_f64(c, "rtol")?,
            };
            vec![linalg::pinv(x, opt_tensor_or_f64(c, "atol")?, rtol, c.kw_flag("hermitian", false)?)]
        }
        "pinverse" => {
            c.only(1, &["rcond"])?;
            let rcond = c.opt_f64(0, "rcond")?.unwrap_or(1e-15);
            vec![linalg::pinv(x, Some(0.0), Some(rcond), false)]
        }
        "matrix_power" => {
            c.only(1, &[])?;
            vec![linalg::matrix_power(x, c.param(0, "n").map_or(Ok(1), Value::i64)?)]
        }
        "matrix_exp" => {
            c.only(0, &[])?;
            vec![linalg::matrix_exp(x)]
        }
        "cross" => {
            c.only(2, &["dim"])?;
            let other = c.tensor(0, "other")?;
            let dim = match c.param(1, "dim") {
                None | Some(Value::None) if legacy => {
                    // torch.cross without dim: the first dim of size 3.
                    let s = x.shape();
                    match s.iter().position(|&d| d == 3) {
                        Some(d) => d as i64,
                        None => return unsupported("cross without a dim of size 3"),
                    }
                }
                None | Some(Value::None) => -1,
                Some(v) => v.i64()?,
            };
            vec![linalg::cross(x, other, dim)]
        }
        "vecdot" => {
            c.only(1, &["dim"])?;
            vec![linalg::vecdot(x, c.tensor(0, "y")?, c.param(1, "dim").map_or(Ok(-1), Value::i64)?)]
        }
        "diagonal" => {
            c.only(0, &["offset", "dim1", "dim2"])?;
            let g = |k: &str, d: i64| c.kwargs.get(k).map_or(Ok(d), Value::i64);
            vec![linalg::diagonal(x, g("offset", 0)?, g("dim1", -2)?, g("dim2", -1)?)]
        }
        "vander" => {
            c.only(0, &["N"])?;
            let n = match c.kwargs.get("N") {
                None | Some(Value::None) => None,
                Some(v) => Some(v.i64()? as usize),
            };
            vec![linalg::vander(x, n)]
        }
        "tensorinv" => {
            c.only(0, &["ind"])?;
            vec![linalg::tensorinv(x, c.kwargs.get("ind").map_or(Ok(2), Value::i64)? as usize)]
        }
        "tensorsolve" => {
            c.only(1, &["dims"])?;
            let d = dims(c.param(1, "dims"))?;
            vec![linalg::tensorsolve(x, c.tensor(0, "B")?, d.as_deref())]
        }
        _ => return Ok(None),
    }))
}

/// A tolerance given as a number or a 0-d tensor (OpInfo samples pass both).
fn opt_tensor_or_f64(c: &Call, name: &str) -> R<Option<f64>> {
    match c.kwargs.get(name) {
        None | Some(Value::None) => Ok(None),
        Some(Value::Tensor(t)) if t.numel() == 1 => Ok(Some(t.to_dtype(DType::F64).item::<f64>())),
        Some(Value::Tensor(_)) => unsupported(format!("{name} as a batched tensor")),
        Some(v) => v.f64().map(Some),
    }
}
