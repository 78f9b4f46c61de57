//! Reductions, scans, softmax. Dims follow PyTorch: negative dims count from the end, an
//! empty dim list means all dims, `keepdim` keeps reduced dims as size 1. Sums and
//! products of integers and bool accumulate in int64; f16/bf16 accumulate in f32.

use super::args::Dims;
use crate::autocast;
use crate::mode::{check, raise};
use crate::prim::{Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::ops::{ReduceOp, ScanOp};
use psionic_core::shape::normalize_dims;
use psionic_core::{normalize_dim, DType, Error};

/// The `p` of a norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOrd {
    P(f64),
    Fro,
    Inf,
    NegInf,
}

fn norm_dims(op: &'static str, x: &Tensor, dims: &[i64]) -> Vec<usize> {
    let nd = x.dim();
    let mut d = if dims.is_empty() { (0..nd).collect() } else { check(normalize_dims(op, dims, nd)) };
    if nd == 0 {
        d.clear();
    }
    d.sort();
    d
}

fn keep(r: Tensor, in_shape: &[usize], dims: &[usize], keepdim: bool) -> Tensor {
    if !keepdim || in_shape.is_empty() {
        return r;
    }
    let shape: Vec<usize> = in_shape.iter().enumerate().map(|(i, &n)| if dims.contains(&i) { 1 } else { n }).collect();
    check(Tensor::make(Prim::View(ViewOp::Reshape(shape)), &[&r]))
}

/// Runs a reduce primitive over `dims` (already normalised) in `acc` dtype, returning
/// the result in `acc` dtype.
fn reduce_raw(x: &Tensor, op: ReduceOp, dims: &[usize], acc: DType) -> Tensor {
    check(Tensor::make(Prim::Reduce(crate::prim::Reduce { op, dims: dims.to_vec() }), &[&x.to_dtype(acc)]))
}

fn acc_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d if d.is_float() => d,
        _ => DType::I64,
    }
}

fn reduced_count(x: &Tensor, dims: &[usize]) -> usize {
    let s = x.shape();
    dims.iter().map(|&d| s[d]).product()
}

impl Tensor {
    fn sum_impl(&self, dims: &[i64], keepdim: bool, dtype: Option<DType>, op: ReduceOp, name: &'static str) -> Tensor {
        let d = norm_dims(name, self, dims);
        let out = dtype.unwrap_or_else(|| self.dtype().sum_dtype());
        let r = reduce_raw(self, op, &d, acc_dtype(out)).to_dtype(out);
        keep(r, &self.shape(), &d, keepdim)
    }

    pub fn sum_all(&self) -> Tensor {
        self.sum_impl(&[], false, None, ReduceOp::Sum, "sum")
    }

    #[track_caller]
    pub fn sum(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        self.sum_impl(&dims.dims(), keepdim, None, ReduceOp::Sum, "sum")
    }

    /// `sum(dims, keepdim, dtype=)`: the input is cast to `dtype` before summing.
    #[track_caller]
    pub fn sum_dtype(&self, dims: impl Dims, keepdim: bool, dtype: DType) -> Tensor {
        self.sum_impl(&dims.dims(), keepdim, Some(dtype), ReduceOp::Sum, "sum")
    }

    pub fn prod_all(&self) -> Tensor {
        let x = autocast::full(self);
        if let Some(y) = autocast::casting(|| x.prod_all()) {
            return y;
        }
        self.sum_impl(&[], false, None, ReduceOp::Prod, "prod")
    }

    #[track_caller]
    pub fn prod(&self, dim: i64, keepdim: bool) -> Tensor {
        let x = autocast::full(self);
        if let Some(y) = autocast::casting(|| x.prod(dim, keepdim)) {
            return y;
        }
        self.sum_impl(&[dim], keepdim, None, ReduceOp::Prod, "prod")
    }

    #[track_caller]
    fn check_float(&self, op: &'static str) {
        if !self.dtype().is_float() {
            raise(Error::dtype(
                op,
                format!(
                    "{op}(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                    self.dtype().name()
                ),
            ));
        }
    }

    #[track_caller]
    pub fn mean_all(&self) -> Tensor {
        self.mean(Vec::<i64>::new(), false)
    }

    #[track_caller]
    pub fn mean(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        self.check_float("mean");
        let d = norm_dims("mean", self, &dims.dims());
        let n = reduced_count(self, &d);
        let acc = acc_dtype(self.dtype());
        let r = reduce_raw(self, ReduceOp::Sum, &d, acc).div(n as f64).to_dtype(self.dtype());
        keep(r, &self.shape(), &d, keepdim)
    }

    /// Variance with `correction` (1 = unbiased, Bessel's correction; 0 = population).
    #[track_caller]
    pub fn var(&self, dims: impl Dims, correction: f64, keepdim: bool) -> Tensor {
        self.check_float("var");
        let d = norm_dims("var", self, &dims.dims());
        let r = reduce_raw(self, ReduceOp::Var { correction }, &d, acc_dtype(self.dtype())).to_dtype(self.dtype());
        keep(r, &self.shape(), &d, keepdim)
    }

    #[track_caller]
    pub fn std(&self, dims: impl Dims, correction: f64, keepdim: bool) -> Tensor {
        self.var(dims, correction, keepdim).sqrt()
    }

    #[track_caller]
    pub fn var_mean(&self, dims: impl Dims, correction: f64, keepdim: bool) -> (Tensor, Tensor) {
        let d = dims.dims();
        (self.var(d.clone(), correction, keepdim), self.mean(d, keepdim))
    }

    #[track_caller]
    pub fn std_mean(&self, dims: impl Dims, correction: f64, keepdim: bool) -> (Tensor, Tensor) {
        let d = dims.dims();
        (self.std(d.clone(), correction, keepdim), self.mean(d, keepdim))
    }

    fn extreme(&self, dims: &[i64], keepdim: bool, op: ReduceOp, name: &'static str) -> Tensor {
        let d = norm_dims(name, self, dims);
        if self.numel() == 0 && d.iter().any(|&i| self.shape()[i] == 0) {
            raise(Error::invalid(
                name,
                format!("{name}(): Expected reduction dim to be specified for input.numel() == 0."),
            ));
        }
        let r = check(Tensor::make(Prim::Reduce(crate::prim::Reduce { op, dims: d.clone() }), &[self]));
        keep(r, &self.shape(), &d, keepdim)
    }

    /// Largest element (NaN propagates).
    #[track_caller]
    pub fn max_all(&self) -> Tensor {
        self.extreme(&[], false, ReduceOp::Max, "max")
    }

    #[track_caller]
    pub fn min_all(&self) -> Tensor {
        self.extreme(&[], false, ReduceOp::Min, "min")
    }

    #[track_caller]
    pub fn amax(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        self.extreme(&dims.dims(), keepdim, ReduceOp::Max, "amax")
    }

    #[track_caller]
    pub fn amin(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        self.extreme(&dims.dims(), keepdim, ReduceOp::Min, "amin")
    }

    /// `max(dim, keepdim)`: values and the index of the first maximum.
    #[track_caller]
    pub fn max_dim(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        (
            self.extreme(&[dim], keepdim, ReduceOp::Max, "max"),
            self.arg_extreme(Some(dim), keepdim, ReduceOp::ArgMax, "max"),
        )
    }

    #[track_caller]
    pub fn min_dim(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        (
            self.extreme(&[dim], keepdim, ReduceOp::Min, "min"),
            self.arg_extreme(Some(dim), keepdim, ReduceOp::ArgMin, "min"),
        )
    }

    fn arg_extreme(&self, dim: Option<i64>, keepdim: bool, op: ReduceOp, name: &'static str) -> Tensor {
        match dim {
            None => {
                let flat = self.reshape(&[-1]);
                let r = flat.extreme_idx(0, op, name);
                if keepdim {
                    r.reshape(&vec![1i64; self.dim()])
                } else {
                    r
                }
            }
            Some(d) => {
                let r = self.extreme_idx(d, op, name);
                let dn = check(normalize_dim(name, d, self.dim()));
                keep(r, &self.shape(), if self.dim() == 0 { &[] } else { std::slice::from_ref(&dn) }, keepdim)
            }
        }
    }

    fn extreme_idx(&self, dim: i64, op: ReduceOp, name: &'static str) -> Tensor {
        let d = norm_dims(name, self, &[dim]);
        if self.numel() == 0 {
            raise(Error::invalid(name, format!("{name}(): Expected reduction dim {dim} to have non-zero size.")));
        }
        check(Tensor::make(Prim::Reduce(crate::prim::Reduce { op, dims: d }), &[self]))
    }

    /// Index of the first maximum; over the flattened tensor when `dim` is `None`.
    #[track_caller]
    pub fn argmax(&self, dim: Option<i64>, keepdim: bool) -> Tensor {
        self.arg_extreme(dim, keepdim, ReduceOp::ArgMax, "argmax")
    }

    #[track_caller]
    pub fn argmin(&self, dim: Option<i64>, keepdim: bool) -> Tensor {
        self.arg_extreme(dim, keepdim, ReduceOp::ArgMin, "argmin")
    }

    /// `log(sum(exp(x)))`, computed stably around the max.
    #[track_caller]
    pub fn logsumexp(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        let x = self.to_float();
        let d = dims.dims();
        if x.numel() == 0 {
            return x.exp().sum(d, keepdim).log();
        }
        let m = x.amax(d.clone(), true);
        // An all -inf (or inf) slice would give inf - inf; shift by 0 there instead.
        let m = Tensor::where_(&m.isinf(), 0.0, &m);
        let r = x.sub(&m).exp().sum(d.clone(), true).log().add(&m);
        if keepdim {
            r
        } else {
            r.squeeze_dims(&norm_dims("logsumexp", &x, &d).iter().map(|&v| v as i64).collect::<Vec<_>>())
        }
    }

    #[track_caller]
    pub fn all(&self) -> Tensor {
        self.all_dims(Vec::<i64>::new(), false)
    }

    #[track_caller]
    pub fn any(&self) -> Tensor {
        self.any_dims(Vec::<i64>::new(), false)
    }

    #[track_caller]
    pub fn all_dims(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        let d = norm_dims("all", self, &dims.dims());
        keep(
            check(Tensor::make(Prim::Reduce(crate::prim::Reduce { op: ReduceOp::All, dims: d.clone() }), &[self])),
            &self.shape(),
            &d,
            keepdim,
        )
    }

    #[track_caller]
    pub fn any_dims(&self, dims: impl Dims, keepdim: bool) -> Tensor {
        let d = norm_dims("any", self, &dims.dims());
        keep(
            check(Tensor::make(Prim::Reduce(crate::prim::Reduce { op: ReduceOp::Any, dims: d.clone() }), &[self])),
            &self.shape(),
            &d,
            keepdim,
        )
    }

    /// Number of nonzero elements over `dims` (all when empty), as int64.
    #[track_caller]
    pub fn count_nonzero(&self, dims: impl Dims) -> Tensor {
        self.ne(0).sum(dims, false)
    }

    /// Vector norm over `dims` (all when empty): `p` any real, `Fro` (= 2), `Inf`, `NegInf`.
    #[track_caller]
    pub fn norm(&self, p: NormOrd, dims: impl Dims, keepdim: bool) -> Tensor {
        self.check_float("norm");
        let d = norm_dims("norm", self, &dims.dims());
        let pv = match p {
            NormOrd::P(v) => v,
            NormOrd::Fro => 2.0,
            NormOrd::Inf => f64::INFINITY,
            NormOrd::NegInf => f64::NEG_INFINITY,
        };
        let acc = acc_dtype(self.dtype());
        let s = reduce_raw(self, ReduceOp::NormP(pv), &d, acc);
        let r = if pv.is_infinite() || pv == 0.0 || pv == 1.0 {
            s
        } else {
            // The root's derivative is infinite at a zero sum, where PyTorch takes the
            // subgradient 0; the zeros are swapped out before the root so no 0 * inf
            // reaches the gradient.
            let zero = s.eq(0.0);
            let safe = Tensor::where_(&zero, 1.0, &s);
            let root = if pv == 2.0 { safe.sqrt() } else { safe.pow(1.0 / pv) };
            Tensor::where_(&zero, 0.0, &root)
        };
        keep(r.to_dtype(self.dtype()), &self.shape(), &d, keepdim)
    }

    fn scan(&self, op: ScanOp, dim: i64, indices: bool, acc: DType) -> Tensor {
        let d = check(normalize_dim("scan", dim, self.dim()));
        if self.dim() == 0 {
            // A 0-d tensor scans as its one-element vector (kernels and rules index dims).
            return self.reshape(&[1]).scan(op, 0, indices, acc).reshape(&[]);
        }
        check(Tensor::make(Prim::Scan(crate::prim::Scan { op, dim: d, indices }), &[&self.to_dtype(acc)]))
    }

    #[track_caller]
    pub fn cumsum(&self, dim: i64) -> Tensor {
        let out = self.dtype().sum_dtype();
        self.scan(ScanOp::CumSum, dim, false, acc_dtype(out)).to_dtype(out)
    }

    #[track_caller]
    pub fn cumprod(&self, dim: i64) -> Tensor {
        let out = self.dtype().sum_dtype();
        self.scan(ScanOp::CumProd, dim, false, acc_dtype(out)).to_dtype(out)
    }

    /// Running max along `dim`: values and the index where each was reached.
    #[track_caller]
    pub fn cummax(&self, dim: i64) -> (Tensor, Tensor) {
        (self.scan(ScanOp::CumMax, dim, false, self.dtype()), self.scan(ScanOp::CumMax, dim, true, self.dtype()))
    }

    #[track_caller]
    pub fn cummin(&self, dim: i64) -> (Tensor, Tensor) {
        (self.scan(ScanOp::CumMin, dim, false, self.dtype()), self.scan(ScanOp::CumMin, dim, true, self.dtype()))
    }

    #[track_caller]
    pub fn logcumsumexp(&self, dim: i64) -> Tensor {
        self.check_float("logcumsumexp");
        self.scan(ScanOp::LogCumSumExp, dim, false, acc_dtype(self.dtype())).to_dtype(self.dtype())
    }

    /// `exp(x - max) / sum(exp(x - max))` along `dim`.
    #[track_caller]
    pub fn softmax(&self, dim: i64) -> Tensor {
        self.softmax_along("softmax", dim, false)
    }

    /// `x - max - log(sum(exp(x - max)))` along `dim`.
    #[track_caller]
    pub fn log_softmax(&self, dim: i64) -> Tensor {
        self.softmax_along("log_softmax", dim, true)
    }

    #[track_caller]
    fn softmax_along(&self, name: &'static str, dim: i64, log: bool) -> Tensor {
        let x = self.to_float();
        let d = check(psionic_core::normalize_dim(name, dim, x.dim().max(1)));
        if x.dim() == 0 {
            // A 0-d tensor is normalised as its one-element vector (kernels index dims).
            return x.reshape(&[1]).softmax_along(name, 0, log).reshape(&[]);
        }
        if x.numel() == 0 {
            // Nothing to normalise (and no maximum to subtract): an empty result.
            return x.deep_clone();
        }
        check(Tensor::make(Prim::Softmax(crate::prim::Softmax { dim: d, log }), &[&x]))
    }
}
