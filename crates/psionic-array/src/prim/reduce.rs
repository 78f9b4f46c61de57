//! Reductions over dims and scans along one.

use super::{mask, BatchCtx, Jvp, JvpCtx, Meta, Prim, Primitive, Saves, VjpCtx};
use crate::ops::args::{dims_i64, inverse_permutation};
use crate::tensor::Tensor;
use psionic_core::ops::{ReduceOp, ScanOp};
use psionic_core::{DType, Dims, Result};
use psionic_cpu::CpuArray;
use std::borrow::Cow;

/// Reduces the given (sorted) dims away.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub op: ReduceOp,
    pub dims: Vec<usize>,
}

/// A cumulative op along `dim`; with `indices`, the positions of cummax/cummin instead.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub op: ScanOp,
    pub dim: usize,
    pub indices: bool,
}

impl Primitive for Reduce {
    fn backward_name(&self) -> Cow<'static, str> {
        super::kind_name(&self.op)
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        let x = &inputs[0].shape;
        let shape: Dims = (0..x.len()).filter(|d| !self.dims.contains(d)).map(|d| x[d]).collect();
        let dtype = match self.op {
            ReduceOp::All | ReduceOp::Any => DType::Bool,
            ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I64,
            ReduceOp::Sum
            | ReduceOp::Prod
            | ReduceOp::Max
            | ReduceOp::Min
            | ReduceOp::NormP(_)
            | ReduceOp::Var { .. } => inputs[0].dtype,
        };
        Ok(Meta::new(shape, dtype))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::reduce::reduce(self.op, inputs[0], &self.dims)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![vjp(self.op, &self.dims, &c.x[0], c.y, c.g)])
    }
    /// A sum is linear; the others weight the tangent by the vjp of a unit cotangent.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        if self.op == ReduceOp::Sum {
            return c.same(&[&c.tz(0)]);
        }
        let d = vjp(self.op, &self.dims, &c.x[0], c.y, &c.y.ones_like()).expect("float reduction");
        // Prim dims are never empty for a tensor with dims, so this sums exactly them.
        Ok(Jvp::Tangent((&d * &c.tz(0)).sum(dims_i64(&self.dims), false)))
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        // Reducing nothing (a 0-d input) is reducing a size-1 dim.
        if self.dims.is_empty() {
            let p = Reduce { op: self.op, dims: vec![1] };
            return Tensor::make(p.into(), &[&c.full(0).unsqueeze(1)]);
        }
        let p = Reduce { op: self.op, dims: self.dims.iter().map(|d| d + 1).collect() };
        Tensor::make(p.into(), &[&c.full(0)])
    }
    fn saves(&self) -> Saves {
        match self.op {
            ReduceOp::Sum => Saves::NOTHING,
            // Integer and bool results are never recorded; the rest read input and output.
            ReduceOp::Prod
            | ReduceOp::Max
            | ReduceOp::Min
            | ReduceOp::NormP(_)
            | ReduceOp::Var { .. }
            | ReduceOp::ArgMax
            | ReduceOp::ArgMin
            | ReduceOp::All
            | ReduceOp::Any => Saves::of(0b1, true),
        }
    }
}

impl Primitive for Scan {
    fn backward_name(&self) -> Cow<'static, str> {
        format!("{:?}", self.op).into()
    }
    fn infer(&self, inputs: &[&Meta]) -> Result<Meta> {
        Ok(Meta::new(inputs[0].shape.clone(), if self.indices { DType::I64 } else { inputs[0].dtype }))
    }
    fn eval_cpu(&self, inputs: &[&CpuArray], _: &Meta) -> Result<CpuArray> {
        psionic_cpu::scan::scan(self.op, inputs[0], self.dim, self.indices)
    }
    fn vjp(&self, c: &VjpCtx) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![(!self.indices).then(|| scan_vjp(self.op, self.dim, &c.x[0], c.y, c.g))])
    }
    /// A cumulative sum is linear; the other scans transpose their vjp.
    fn jvp(&self, c: &JvpCtx) -> Result<Jvp> {
        match self.op {
            ScanOp::CumSum => c.same(&[&c.tz(0)]),
            ScanOp::CumProd | ScanOp::CumMax | ScanOp::CumMin | ScanOp::LogCumSumExp => Ok(Jvp::Transpose),
        }
    }
    fn batch(&self, c: &BatchCtx) -> Result<Tensor> {
        Tensor::make(Scan { dim: self.dim + 1, ..self.clone() }.into(), &[&c.full(0)])
    }
    fn saves(&self) -> Saves {
        match self.op {
            ScanOp::CumSum => Saves::NOTHING,
            ScanOp::CumProd | ScanOp::CumMax | ScanOp::CumMin | ScanOp::LogCumSumExp => Saves::of(0b1, true),
        }
    }
}

/// `t` (reduced over `dims`) reshaped with those dims kept as 1 and expanded to `shape`.
fn expand_back(t: &Tensor, dims: &[usize], shape: &[usize]) -> Tensor {
    let keep: Vec<i64> = shape.iter().enumerate().map(|(i, &n)| if dims.contains(&i) { 1 } else { n as i64 }).collect();
    t.reshape(&keep).expand(&dims_i64(shape))
}

/// Whether the zero-safe (slower) product gradient is needed; always inside `vmap`,
/// where values cannot be read.
fn any_zero(x: &Tensor) -> bool {
    crate::interp::hides_values(&x.node()) || x.eq(0.0).any().item::<bool>()
}

fn vjp(op: ReduceOp, dims: &[usize], x: &Tensor, y: &Tensor, g: &Tensor) -> Option<Tensor> {
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

fn scan_vjp(op: ScanOp, dim: usize, x: &Tensor, y: &Tensor, g: &Tensor) -> Tensor {
    let d = dim as i64;
    let rev_cumsum = |t: &Tensor| t.flip(&[d]).cumsum(d).flip(&[d]);
    match op {
        ScanOp::CumSum => rev_cumsum(g),
        ScanOp::CumProd if !any_zero(x) => &rev_cumsum(&(g * y)) / x,
        ScanOp::CumProd => cumprod_general(x, g, d),
        ScanOp::CumMax | ScanOp::CumMin => {
            // The gradient of each output goes to the input where its extreme was reached.
            let idx = {
                let _ng = crate::mode::NoGradGuard::new();
                crate::mode::check(Tensor::make(Prim::Scan(Scan { op, dim, indices: true }), &[x]))
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
