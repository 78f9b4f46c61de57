//! Sorting and selection (PyTorch names). The `Order` primitive gives positions (a
//! stable sorting permutation, the mode's index); values are gathered from the input at
//! those positions, so their gradients flow back through the gather.

use crate::autocast;
use crate::mode::{check, raise};
use crate::ops::args::dims_i64;
use crate::prim::gather;
use crate::prim::Prim;
use crate::tensor::Tensor;
use psionic_core::ops::OrderOp;
use psionic_core::{normalize_dim, DType, Error};

/// How `quantile` reads between two order statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Interpolation {
    Linear,
    Lower,
    Higher,
    Midpoint,
    Nearest,
}

impl Interpolation {
    pub fn from_name(name: &str) -> Option<Interpolation> {
        Some(match name {
            "linear" => Interpolation::Linear,
            "lower" => Interpolation::Lower,
            "higher" => Interpolation::Higher,
            "midpoint" => Interpolation::Midpoint,
            "nearest" => Interpolation::Nearest,
            _ => return None,
        })
    }
}

fn order(x: &Tensor, op: OrderOp, dim: usize) -> Tensor {
    check(Tensor::make(Prim::Order(crate::prim::Order { op, dim }), &[x]))
}

fn dim_of(op: &'static str, x: &Tensor, dim: i64) -> usize {
    check(normalize_dim(op, dim, x.dim().max(1)))
}

/// Drops `dim` (kept at size 1) unless `keepdim`.
fn squeezed(t: Tensor, dim: usize, keepdim: bool) -> Tensor {
    if keepdim || t.dim() == 0 {
        t
    } else {
        t.squeeze_dims(&[dim as i64])
    }
}

impl Tensor {
    /// The stable sorting permutation along `dim` (NaN sorts last, or first descending).
    #[track_caller]
    pub fn argsort(&self, dim: i64, descending: bool) -> Tensor {
        order(self, OrderOp::Argsort { descending }, dim_of("argsort", self, dim))
    }

    /// Sorted values and the permutation that sorts them (always stable).
    #[track_caller]
    pub fn sort(&self, dim: i64, descending: bool) -> (Tensor, Tensor) {
        let d = dim_of("sort", self, dim);
        let idx = order(self, OrderOp::Argsort { descending }, d);
        (gather(self, d, &idx), idx)
    }

    /// Sorted along dim 0.
    #[track_caller]
    pub fn msort(&self) -> Tensor {
        self.sort(0, false).0
    }

    /// The `k` largest (or smallest) values along `dim` and their positions, in sorted
    /// order.
    #[track_caller]
    pub fn topk(&self, k: usize, dim: i64, largest: bool) -> (Tensor, Tensor) {
        let d = dim_of("topk", self, dim);
        let n = self.shape().get(d).copied().unwrap_or(1);
        if k > n {
            raise(Error::invalid("topk", "selected index k out of range"));
        }
        let idx = order(self, OrderOp::Argsort { descending: largest }, d);
        let idx = if self.dim() == 0 { idx } else { idx.narrow(d as i64, 0, k) };
        (gather(self, d, &idx), idx)
    }

    /// The `k`-th smallest value along `dim` (1-based) and its position.
    #[track_caller]
    pub fn kthvalue(&self, k: usize, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        let d = dim_of("kthvalue", self, dim);
        let n = self.shape().get(d).copied().unwrap_or(1);
        if k == 0 || k > n {
            raise(Error::invalid(
                "kthvalue",
                format!("kthvalue(): selected number k out of range for dimension {dim}"),
            ));
        }
        let idx = order(self, OrderOp::Argsort { descending: false }, d);
        let idx = if self.dim() == 0 { idx } else { idx.narrow(d as i64, k as i64 - 1, 1) };
        (squeezed(gather(self, d, &idx), d, keepdim), squeezed(idx, d, keepdim))
    }

    /// The lower median along `dim` and its position; NaN (the first one) if the slice
    /// has any.
    #[track_caller]
    pub fn median_dim(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        self.median_impl("median", dim, keepdim, false)
    }

    /// The lower median along `dim` ignoring NaNs (NaN only for an all-NaN slice).
    #[track_caller]
    pub fn nanmedian_dim(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        self.median_impl("nanmedian", dim, keepdim, true)
    }

    /// The lower median of all elements.
    #[track_caller]
    pub fn median(&self) -> Tensor {
        self.reshape(&[-1]).median_impl("median", 0, false, false).0
    }

    #[track_caller]
    pub fn nanmedian(&self) -> Tensor {
        self.reshape(&[-1]).median_impl("nanmedian", 0, false, true).0
    }

    fn median_impl(&self, op: &'static str, dim: i64, keepdim: bool, skip_nan: bool) -> (Tensor, Tensor) {
        let d = dim_of(op, self, dim);
        if self.numel() == 0 {
            raise(Error::invalid(op, format!("{op}() input tensor cannot be empty")));
        }
        if self.dim() == 0 {
            return (self.clone(), Tensor::zeros(&[], DType::I64));
        }
        let n = self.size(d as i64) as i64;
        let sorted = order(self, OrderOp::Argsort { descending: false }, d);
        let nans = self.isnan().sum_dtype(d as i64, true, DType::I64);
        let valid = -&nans + n;
        // NaNs sort last: the first of them sits right after the valid values.
        let pos = if skip_nan {
            ((&valid - 1) / 2).to_dtype(DType::I64).clamp(Some(0), None::<i64>)
        } else {
            Tensor::where_(&nans.gt(0), &valid, (n - 1) / 2)
        };
        let idx = sorted.gather(d as i64, &pos.to_dtype(DType::I64));
        (squeezed(gather(self, d, &idx), d, keepdim), squeezed(idx, d, keepdim))
    }

    /// The most frequent value along `dim` (the smallest among ties) and its last
    /// position.
    #[track_caller]
    pub fn mode(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        let d = dim_of("mode", self, dim);
        let idx = order(self, OrderOp::Mode, d);
        (squeezed(gather(self, d, &idx), d, keepdim), squeezed(idx, d, keepdim))
    }

    /// Quantiles `q` (a scalar or 1-d tensor in [0, 1]) along `dim` (all elements when
    /// `None`); a quantile tensor adds a leading dim. NaN if a slice has NaN.
    #[track_caller]
    pub fn quantile(&self, q: &Tensor, dim: Option<i64>, keepdim: bool, interpolation: Interpolation) -> Tensor {
        let (x, q2) = (autocast::full(self), autocast::full(q));
        if let Some(y) = autocast::casting(|| x.quantile(&q2, dim, keepdim, interpolation)) {
            return y;
        }
        self.quantile_impl("quantile", q, dim, keepdim, interpolation, false)
    }

    /// `quantile` ignoring NaNs (NaN only for an all-NaN slice).
    #[track_caller]
    pub fn nanquantile(&self, q: &Tensor, dim: Option<i64>, keepdim: bool, interpolation: Interpolation) -> Tensor {
        self.quantile_impl("nanquantile", q, dim, keepdim, interpolation, true)
    }

    fn quantile_impl(
        &self,
        op: &'static str,
        q: &Tensor,
        dim: Option<i64>,
        keepdim: bool,
        interp: Interpolation,
        skip_nan: bool,
    ) -> Tensor {
        if !self.dtype().is_float() || self.dtype() != q.dtype() {
            raise(Error::dtype(
                op,
                format!(
                    "{op}() input and q tensors must be float32 or float64 of one dtype, got {} and {}",
                    self.dtype(),
                    q.dtype()
                ),
            ));
        }
        if q.dim() > 1 {
            raise(Error::shape(op, format!("{op}() q must be a scalar or 1D tensor")));
        }
        if self.numel() == 0 {
            raise(Error::invalid(op, format!("{op}() input tensor must be non-empty")));
        }
        let qs = q.to_vec::<f64>();
        if qs.iter().any(|v| !(0.0..=1.0).contains(v)) {
            raise(Error::invalid(op, format!("{op}() q values must be in the range [0, 1]")));
        }
        // Work on a copy with the reduced dim last, sorted.
        let (x, d) = match dim {
            None => (self.reshape(&[-1]), 0),
            Some(dim) => (self.clone(), dim_of(op, self, dim)),
        };
        let x = if x.dim() == 0 { x.reshape(&[1]) } else { x };
        let x = x.movedim(&[d as i64], &[-1]);
        let n = x.size(-1) as i64;
        let sorted = x.sort(-1, false).0;
        let nans = x.isnan().sum_dtype(-1, true, DType::I64);
        let valid = (-&nans + n).to_dtype(x.dtype());
        // Ranks per slice and quantile: [..., nq] with the quantiles last.
        let qv = q.reshape(&[-1]);
        let last = (&valid - 1.0).clamp(Some(0.0), None::<f64>);
        let rank = &last * &qv;
        let rank = match interp {
            Interpolation::Lower => rank.floor(),
            Interpolation::Higher => rank.ceil(),
            Interpolation::Nearest => rank.round(),
            _ => rank,
        };
        let lo = rank.floor().to_dtype(DType::I64);
        let hi = rank.ceil().to_dtype(DType::I64);
        let v_lo = sorted.gather(-1, &lo);
        let v_hi = sorted.gather(-1, &hi);
        let w = match interp {
            Interpolation::Midpoint => rank.full_like(0.5),
            _ => &rank - &rank.floor(),
        };
        let mut out = v_lo.lerp(&v_hi, &w);
        if !skip_nan {
            // Any NaN in the slice makes every quantile of it NaN.
            out = Tensor::where_(&nans.gt(0), f64::NAN, &out);
        }
        // Quantiles last -> first, then the kept dim if asked.
        let mut out = out.movedim(&[-1], &[0]);
        if keepdim {
            let shape: Vec<i64> = match dim {
                None => vec![1; self.dim()],
                Some(_) => {
                    let mut s = dims_i64(&self.shape());
                    if !s.is_empty() {
                        s[d] = 1;
                    }
                    s
                }
            };
            let mut full = vec![qv.numel() as i64];
            full.extend(shape);
            out = out.reshape(&full);
        }
        if q.dim() == 0 {
            out.squeeze_dims(&[0])
        } else {
            out
        }
    }

    /// Insertion points of `values` into the last dim of `self` (sorted ascending, or
    /// ordered by `sorter`): the first position with a value `>= v` (`< v` skipped), or
    /// `> v` with `right`.
    #[track_caller]
    pub fn searchsorted(&self, values: &Tensor, right: bool, sorter: Option<&Tensor>, out_int32: bool) -> Tensor {
        let seq = match sorter {
            Some(s) => self.gather(-1, s),
            None => self.clone(),
        };
        let dt = psionic_core::promote_types(seq.dtype(), values.dtype());
        let r = check(Tensor::make(
            Prim::SearchSorted(crate::prim::SearchSorted { right }),
            &[&seq.to_dtype(dt), &values.to_dtype(dt)],
        ));
        if out_int32 {
            r.to_dtype(DType::I32)
        } else {
            r
        }
    }

    /// The bucket of each element among 1-d `boundaries`: `boundaries.searchsorted(self)`.
    #[track_caller]
    pub fn bucketize(&self, boundaries: &Tensor, right: bool, out_int32: bool) -> Tensor {
        if boundaries.dim() != 1 {
            raise(Error::shape(
                "bucketize",
                format!("boundaries tensor must be 1 dimension, but got dim({})", boundaries.dim()),
            ));
        }
        boundaries.searchsorted(self, right, None, out_int32)
    }

    /// Sum treating NaN as zero.
    #[track_caller]
    pub fn nansum(&self, dims: &[i64], keepdim: bool) -> Tensor {
        if !self.dtype().is_float() {
            return self.sum(dims.to_vec(), keepdim);
        }
        Tensor::where_(&self.isnan(), 0.0, self).sum(dims.to_vec(), keepdim)
    }

    /// Mean of the non-NaN elements.
    #[track_caller]
    pub fn nanmean(&self, dims: &[i64], keepdim: bool) -> Tensor {
        if !self.dtype().is_float() {
            raise(Error::dtype(
                "nanmean",
                format!("nanmean(): expected input to have floating point dtype but got {}", self.dtype()),
            ));
        }
        let count = self.isnan().logical_not().sum(dims.to_vec(), keepdim).to_dtype(self.dtype());
        &self.nansum(dims, keepdim) / &count
    }

    /// Unique elements (sorted), with each element's position among them and their
    /// counts.
    #[track_caller]
    pub fn unique(&self, return_inverse: bool, return_counts: bool) -> (Tensor, Option<Tensor>, Option<Tensor>) {
        let flat = self.reshape(&[-1]);
        let (sorted, perm) = flat.sort(0, false);
        let (vals, group, counts) = runs(&sorted);
        let inverse = return_inverse.then(|| {
            let inv = Tensor::zeros(&[flat.numel()], DType::I64).scatter(0, &perm, &group);
            inv.reshape(&dims_i64(&self.shape()))
        });
        (vals, inverse, return_counts.then_some(counts))
    }

    /// Unique slices along `dim` (sorted lexicographically), inverse and counts.
    #[track_caller]
    pub fn unique_dim(
        &self,
        dim: i64,
        return_inverse: bool,
        return_counts: bool,
    ) -> (Tensor, Option<Tensor>, Option<Tensor>) {
        let d = dim_of("unique_dim", self, dim) as i64;
        let rows = self.movedim(&[d], &[0]);
        let n = rows.size(0);
        let flat = rows.reshape(&[n as i64, -1]);
        // Lexicographic order of the rows: stable sorts by each column, last first.
        let mut perm = Tensor::arange(0, n as i64, 1);
        for c in (0..flat.size(1) as i64).rev() {
            let col = flat.select(1, c).gather(0, &perm);
            perm = perm.gather(0, &col.argsort(0, false));
        }
        let sorted = flat.index_select(0, &perm);
        let (first, group, counts) = row_runs(&sorted);
        let vals = rows.index_select(0, &perm.masked_select(&first)).movedim(&[0], &[d]);
        let inverse = return_inverse.then(|| Tensor::zeros(&[n], DType::I64).scatter(0, &perm, &group));
        (vals, inverse, return_counts.then_some(counts))
    }

    /// Collapses runs of equal consecutive elements (or slices along `dim`).
    #[track_caller]
    pub fn unique_consecutive(
        &self,
        dim: Option<i64>,
        return_inverse: bool,
        return_counts: bool,
    ) -> (Tensor, Option<Tensor>, Option<Tensor>) {
        match dim {
            None => {
                let (vals, group, counts) = runs(&self.reshape(&[-1]));
                let inv = return_inverse.then(|| group.reshape(&dims_i64(&self.shape())));
                (vals, inv, return_counts.then_some(counts))
            }
            Some(dim) => {
                let d = dim_of("unique_consecutive", self, dim) as i64;
                let rows = self.movedim(&[d], &[0]);
                let flat = rows.reshape(&[rows.size(0) as i64, -1]);
                let (first, group, counts) = row_runs(&flat);
                let at = Tensor::arange(0, rows.size(0) as i64, 1).masked_select(&first);
                let vals = rows.index_select(0, &at).movedim(&[0], &[d]);
                (vals, return_inverse.then_some(group), return_counts.then_some(counts))
            }
        }
    }
}

/// Runs of equal neighbours in a 1-d tensor: the run values, each element's run number,
/// and the run lengths.
fn runs(x: &Tensor) -> (Tensor, Tensor, Tensor) {
    let (first, group, counts) = row_runs(&x.reshape(&[-1, 1]));
    (x.masked_select(&first), group, counts)
}

/// [`runs`] over the rows of a 2-d tensor: which rows start a run, run numbers, lengths.
fn row_runs(x: &Tensor) -> (Tensor, Tensor, Tensor) {
    let n = x.size(0);
    if n == 0 {
        let e = Tensor::zeros(&[0], DType::I64);
        return (Tensor::zeros(&[0], DType::Bool), e.clone(), e);
    }
    let differs = x.narrow(0, 1, n - 1).ne(x.narrow(0, 0, n - 1)).any_dims(1, false);
    let first = Tensor::cat(&[&Tensor::full(&[1], true, DType::Bool), &differs], 0);
    let group = &first.to_dtype(DType::I64).cumsum(0) - 1;
    let counts = group.bincount(None, 0);
    (first, group, counts)
}
