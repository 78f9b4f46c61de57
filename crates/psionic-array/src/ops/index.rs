//! Index-driven ops (PyTorch names): gather/scatter and their index_* and flat (take,
//! put) forms, masks, nonzero, bincount, histc. All lower to the `Gather` and `Scatter`
//! primitives; index vectors are expanded to the operand's shape as stride-0 views, so
//! nothing is copied to line them up. Ops whose output size depends on values (nonzero,
//! masked_select, bincount) read those values on the host.

use super::args::{dims_i64, Arg};
use crate::mode::{check, raise};
use crate::prim::{boxed, gather, scatter};
use crate::tensor::Tensor;
use psionic_core::ops::ScatterReduce;
use psionic_core::{normalize_dim, DType, Error};

/// `dim` normalised for an operand of rank `rank` (a 0-d tensor has one dim of size 1).
fn dim_of(op: &'static str, dim: i64, rank: usize) -> usize {
    check(normalize_dim(op, dim, rank.max(1)))
}

/// An integer index as i64 (PyTorch accepts int32 and int64 indices).
fn as_index(op: &'static str, index: &Tensor) -> Tensor {
    match index.dtype() {
        DType::I64 => index.clone(),
        DType::I32 | DType::I16 | DType::I8 | DType::U8 => index.to_dtype(DType::I64),
        d => raise(Error::dtype(op, format!("{op}(): Expected dtype int32/int64 for index, got {d}"))),
    }
}

/// Negative indices counted from the end of a dim of `size`.
pub(crate) fn wrap(index: &Tensor, size: usize) -> Tensor {
    Tensor::where_(&index.lt(0), &(index + size as i64), index)
}

/// A 1-d (or 0-d) `index` along `dim` of an operand shaped `shape` with `dim` resized to
/// the index length: a stride-0 view of the index.
pub(crate) fn along(op: &'static str, index: &Tensor, dim: usize, shape: &[usize]) -> Tensor {
    if index.dim() > 1 {
        raise(Error::shape(op, format!("{op}(): Index is supposed to be a vector, got {}-d", index.dim())));
    }
    let n = index.numel();
    let mut target: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
    if target.is_empty() {
        return index.reshape(&[]);
    }
    target[dim] = n as i64;
    let mut unit = vec![1i64; shape.len()];
    unit[dim] = n as i64;
    index.reshape(&unit).expand(&target)
}

/// A scalar or tensor source as a tensor of `dtype` spread over `shape` (a view).
fn source(value: impl Into<Arg>, dtype: DType, shape: &[usize]) -> Tensor {
    let t = match value.into() {
        Arg::T(t) => t,
        Arg::S(s) => Tensor::full(&[], s, dtype),
    };
    t.to_dtype(dtype).broadcast_to(shape)
}

/// `shape` with `dim` (if it has one) resized to `n`: the slices an index vector names.
fn resized(mut shape: Vec<usize>, dim: usize, n: usize) -> Vec<usize> {
    if let Some(s) = shape.get_mut(dim) {
        *s = n;
    }
    shape
}

fn same_dtype(op: &'static str, a: &Tensor, b: &Tensor) {
    if a.dtype() != b.dtype() {
        raise(Error::dtype(
            op,
            format!("{op}(): Expected self.dtype to be equal to src.dtype, got {} and {}", a.dtype(), b.dtype()),
        ));
    }
}

fn bool_mask(op: &'static str, mask: &Tensor) {
    if mask.dtype() != DType::Bool {
        raise(Error::dtype(op, format!("{op}_ only supports boolean masks, but got mask with dtype {}", mask.dtype())));
    }
}

fn reduce_of(op: &'static str, name: &str) -> ScatterReduce {
    ScatterReduce::from_name(name).unwrap_or_else(|| {
        raise(Error::invalid(op, format!("reduce argument must be one of sum, prod, mean, amax, amin, got {name}")))
    })
}

impl Tensor {
    /// `out[i][j] = self[index[i][j]][j]` (for `dim = 0`): values along `dim` picked by
    /// an index of the same rank.
    #[track_caller]
    pub fn gather(&self, dim: i64, index: &Tensor) -> Tensor {
        let d = dim_of("gather", dim, self.dim());
        gather(self, d, &as_index("gather", index))
    }

    /// `self` with `src` (a tensor or a scalar) written at `index` along `dim`.
    #[track_caller]
    pub fn scatter(&self, dim: i64, index: &Tensor, src: impl Into<Arg>) -> Tensor {
        self.scatter_impl("scatter", dim, index, src, ScatterReduce::Assign, true)
    }

    /// PyTorch's `scatter(dim, index, src, reduce="add"|"multiply")`.
    #[track_caller]
    pub fn scatter_with(&self, dim: i64, index: &Tensor, src: impl Into<Arg>, reduce: &str) -> Tensor {
        let r = match reduce {
            "add" => ScatterReduce::Sum,
            "multiply" => ScatterReduce::Prod,
            _ => raise(Error::invalid(
                "scatter",
                format!("reduce argument must be either add or multiply, got {reduce}"),
            )),
        };
        self.scatter_impl("scatter", dim, index, src, r, true)
    }

    #[track_caller]
    pub fn scatter_add(&self, dim: i64, index: &Tensor, src: &Tensor) -> Tensor {
        self.scatter_impl("scatter_add", dim, index, src, ScatterReduce::Sum, true)
    }

    /// `reduce` is one of "sum", "prod", "mean", "amax", "amin"; without `include_self`
    /// the positions written start from the first value written, not from `self`.
    #[track_caller]
    pub fn scatter_reduce(&self, dim: i64, index: &Tensor, src: &Tensor, reduce: &str, include_self: bool) -> Tensor {
        self.scatter_impl("scatter_reduce", dim, index, src, reduce_of("scatter_reduce", reduce), include_self)
    }

    fn scatter_impl(
        &self,
        op: &'static str,
        dim: i64,
        index: &Tensor,
        src: impl Into<Arg>,
        reduce: ScatterReduce,
        include_self: bool,
    ) -> Tensor {
        let d = dim_of(op, dim, self.dim());
        let index = as_index(op, index);
        let src = match src.into() {
            Arg::T(t) => {
                same_dtype(op, self, &t);
                t
            }
            Arg::S(s) => source(s, self.dtype(), &index.shape()),
        };
        scatter(self, d, &index, &src, reduce, include_self)
    }

    /// The slices of `self` along `dim` named by a 1-d `index`.
    #[track_caller]
    pub fn index_select(&self, dim: i64, index: &Tensor) -> Tensor {
        let d = dim_of("index_select", dim, self.dim());
        let index = as_index("index_select", index);
        let idx = along("index_select", &index, d, &self.shape());
        if self.dim() == 0 {
            return gather(self, 0, &idx.reshape(&[]));
        }
        gather(self, d, &idx)
    }

    /// Adds `alpha * source` into the slices of `self` along `dim` named by `index`.
    #[track_caller]
    pub fn index_add(
        &self,
        dim: i64,
        index: &Tensor,
        source: &Tensor,
        alpha: impl Into<psionic_core::Scalar>,
    ) -> Tensor {
        same_dtype("index_add", self, source);
        let alpha = alpha.into();
        let src = if alpha.to_f64() == 1.0 { source.clone() } else { source.mul(alpha).to_dtype(self.dtype()) };
        self.index_scatter("index_add", dim, index, &src, ScatterReduce::Sum, true)
    }

    #[track_caller]
    pub fn index_copy(&self, dim: i64, index: &Tensor, source: &Tensor) -> Tensor {
        same_dtype("index_copy", self, source);
        self.index_scatter("index_copy", dim, index, source, ScatterReduce::Assign, true)
    }

    /// `value` (a scalar or a 0-d tensor) written into the slices named by `index`. A
    /// position named twice is filled once (so a tensor value's gradient counts it once).
    #[track_caller]
    pub fn index_fill(&self, dim: i64, index: &Tensor, value: impl Into<Arg>) -> Tensor {
        let shape = resized(self.shape(), dim_of("index_fill", dim, self.dim()), index.numel());
        let hit = Tensor::zeros(&self.shape(), DType::Bool);
        let mask = hit.index_scatter(
            "index_fill",
            dim,
            index,
            &Tensor::full(&shape, true, DType::Bool),
            ScatterReduce::Assign,
            true,
        );
        Tensor::where_(&mask, source(value, self.dtype(), &[]), self)
    }

    /// `index_add` with another reduction ("prod", "mean", "amax", "amin").
    #[track_caller]
    pub fn index_reduce(&self, dim: i64, index: &Tensor, source: &Tensor, reduce: &str, include_self: bool) -> Tensor {
        same_dtype("index_reduce", self, source);
        self.index_scatter("index_reduce", dim, index, source, reduce_of("index_reduce", reduce), include_self)
    }

    fn index_scatter(
        &self,
        op: &'static str,
        dim: i64,
        index: &Tensor,
        source: &Tensor,
        reduce: ScatterReduce,
        include_self: bool,
    ) -> Tensor {
        let d = dim_of(op, dim, self.dim());
        let index = as_index(op, index);
        let want = resized(self.shape(), d, index.numel());
        let src = if source.dim() == 0 && !want.is_empty() { source.reshape(&[1]) } else { source.clone() };
        if src.shape() != want {
            raise(Error::shape(op, format!("{op}(): source shape {:?} does not match {want:?}", source.shape())));
        }
        let idx = along(op, &index, d, &want);
        scatter(self, d, &idx, &src.reshape(&dims_i64(&want)), reduce, include_self)
    }

    /// Elements of `self` (read as 1-d) at `index`; the result has the index's shape.
    #[track_caller]
    pub fn take(&self, index: &Tensor) -> Tensor {
        let index = as_index("take", index);
        let flat = self.reshape(&[-1]);
        let idx = wrap(&index.reshape(&[-1]), flat.numel());
        gather(&flat, 0, &idx).reshape(&dims_i64(&index.shape()))
    }

    /// `self` (read as 1-d) with `source` written (or added) at `index`.
    #[track_caller]
    pub fn put(&self, index: &Tensor, source: &Tensor, accumulate: bool) -> Tensor {
        same_dtype("put", self, source);
        let index = as_index("put", index);
        if index.numel() != source.numel() {
            raise(Error::shape("put", "put_(): Expected source and index to have the same number of elements"));
        }
        let flat = self.reshape(&[-1]);
        let idx = wrap(&index.reshape(&[-1]), flat.numel());
        let r = if accumulate { ScatterReduce::Sum } else { ScatterReduce::Assign };
        scatter(&flat, 0, &idx, &source.reshape(&[-1]), r, true).reshape(&dims_i64(&self.shape()))
    }

    /// `gather` with broadcasting between `self` and `indices` outside `dim`; without a
    /// dim, both are read as 1-d.
    #[track_caller]
    pub fn take_along_dim(&self, indices: &Tensor, dim: Option<i64>) -> Tensor {
        let indices = as_index("take_along_dim", indices);
        let Some(dim) = dim else {
            return self.reshape(&[-1]).take_along_dim(&indices.reshape(&[-1]), Some(0));
        };
        if self.dim() != indices.dim() {
            raise(Error::shape(
                "take_along_dim",
                "torch.take_along_dim(): input and indices should have the same number of dimensions",
            ));
        }
        let d = dim_of("take_along_dim", dim, self.dim());
        let (mut xs, mut is) = (self.shape(), indices.shape());
        if !xs.is_empty() {
            xs[d] = 1;
            is[d] = 1;
        }
        let b = check(psionic_core::broadcast_shapes("take_along_dim", &xs, &is));
        let shape_with = |n: usize| {
            let mut s = b.clone();
            if !s.is_empty() {
                s[d] = n;
            }
            s
        };
        let x = self.broadcast_to(&shape_with(self.shape().get(d).copied().unwrap_or(1)));
        let size = x.shape().get(d).copied().unwrap_or(1);
        let i = wrap(&indices, size).broadcast_to(&shape_with(indices.shape().get(d).copied().unwrap_or(1)));
        gather(&x, d, &i)
    }

    /// `value` where `mask` (broadcast to this shape) is true.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: impl Into<Arg>) -> Tensor {
        bool_mask("masked_fill", mask);
        let value = value.into();
        if let Arg::T(t) = &value {
            if t.dim() != 0 {
                raise(Error::invalid(
                    "masked_fill",
                    format!(
                        "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {} dimension(s).",
                        t.dim()
                    ),
                ));
            }
        }
        let out = Tensor::where_(mask, source(value, self.dtype(), &[]), self);
        if out.shape() != self.shape() {
            raise(Error::shape(
                "masked_fill",
                format!("the mask of shape {:?} does not broadcast to {:?}", mask.shape(), self.shape()),
            ));
        }
        out
    }

    /// The elements where `mask` is true, as a 1-d tensor (both broadcast first).
    #[track_caller]
    pub fn masked_select(&self, mask: &Tensor) -> Tensor {
        if mask.dtype() != DType::Bool {
            raise(Error::dtype(
                "masked_select",
                format!("masked_select: expected BoolTensor for mask, got {}", mask.dtype()),
            ));
        }
        let b = Tensor::broadcast_tensors(&[self, mask]);
        let at = b[1].reshape(&[-1]).nonzero().reshape(&[-1]);
        gather(&b[0].reshape(&[-1]), 0, &at)
    }

    /// `self` with the true positions of `mask` (broadcast to this shape) filled, in
    /// order, from the leading elements of `source`.
    #[track_caller]
    pub fn masked_scatter(&self, mask: &Tensor, source: &Tensor) -> Tensor {
        same_dtype("masked_scatter", self, source);
        bool_mask("masked_scatter", mask);
        let shape = check(psionic_core::broadcast_shapes("masked_scatter", &self.shape(), &mask.shape()));
        let at = mask.broadcast_to(&shape).reshape(&[-1]).nonzero().reshape(&[-1]);
        let n = at.numel();
        let src = source.reshape(&[-1]);
        if src.numel() < n {
            raise(Error::invalid(
                "masked_scatter",
                "masked_scatter: expected source to have at least as many elements as ones in mask",
            ));
        }
        let flat = self.broadcast_to(&shape).reshape(&[-1]);
        let out = scatter(&flat, 0, &at, &boxed(&src, &[n]), ScatterReduce::Assign, true);
        out.reshape(&dims_i64(&shape))
    }

    /// Coordinates of the nonzero elements, one row each (`[n, ndim]`, i64).
    #[track_caller]
    pub fn nonzero(&self) -> Tensor {
        let shape = self.shape();
        let nd = shape.len();
        let hits: Vec<usize> = self.to_vec::<bool>().iter().enumerate().filter(|(_, &f)| f).map(|(k, _)| k).collect();
        let n = hits.len();
        let mut coords = vec![0i64; n * nd];
        for (row, &k) in coords.chunks_mut(nd.max(1)).zip(&hits) {
            let mut rem = k;
            for d in (0..nd).rev() {
                row[d] = (rem % shape[d]) as i64;
                rem /= shape[d];
            }
        }
        Tensor::from_vec(coords, &[n, shape.len()])
    }

    /// `nonzero` (PyTorch's `argwhere`).
    #[track_caller]
    pub fn argwhere(&self) -> Tensor {
        self.nonzero()
    }

    /// One-argument `where`: the coordinates of nonzero elements, one 1-d tensor per dim.
    #[track_caller]
    pub fn nonzero_tuple(&self) -> Vec<Tensor> {
        let nz = self.nonzero();
        if self.dim() == 0 {
            return vec![Tensor::zeros(&[nz.size(0)], DType::I64)];
        }
        nz.unbind(1)
    }

    /// Counts of each value of a 1-d non-negative integer tensor (or sums of `weights`),
    /// with at least `minlength` bins.
    #[track_caller]
    pub fn bincount(&self, weights: Option<&Tensor>, minlength: usize) -> Tensor {
        if self.dim() != 1 || !self.dtype().is_int() && self.dtype() != DType::Bool {
            raise(Error::invalid("bincount", "bincount only supports 1-d non-negative integral inputs."));
        }
        let vals = self.to_vec::<i64>();
        if vals.iter().any(|&v| v < 0) {
            raise(Error::invalid("bincount", "bincount only supports 1-d non-negative integral inputs."));
        }
        let bins = vals.iter().map(|&v| v as usize + 1).max().unwrap_or(0).max(minlength);
        let idx = self.to_dtype(DType::I64);
        match weights {
            None => Tensor::zeros(&[bins], DType::I64).scatter_add(0, &idx, &Tensor::ones(&[self.numel()], DType::I64)),
            Some(w) => {
                if w.shape() != self.shape() {
                    raise(Error::shape("bincount", "weights should be 1-d and have the same length as input"));
                }
                // PyTorch keeps float32 weights and sums every other dtype in float64.
                let dt = if w.dtype() == DType::F32 { DType::F32 } else { DType::F64 };
                Tensor::zeros(&[bins], dt).scatter_add(0, &idx, &w.to_dtype(dt))
            }
        }
    }

    /// Histogram of `bins` equal bins over `[min, max]` (the data's range when both are
    /// equal); elements outside are ignored.
    #[track_caller]
    pub fn histc(&self, bins: usize, min: f64, max: f64) -> Tensor {
        if !self.dtype().is_float() {
            raise(Error::dtype("histc", format!("\"histogram_cpu\" not implemented for '{}'", self.dtype())));
        }
        if bins == 0 {
            raise(Error::invalid("histc", "torch.histc(): bins must be > 0"));
        }
        let (mut lo, mut hi) = (min, max);
        if lo > hi {
            raise(Error::invalid("histc", "torch.histc(): max must be larger than min"));
        }
        if lo == hi && self.numel() > 0 {
            lo = self.min_all().item::<f64>();
            hi = self.max_all().item::<f64>();
        }
        if lo == hi {
            lo -= 1.0;
            hi += 1.0;
        }
        if !lo.is_finite() || !hi.is_finite() {
            raise(Error::invalid("histc", format!("torch.histc(): range of [{lo}, {hi}] is not finite")));
        }
        let x = self.reshape(&[-1]).to_dtype(DType::F64);
        let inside = x.ge(lo).logical_and(x.le(hi));
        let pos = ((&x - lo) * (bins as f64 / (hi - lo))).floor().clamp(Some(0.0), Some(bins as f64 - 1.0));
        let idx = Tensor::where_(&inside, &pos, 0.0).to_dtype(DType::I64);
        let counts = Tensor::zeros(&[bins], self.dtype());
        counts.scatter_add(0, &idx, &inside.to_dtype(self.dtype()))
    }
}
