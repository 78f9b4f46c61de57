//! Lookups into a weight table: `embedding` (padding row, max-norm renormalization,
//! gradients scaled by index frequency) and `embedding_bag` (the sum, mean or maximum of
//! each bag of rows). Rows are gathered with `index_select`; bags are reduced with
//! `index_add`/`index_reduce` into one row per bag, so gradients, jvp and vmap come from
//! those ops. Entries equal to `padding_idx` go to a spare bag that is dropped.

use crate::autodiff::mode::no_grad;
use crate::mode::raise;
use crate::ops::args::dims_i64;
use crate::tensor::Tensor;
use psionic_core::{DType, Error};

/// What `F.embedding` and `F.embedding_bag` share.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// A row that contributes nothing to bags and receives no gradient.
    pub padding_idx: Option<i64>,
    /// Looked-up rows whose `norm_type` norm exceeds this are scaled down to it, in the
    /// weight itself (PyTorch's `embedding_renorm_`).
    pub max_norm: Option<f64>,
    pub norm_type: f64,
    /// Each row's gradient is divided by how often its index occurs in the batch.
    pub scale_grad_by_freq: bool,
}

impl Default for Lookup {
    fn default() -> Lookup {
        Lookup { padding_idx: None, max_norm: None, norm_type: 2.0, scale_grad_by_freq: false }
    }
}

/// How `embedding_bag` reduces a bag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BagMode {
    Sum,
    Mean,
    Max,
}

impl BagMode {
    pub fn from_name(name: &str) -> Option<BagMode> {
        Some(match name {
            "sum" => BagMode::Sum,
            "mean" => BagMode::Mean,
            "max" => BagMode::Max,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            BagMode::Sum => "sum",
            BagMode::Mean => "mean",
            BagMode::Max => "max",
        }
    }
}

/// How `embedding_bag`'s indices split into bags, and what weighs them.
#[derive(Clone, Copy, Debug)]
pub struct Bags<'a> {
    /// For 1-D indices: where each bag starts (the first must be 0). 2-D indices are one
    /// bag per row and take none.
    pub offsets: Option<&'a Tensor>,
    pub mode: BagMode,
    /// One weight per index, multiplying its row (sum mode only).
    pub per_sample_weights: Option<&'a Tensor>,
    /// The last offset is the end of the last bag rather than the start of one more.
    pub include_last_offset: bool,
}

impl<'a> Bags<'a> {
    pub fn new(mode: BagMode) -> Bags<'a> {
        Bags { offsets: None, mode, per_sample_weights: None, include_last_offset: false }
    }
}

/// How often each of `0..size` occurs in the 1-D `index`, as `dtype` (a tensor op, so
/// no host read).
fn occurrences(index: &Tensor, size: usize, dtype: DType) -> Tensor {
    Tensor::zeros(&[size], dtype).index_add(0, index, &Tensor::ones(&[index.shape()[0]], dtype), 1)
}

/// Gives `x`'s value unchanged but its gradient multiplied by `s`. (`x - x.detach()` is
/// exactly zero for finite `x`, so the value is `x` bit for bit.)
fn scale_grad(x: &Tensor, s: &Tensor) -> Tensor {
    let d = x.detach();
    &d + &(&(x - &d) * s)
}

impl Tensor {
    fn lookup_checks(&self, op: &'static str, indices: &Tensor) {
        if self.dim() != 2 {
            raise(Error::shape(op, "'weight' must be 2-D"));
        }
        if !matches!(indices.dtype(), DType::I64 | DType::I32) {
            raise(Error::dtype(
                op,
                format!(
                    "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got {} instead",
                    indices.dtype().name()
                ),
            ));
        }
    }

    /// `padding_idx` made non-negative and checked against the table.
    fn padding_row(&self, op: &'static str, padding_idx: Option<i64>) -> Option<i64> {
        let rows = self.shape()[0] as i64;
        padding_idx.map(|p| {
            if !(-rows..rows).contains(&p) {
                raise(Error::invalid(op, "Padding_idx must be within num_embeddings"));
            }
            if p < 0 {
                p + rows
            } else {
                p
            }
        })
    }

    /// Per looked-up row, `1 / (occurrences of its index)`: the gradient scale of
    /// `scale_grad_by_freq`.
    fn inverse_frequency(&self, flat: &Tensor) -> Tensor {
        let counts = occurrences(flat, self.shape()[0], self.dtype());
        counts.index_select(0, flat).reciprocal().unsqueeze(-1)
    }

    /// `torch.embedding_renorm_(weight, indices, max_norm, norm_type)`: every row named in
    /// `indices` whose norm exceeds `max_norm` is scaled by `max_norm / (norm + 1e-7)`, in
    /// place and outside autograd.
    #[track_caller]
    pub fn embedding_renorm_(&self, indices: &Tensor, max_norm: f64, norm_type: f64) -> &Self {
        self.lookup_checks("embedding_renorm_", indices);
        no_grad(|| {
            let (rows, _, _) = indices.reshape(&[-1]).unique(false, false);
            let w = self.index_select(0, &rows);
            let norm = crate::linalg::vector_norm(&w, norm_type, Some(&[1]), true);
            let scale = Tensor::where_(&norm.gt(max_norm), (&norm + 1e-7).reciprocal().mul(max_norm), 1.0);
            self.index_copy_(0, &rows, &(&w * &scale));
        });
        self
    }

    /// `F.embedding(indices, weight, padding_idx)`: rows of `weight` (this tensor) at
    /// `indices`; the `padding_idx` row receives no gradient.
    #[track_caller]
    pub fn embedding(&self, indices: &Tensor, padding_idx: Option<i64>) -> Tensor {
        self.embedding_with(indices, &Lookup { padding_idx, ..Lookup::default() })
    }

    /// `F.embedding` with all of its options.
    #[track_caller]
    pub fn embedding_with(&self, indices: &Tensor, o: &Lookup) -> Tensor {
        let op = "embedding";
        self.lookup_checks(op, indices);
        let pad = self.padding_row(op, o.padding_idx);
        if let Some(m) = o.max_norm {
            self.embedding_renorm_(indices, m, o.norm_type);
        }
        let w = match pad {
            Some(p) => {
                let is_pad = Tensor::arange_dtype(0, self.shape()[0] as i64, 1, DType::I64).eq(p).unsqueeze(-1);
                Tensor::where_(&is_pad, self.detach(), self)
            }
            None => self.clone(),
        };
        let flat = indices.reshape(&[-1]);
        let mut rows = w.index_select(0, &flat);
        if o.scale_grad_by_freq {
            rows = scale_grad(&rows, &self.inverse_frequency(&flat));
        }
        let mut shape = dims_i64(&indices.shape());
        shape.push(self.shape()[1] as i64);
        rows.reshape(&shape)
    }

    /// `F.embedding_bag(indices, weight, offsets, ...)`: one row per bag (`[bags, dim]`),
    /// the sum, mean or maximum of the rows its indices name; an empty bag (or one of
    /// padding only) is zeros.
    #[track_caller]
    pub fn embedding_bag(&self, indices: &Tensor, bags: &Bags, o: &Lookup) -> Tensor {
        let op = "embedding_bag";
        self.lookup_checks(op, indices);
        let pad = self.padding_row(op, o.padding_idx);
        let (nbags, bag_of) = bag_ids(indices, bags);
        if let Some(w) = bags.per_sample_weights {
            if bags.mode != BagMode::Sum {
                raise(Error::invalid(op, format!("embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' (got mode='{}'). Please open a feature request on the Pytorch GitHub.", bags.mode.name())));
            }
            if w.shape() != indices.shape() {
                raise(Error::shape(op, format!("embedding_bag: If per_sample_weights ({:?}) is not None, then it must have the same shape as the input ({:?})", w.shape(), indices.shape())));
            }
        }
        if o.scale_grad_by_freq && bags.mode == BagMode::Max {
            raise(Error::invalid(op, "max mode does not support scale_grad_by_freq"));
        }
        if let Some(m) = o.max_norm {
            self.embedding_renorm_(indices, m, o.norm_type);
        }
        let wide = self.dtype().opmath();
        if wide != self.dtype() {
            // Half types sum their bags in f32 and round once, as PyTorch does.
            let psw = bags.per_sample_weights.map(|w| w.to_dtype(wide));
            let bags = Bags { per_sample_weights: psw.as_ref(), ..*bags };
            let o = Lookup { max_norm: None, ..o.clone() };
            return self.to_dtype(wide).embedding_bag(indices, &bags, &o).to_dtype(self.dtype());
        }
        let flat = indices.reshape(&[-1]);
        let n = flat.shape()[0];
        let mut rows = self.index_select(0, &flat);
        if o.scale_grad_by_freq {
            rows = scale_grad(&rows, &self.inverse_frequency(&flat));
        }
        if let Some(w) = bags.per_sample_weights {
            rows = &rows * &w.reshape(&[-1, 1]).to_dtype(self.dtype());
        }
        let mut bag = Tensor::from_vec(bag_of, &[n]);
        if let Some(p) = pad {
            bag = Tensor::where_(&flat.to_dtype(DType::I64).eq(p), nbags as i64, &bag);
        }
        let dim = self.shape()[1];
        let zeros = Tensor::zeros(&[nbags + 1, dim], self.dtype());
        let out = match bags.mode {
            BagMode::Sum => zeros.index_add(0, &bag, &rows, 1),
            BagMode::Mean => {
                let counts = occurrences(&bag, nbags + 1, self.dtype());
                zeros.index_add(0, &bag, &rows, 1) / counts.clamp(Some(1.0), None::<f64>).unsqueeze(-1)
            }
            BagMode::Max => zeros.index_reduce(0, &bag, &rows, "amax", false),
        };
        out.narrow(0, 0, nbags)
    }
}

/// The number of bags and the bag of each index (in flattened order); indices after the
/// end given by `include_last_offset` go to the spare bag `nbags`.
fn bag_ids(indices: &Tensor, bags: &Bags) -> (usize, Vec<i64>) {
    let op = "embedding_bag";
    let s = indices.shape();
    match (s.len(), bags.offsets) {
        (2, None) => (s[0], (0..s[0] * s[1]).map(|j| (j / s[1]) as i64).collect()),
        (2, Some(_)) => raise(Error::invalid(
            op,
            "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length sequences.",
        )),
        (1, Some(off)) => {
            if off.dim() != 1 || !matches!(off.dtype(), DType::I64 | DType::I32) {
                raise(Error::shape(op, format!("offsets has to be a 1D Tensor of integers, but got {}D", off.dim())));
            }
            // Offsets are read on the host: they fix the output's shape.
            let offsets = off.to_dtype(DType::I64).to_vec::<i64>();
            let n = s[0] as i64;
            if offsets.first().is_some_and(|&o| o != 0) {
                raise(Error::invalid(op, format!("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. However, got {}", offsets[0])));
            }
            if let Some(&last) = offsets.last() {
                if last > n {
                    raise(Error::invalid(op, format!("offsets[-1] can not be greater than input's length {n}, but got offsets[-1] of {last}")));
                }
            }
            if offsets.windows(2).any(|w| w[0] > w[1]) {
                raise(Error::invalid(op, "offsets must be non-decreasing"));
            }
            let nbags = if bags.include_last_offset { offsets.len().saturating_sub(1) } else { offsets.len() };
            let end = if bags.include_last_offset { offsets.last().copied().unwrap_or(0) } else { n };
            let mut ids = Vec::with_capacity(s[0]);
            let mut b = 0usize;
            for j in 0..n {
                while b + 1 < nbags && offsets[b + 1] <= j {
                    b += 1;
                }
                ids.push(if j >= end || nbags == 0 { nbags as i64 } else { b as i64 });
            }
            (nbags, ids)
        }
        (1, None) => raise(Error::invalid(op, "offsets has to be a 1D Tensor but got None")),
        (d, _) => raise(Error::shape(op, format!("input has to be 1D or 2D Tensor, but got Tensor of dimension {d}"))),
    }
}
