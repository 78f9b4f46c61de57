//! PyTorch's indexing entry point, `x[...]` for reading (`index`) and for assignment
//! (`index_put`, `index_put_`).
//!
//! Integers, slices, `None` and `...` are views (`select`, `slice`, `unsqueeze`).
//! Integer and bool tensors are *advanced* indices: bool masks become the integer
//! coordinates of their true elements; all integer indices broadcast together to a shape
//! `B`, and the indexed dims are replaced by `B` — where the first of them was when they
//! are adjacent, in front otherwise (PyTorch's rule; integers are selects, not advanced
//! indices, unlike NumPy). The advanced dims are moved to the front, merged into one, and
//! read with a gather (written with a scatter) at the linear index of each position.

use crate::mode::raise;
use crate::ops::args::{dims_i64, inverse_permutation};
use crate::ops::index::{along, wrap};
use crate::prim::{gather, scatter};
use crate::tensor::Tensor;
use psionic_core::ops::ScatterReduce;
use psionic_core::{DType, Error};

/// One entry of an index expression.
#[derive(Clone)]
pub enum TensorIndex {
    /// `x[i]`: selects (removes) a dim; negative counts from the end.
    Int(i64),
    /// `x[start:stop:step]` (step > 0).
    Slice { start: Option<i64>, stop: Option<i64>, step: i64 },
    /// `x[None]`: a new dim of size 1.
    NewAxis,
    /// `x[...]`: as many full slices as the other entries leave dims.
    Ellipsis,
    /// An integer tensor (positions along one dim) or a bool mask (over as many dims as
    /// it has).
    Tensor(Tensor),
}

impl TensorIndex {
    /// `:`.
    pub fn full() -> TensorIndex {
        TensorIndex::Slice { start: None, stop: None, step: 1 }
    }

    pub fn slice(start: Option<i64>, stop: Option<i64>, step: i64) -> TensorIndex {
        TensorIndex::Slice { start, stop, step }
    }
}

impl From<i64> for TensorIndex {
    fn from(i: i64) -> Self {
        TensorIndex::Int(i)
    }
}
impl From<&Tensor> for TensorIndex {
    fn from(t: &Tensor) -> Self {
        TensorIndex::Tensor(t.clone())
    }
}
impl From<Tensor> for TensorIndex {
    fn from(t: Tensor) -> Self {
        TensorIndex::Tensor(t)
    }
}
impl From<std::ops::RangeFull> for TensorIndex {
    fn from(_: std::ops::RangeFull) -> Self {
        TensorIndex::full()
    }
}
impl From<std::ops::Range<i64>> for TensorIndex {
    fn from(r: std::ops::Range<i64>) -> Self {
        TensorIndex::slice(Some(r.start), Some(r.end), 1)
    }
}
impl From<std::ops::RangeFrom<i64>> for TensorIndex {
    fn from(r: std::ops::RangeFrom<i64>) -> Self {
        TensorIndex::slice(Some(r.start), None, 1)
    }
}
impl From<std::ops::RangeTo<i64>> for TensorIndex {
    fn from(r: std::ops::RangeTo<i64>) -> Self {
        TensorIndex::slice(None, Some(r.end), 1)
    }
}

fn is_mask(t: &Tensor) -> bool {
    matches!(t.dtype(), DType::Bool | DType::U8)
}

/// The basic part of an index applied: a view of `x`, and the advanced indices as
/// (dim of that view, i64 positions) in order.
fn split(x: &Tensor, idx: &[TensorIndex]) -> (Tensor, Vec<(usize, Tensor)>) {
    let consumed: usize = idx
        .iter()
        .map(|i| match i {
            TensorIndex::Int(_) | TensorIndex::Slice { .. } => 1,
            TensorIndex::Tensor(t) if is_mask(t) => t.dim(),
            TensorIndex::Tensor(_) => 1,
            TensorIndex::NewAxis | TensorIndex::Ellipsis => 0,
        })
        .sum();
    if idx.iter().filter(|i| matches!(i, TensorIndex::Ellipsis)).count() > 1 {
        raise(Error::invalid("index", "an index can only have a single ellipsis ('...')"));
    }
    let nd = x.dim();
    if consumed > nd {
        raise(Error::invalid("index", format!("too many indices for tensor of dimension {nd}")));
    }
    let (mut v, mut d, mut adv) = (x.clone(), 0usize, vec![]);
    for (k, i) in idx.iter().enumerate() {
        match i {
            TensorIndex::Int(n) => v = v.select(d as i64, *n),
            TensorIndex::Slice { start, stop, step } => {
                if *step <= 0 {
                    raise(Error::invalid("index", "step must be greater than zero"));
                }
                v = v.slice(d as i64, *start, *stop, *step);
                d += 1;
            }
            TensorIndex::NewAxis => {
                v = v.unsqueeze(d as i64);
                d += 1;
            }
            TensorIndex::Ellipsis => d += nd - consumed,
            TensorIndex::Tensor(t) if is_mask(t) && t.dim() == 0 => {
                // `x[True]` adds a dim of size 1, `x[False]` one of size 0.
                v = v.unsqueeze(d as i64);
                let keep = t.to_vec::<bool>()[0];
                adv.push((d, Tensor::zeros(&[keep as usize], DType::I64)));
                d += 1;
            }
            TensorIndex::Tensor(t) if is_mask(t) => {
                let k_dims = t.dim();
                let vs = v.shape();
                if vs[d..d + k_dims] != t.shape()[..] {
                    raise(Error::shape(
                        "index",
                        format!(
                            "The shape of the mask {:?} at index {k} does not match the shape of the indexed tensor {:?} at index {d}",
                            t.shape(),
                            &vs[d..]
                        ),
                    ));
                }
                let nz = t.to_dtype(DType::Bool).nonzero();
                for j in 0..k_dims {
                    adv.push((d + j, nz.select(1, j as i64)));
                }
                d += k_dims;
            }
            TensorIndex::Tensor(t) => {
                if !t.dtype().is_int() {
                    raise(Error::dtype("index", "tensors used as indices must be long, int, byte or bool tensors"));
                }
                adv.push((d, t.to_dtype(DType::I64)));
                d += 1;
            }
        }
    }
    (v, adv)
}

/// Everything the advanced part of an index needs, worked out once for reads and writes.
struct Plan {
    /// The indexed view with the advanced dims moved to the front.
    front: Tensor,
    /// Its permutation from the basic view.
    perm: Vec<i64>,
    /// Linear position among the merged advanced dims, shape `B`.
    linear: Tensor,
    /// Where `B` goes in the result (0 unless the advanced dims were adjacent).
    at: usize,
    /// How many advanced dims lead `front`.
    k: usize,
}

fn plan(v: &Tensor, adv: &[(usize, Tensor)]) -> Plan {
    let vs = v.shape();
    let dims: Vec<usize> = adv.iter().map(|(d, _)| *d).collect();
    let refs: Vec<&Tensor> = adv.iter().map(|(_, t)| t).collect();
    let idx = Tensor::broadcast_tensors(&refs);
    let mut linear: Option<Tensor> = None;
    let mut bad: Option<Tensor> = None;
    for (&d, i) in dims.iter().zip(&idx) {
        let size = vs[d];
        if i.node().is_evaluated() {
            if let Some(&o) = i.to_vec::<i64>().iter().find(|&&o| o < -(size as i64) || o >= size as i64) {
                raise(Error::invalid(
                    "index",
                    format!("index {o} is out of bounds for dimension {d} with size {size}"),
                ));
            }
        } else {
            // Unknown values (lazy, vmap): an invalid position makes the gather refuse.
            let b = i.lt(-(size as i64)).logical_or(i.ge(size as i64));
            bad = Some(match bad {
                Some(x) => x.logical_or(&b),
                None => b,
            });
        }
        let w = wrap(i, size);
        linear = Some(match linear {
            Some(l) => &(&l * size as i64) + &w,
            None => w,
        });
    }
    let mut linear = linear.expect("at least one advanced index");
    if let Some(b) = bad {
        linear = Tensor::where_(&b, -1i64, &linear);
    }
    let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
    let mut perm: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    perm.extend((0..vs.len()).filter(|d| !dims.contains(d)).map(|d| d as i64));
    Plan { front: v.permute(&perm), perm, linear, at: if adjacent { dims[0] } else { 0 }, k: dims.len() }
}

impl Plan {
    /// `front` with the advanced dims merged into one, and the sizes of the other dims.
    fn merged(&self) -> (Tensor, Vec<usize>) {
        let fs = self.front.shape();
        let n: usize = fs[..self.k].iter().product();
        let mut shape = vec![n as i64];
        shape.extend(dims_i64(&fs[self.k..]));
        (self.front.reshape(&shape), fs[self.k..].to_vec())
    }

    /// The linear positions spread over `[numel(B), rest...]` (a stride-0 view).
    fn spread(&self, rest: &[usize]) -> Tensor {
        let mut shape = vec![self.linear.numel()];
        shape.extend(rest);
        along("index", &self.linear.reshape(&[-1]), 0, &shape)
    }
}

impl Tensor {
    /// `self[idx]`: a view when `idx` has no tensors, else a new tensor.
    #[track_caller]
    pub fn index(&self, idx: &[TensorIndex]) -> Tensor {
        let (v, adv) = split(self, idx);
        if adv.is_empty() {
            return v;
        }
        let p = plan(&v, &adv);
        let (merged, rest) = p.merged();
        let out = gather(&merged, 0, &p.spread(&rest));
        let b = p.linear.shape();
        let mut shape = dims_i64(&b);
        shape.extend(dims_i64(&rest));
        move_batch(out.reshape(&shape), b.len(), p.at, false)
    }

    /// `self` with `self[idx] = values` (or `+= values` with `accumulate`, which adds
    /// every duplicate position's value); `values` broadcast to the indexed shape.
    #[track_caller]
    pub fn index_put(&self, idx: &[TensorIndex], values: &Tensor, accumulate: bool) -> Tensor {
        let out = self.deep_clone();
        out.index_put_(idx, values, accumulate);
        out
    }

    /// In-place `index_put`.
    #[track_caller]
    pub fn index_put_(&self, idx: &[TensorIndex], values: &Tensor, accumulate: bool) -> &Self {
        let (v, adv) = split(self, idx);
        let values = values.to_dtype(self.dtype());
        if adv.is_empty() {
            let new = if accumulate { &v + &values } else { values };
            v.copy_(&new);
            return self;
        }
        let p = plan(&v, &adv);
        let (merged, rest) = p.merged();
        // The read's result shape: the other dims with `B` inserted at `at`.
        let b = p.linear.shape();
        let placed = [&rest[..p.at], &b[..], &rest[p.at..]].concat();
        let vals = move_batch(values.broadcast_to(&placed), b.len(), p.at, true);
        let mut flat_shape = vec![p.linear.numel() as i64];
        flat_shape.extend(dims_i64(&rest));
        let reduce = if accumulate { ScatterReduce::Sum } else { ScatterReduce::Assign };
        let new = scatter(&merged, 0, &p.spread(&rest), &vals.reshape(&flat_shape), reduce, true);
        let new = new.reshape(&dims_i64(&p.front.shape()));
        v.copy_(&new.permute(&inverse_permutation(&p.perm, p.perm.len())));
        self
    }
}

/// Moves the leading `n` dims of `t` to position `at` (or back, with `back`).
fn move_batch(t: Tensor, n: usize, at: usize, back: bool) -> Tensor {
    if at == 0 || n == 0 {
        return t;
    }
    let lead: Vec<i64> = (0..n as i64).collect();
    let placed: Vec<i64> = (at as i64..(at + n) as i64).collect();
    if back {
        t.movedim(&placed, &lead)
    } else {
        t.movedim(&lead, &placed)
    }
}
