//! vjp rules of reductions and scans.

use super::mask;
use crate::mode::check;
use crate::ops::args::{dims_i64, inverse_permutation};
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::{ReduceOp, ScanOp};
use psionic_core::DType;

/// `t` (reduced over `dims`) reshaped with those dims kept as 1 and expanded to `shape`.
fn expand_back(t: &Tensor, dims: &[usize], shape: &[usize]) -> Tensor {
    let keep: Vec<i64> = shape.iter().enumerate().map(|(i, &n)| if dims.contains(&i) { 1 } else { n as i64 }).collect();
    t.reshape(&keep).expand(&dims_i64(shape))
}

/// Whether the zero-safe (slower) product gradient is needed; always inside `vmap`,
/// where values cannot be read.
fn any_zero(x: &Tensor) -> bool {
    crate::autodiff::vmap::is_batched(&x.node()) || x.eq(0.0).any().item::<bool>()
}

pub(super) fn vjp(op: ReduceOp, dims: &[usize], x: &Tensor, y: &Tensor, g: &Tensor) -> Option<Tensor> {
    let shape = x.shape();
    // Built only by the rules that read it (var scales `g` before expanding it).
    let ge = || expand_back(g, dims, &shape);
    let ye = || expand_back(y, dims, &shape);
    let idims = dims_i64(dims);
    Some(match op {
        ReduceOp::Sum => ge(),
        ReduceOp::Prod => &ge() * &prod_others(x, dims, &ye()),
        // Ties share the gradient evenly (amax/amin semantics).
        ReduceOp::Max | ReduceOp::Min => {
            let hit = x.eq(ye());
            let count = hit.to_dtype(x.dtype()).sum(idims.clone(), true);
            mask(&hit, &(&ge() / &count))
        }
        ReduceOp::NormP(0.0) => ge().zeros_like(),
        ReduceOp::NormP(p) if p.is_infinite() => {
            let hit = x.abs().eq(ye());
            let count = hit.to_dtype(x.dtype()).sum(idims.clone(), true);
            mask(&hit, &(&(&ge() * &x.sign()) / &count))
        }
        ReduceOp::NormP(1.0) => &ge() * &x.sign(),
        ReduceOp::NormP(2.0) => &ge() * &x.mul(2.0),
        ReduceOp::NormP(p) => {
            let d = &(&x.abs().pow(p - 1.0) * &x.sign()) * &ge().mul(p);
            mask(&x.ne(0.0), &d)
        }
        ReduceOp::Var { correction } => {
            let n: usize = dims.iter().map(|&d| shape[d]).product();
            // PyTorch's grouping, `(2 / (n - correction) * g) * centred`: the scale goes on
            // the reduced gradient, one pass over the input fewer.
            let centred = x - &x.mean(idims, true);
            &expand_back(&g.mul(2.0 / (n as f64 - correction)), dims, &shape) * &centred
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin | ReduceOp::All | ReduceOp::Any => {
            unreachable!("integer and bool outputs are never recorded")
        }
    })
}

/// For each element, the product of all the other elements of its reduction group.
/// Division when there is no zero; otherwise exclusive products from both sides.
fn prod_others(x: &Tensor, dims: &[usize], ye: &Tensor) -> Tensor {
    if !any_zero(x) {
        return ye / x;
    }
    let nd = x.dim();
    let kept: Vec<usize> = (0..nd).filter(|d| !dims.contains(d)).collect();
    let perm: Vec<i64> = kept.iter().chain(dims).map(|&d| d as i64).collect();
    let xp = x.permute(&perm);
    let pshape = xp.shape();
    let mut flat: Vec<i64> = kept.iter().map(|&d| x.shape()[d] as i64).collect();
    flat.push(-1);
    let xf = xp.reshape(&flat);
    let others = exclusive_both(&xf, -1);
    let back = dims_i64(&pshape);
    others.reshape(&back).permute(&inverse_permutation(&perm, nd))
}

/// `prod_{k<i} x_k * prod_{k>i} x_k` along `dim`, without dividing.
fn exclusive_both(x: &Tensor, dim: i64) -> Tensor {
    let n = x.size(dim);
    if n == 0 {
        return x.clone();
    }
    let one = x.narrow(dim, 0, 1).ones_like();
    let left = Tensor::cat(&[&one, &x.narrow(dim, 0, n - 1)], dim).cumprod(dim);
    let right = Tensor::cat(&[&x.narrow(dim, 1, n - 1), &one], dim).flip(&[dim]).cumprod(dim).flip(&[dim]);
    &left * &right
}

pub(super) fn scan_vjp(op: ScanOp, dim: usize, x: &Tensor, y: &Tensor, g: &Tensor) -> Tensor {
    let d = dim as i64;
    let rev_cumsum = |t: &Tensor| t.flip(&[d]).cumsum(d).flip(&[d]);
    match op {
        ScanOp::CumSum => rev_cumsum(g),
        ScanOp::CumProd if !any_zero(x) => &rev_cumsum(&(g * y)) / x,
        ScanOp::CumProd => cumprod_general(x, g, d),
        ScanOp::CumMax | ScanOp::CumMin => {
            // The gradient of each output goes to the input where its extreme was reached.
            let idx = {
                let _ng = crate::autodiff::mode::NoGradGuard::new();
                crate::mode::check(Tensor::make(Prim::Scan { op, dim, indices: true }, &[x]))
            };
            let n = x.size(d);
            let il = idx.movedim(&[d], &[-1]).unsqueeze(-1);
            let onehot = il.eq(Tensor::arange(0, n as i64, 1));
            let gl = g.movedim(&[d], &[-1]).unsqueeze(-1);
            mask(&onehot, &gl.expand_as(&onehot)).sum(-2, false).movedim(&[-1], &[d])
        }
        ScanOp::LogCumSumExp => {
            // sum_{j>=i} g_j exp(x_i - y_j), with positive and negative g in log space.
            let part = |s: Tensor| {
                let z = &s.log() - y;
                (&z.flip(&[d]).logcumsumexp(d).flip(&[d]) + x).exp()
            };
            let gp = Tensor::where_(&g.gt(0.0), g, 0.0);
            let gn = Tensor::where_(&g.lt(0.0), g.neg(), 0.0);
            &part(gp) - &part(gn)
        }
    }
}

/// Cumprod gradient that is exact with zeros: for each i, the cumulative products with
/// x_i replaced by 1, weighted by g over the positions j >= i.
fn cumprod_general(x: &Tensor, g: &Tensor, d: i64) -> Tensor {
    let xl = x.movedim(&[d], &[-1]);
    let n = xl.size(-1);
    let mut rows = dims_i64(&xl.shape());
    rows.insert(rows.len() - 1, n as i64);
    let grid = xl.unsqueeze(-2).expand(&rows);
    let eye = Tensor::eye(n, None, DType::Bool);
    let c = Tensor::where_(&eye, 1.0, &grid).cumprod(-1).triu(0);
    let gl = g.movedim(&[d], &[-1]).unsqueeze(-2);
    (&c * &gl).sum(-1, false).movedim(&[-1], &[d])
}

/// softmax: `y (g - sum(g y))`; log_softmax: `g - e^y sum(g)`, both summed along `dim`.
pub(super) fn softmax_vjp(dim: usize, log: bool, y: &Tensor, g: &Tensor) -> Tensor {
    if y.dtype() == g.dtype() && y.numel() > 0 {
        return check(Tensor::make(Prim::SoftmaxGrad { dim, log }, &[y, g]));
    }
    let d = dim as i64;
    if log {
        g - &(&y.exp() * &g.sum(d, true))
    } else {
        y * &(g - &(g * y).sum(d, true))
    }
}

/// The vjp of softmax's gradient `dx(y, g)` for the cotangent `u`. softmax's
/// (`y (g - s)`, `s = sum(g y)`): `u (g - s) - g sum(u y)` for `y`, and its own gradient of
/// `u` for `g` (the Jacobian is symmetric). log_softmax's (`g - e^y sum(g)`):
/// `-u e^y sum(g)` for `y` and `u - sum(u e^y)` for `g`.
pub(super) fn softmax_grad_vjp(dim: usize, log: bool, y: &Tensor, g: &Tensor, u: &Tensor) -> Vec<Option<Tensor>> {
    let d = dim as i64;
    if log {
        let e = y.exp();
        let gy = -&(&(u * &e) * &g.sum(d, true));
        let gg = u - &(u * &e).sum(d, true);
        vec![Some(gy), Some(gg)]
    } else {
        let s = (g * y).sum(d, true);
        let gy = &(u * &(g - &s)) - &(g * &(u * y).sum(d, true));
        vec![Some(gy), Some(softmax_vjp(dim, false, y, u))]
    }
}

/// The tangent of softmax (`y (t - sum(t y))`) or log_softmax (`t - sum(e^y t)`).
pub(super) fn softmax_jvp(dim: usize, log: bool, y: &Tensor, t: &Tensor) -> Tensor {
    let d = dim as i64;
    if log {
        t - &(&y.exp() * t).sum(d, true)
    } else {
        y * &(t - &(t * y).sum(d, true))
    }
}
