//! Shape and view ops. Views (reshape/view when strides allow, permute, transpose, slice,
//! narrow, select, expand, squeeze, unsqueeze, diagonal, unfold, as_strided) share storage
//! with their base; the rest (cat, stack, flip, roll, repeat, ...) copy, as in PyTorch.

use crate::mode::{check, raise};
use crate::prim::{Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::shape::normalize_insert_dim;
use psionic_core::{normalize_dim, Error, Layout};

/// Resolves one `-1` in a requested shape (`reshape`, `view`).
fn infer_shape(op: &'static str, req: &[i64], numel: usize) -> Vec<usize> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &s) in req.iter().enumerate() {
        if s == -1 {
            if infer.replace(i).is_some() {
                raise(Error::shape(op, "only one dimension can be inferred"));
            }
        } else if s < 0 {
            raise(Error::shape(op, format!("invalid shape dimension {s}")));
        } else {
            known *= s as usize;
        }
    }
    let mut out: Vec<usize> = req.iter().map(|&s| s.max(0) as usize).collect();
    match infer {
        Some(i) if known != 0 && numel.is_multiple_of(known) => out[i] = numel / known,
        None if known == numel => {}
        _ => raise(Error::shape(op, format!("shape '{req:?}' is invalid for input of size {numel}"))),
    }
    out
}

impl Tensor {
    #[track_caller]
    pub(crate) fn view_op(&self, op: ViewOp) -> Tensor {
        check(self.make_view(op))
    }

    /// Reinterprets the shape without copying; fails when the strides do not allow it.
    #[track_caller]
    pub fn view(&self, shape: &[i64]) -> Tensor {
        let s = infer_shape("view", shape, self.numel());
        let l = self.node().meta.layout();
        if l.view(&s).is_none() {
            raise(Error::shape(
                "view",
                format!("view size is not compatible with input tensor's size and stride (shape {:?}, strides {:?}); use .reshape(...) instead.", l.shape, l.strides),
            ));
        }
        self.view_op(ViewOp::Reshape(s))
    }

    /// A view when the strides allow it, otherwise a contiguous copy.
    #[track_caller]
    pub fn reshape(&self, shape: &[i64]) -> Tensor {
        let s = infer_shape("reshape", shape, self.numel());
        if self.node().meta.layout().view(&s).is_some() {
            self.view_op(ViewOp::Reshape(s))
        } else {
            check(Tensor::make(Prim::View(ViewOp::Reshape(s)), &[&self.deep_clone()]))
        }
    }

    #[track_caller]
    pub fn flatten(&self, start_dim: i64, end_dim: i64) -> Tensor {
        let shape = self.shape();
        if shape.is_empty() {
            return self.reshape(&[1]);
        }
        let (a, b) = (
            check(normalize_dim("flatten", start_dim, shape.len())),
            check(normalize_dim("flatten", end_dim, shape.len())),
        );
        if a > b {
            raise(Error::invalid("flatten", "flatten() has invalid args: start_dim cannot come after end_dim"));
        }
        let mut s: Vec<i64> = shape[..a].iter().map(|&v| v as i64).collect();
        s.push(shape[a..=b].iter().product::<usize>() as i64);
        s.extend(shape[b + 1..].iter().map(|&v| v as i64));
        self.reshape(&s)
    }

    #[track_caller]
    pub fn unflatten(&self, dim: i64, sizes: &[i64]) -> Tensor {
        let shape = self.shape();
        let d = check(normalize_dim("unflatten", dim, shape.len()));
        let inner = infer_shape("unflatten", sizes, shape[d]);
        let mut s: Vec<i64> = shape[..d].iter().map(|&v| v as i64).collect();
        s.extend(inner.iter().map(|&v| v as i64));
        s.extend(shape[d + 1..].iter().map(|&v| v as i64));
        self.view_or_reshape(&s)
    }

    fn view_or_reshape(&self, s: &[i64]) -> Tensor {
        self.reshape(s)
    }

    /// Removes all size-1 dims.
    #[track_caller]
    pub fn squeeze(&self) -> Tensor {
        self.view_op(ViewOp::Squeeze(None))
    }

    /// Removes the listed dims where they have size 1.
    #[track_caller]
    pub fn squeeze_dims(&self, dims: &[i64]) -> Tensor {
        self.view_op(ViewOp::Squeeze(Some(dims.to_vec())))
    }

    #[track_caller]
    pub fn unsqueeze(&self, dim: i64) -> Tensor {
        self.view_op(ViewOp::Unsqueeze(dim))
    }

    #[track_caller]
    pub fn transpose(&self, d0: i64, d1: i64) -> Tensor {
        let n = self.dim();
        if n == 0 {
            check(normalize_dim("transpose", d0, 0));
            check(normalize_dim("transpose", d1, 0));
            return self.view_op(ViewOp::Permute(vec![]));
        }
        let (a, b) = (check(normalize_dim("transpose", d0, n)), check(normalize_dim("transpose", d1, n)));
        let mut p: Vec<i64> = (0..n as i64).collect();
        p.swap(a, b);
        self.view_op(ViewOp::Permute(p))
    }

    #[track_caller]
    pub fn permute(&self, dims: &[i64]) -> Tensor {
        self.view_op(ViewOp::Permute(dims.to_vec()))
    }

    /// Moves dims `source` to positions `destination`, keeping the others in order.
    #[track_caller]
    pub fn movedim(&self, source: &[i64], destination: &[i64]) -> Tensor {
        let n = self.dim();
        if source.len() != destination.len() {
            raise(Error::invalid(
                "movedim",
                "Invalid source or destination dims: source and destination must have the same number of dims",
            ));
        }
        let src = check(psionic_core::shape::normalize_dims("movedim", source, n));
        let dst = check(psionic_core::shape::normalize_dims("movedim", destination, n));
        let mut perm = vec![usize::MAX; n];
        for (&s, &d) in src.iter().zip(&dst) {
            perm[d] = s;
        }
        let mut rest = (0..n).filter(|i| !src.contains(i));
        for p in perm.iter_mut() {
            if *p == usize::MAX {
                *p = rest.next().unwrap();
            }
        }
        self.permute(&perm.iter().map(|&p| p as i64).collect::<Vec<_>>())
    }

    /// Transpose of a matrix (`.t()`): ≤ 2-D only.
    #[track_caller]
    pub fn t(&self) -> Tensor {
        match self.dim() {
            0 | 1 => self.view_op(ViewOp::Permute((0..self.dim() as i64).collect())),
            2 => self.transpose(0, 1),
            n => raise(Error::shape("t", format!("t() expects a tensor with <= 2 dimensions, but self is {n}D"))),
        }
    }

    /// Transpose of the last two dims (`.mT`).
    #[allow(non_snake_case)]
    #[track_caller]
    pub fn mT(&self) -> Tensor {
        if self.dim() < 2 {
            raise(Error::shape(
                "mT",
                "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.",
            ));
        }
        self.transpose(-2, -1)
    }

    /// Broadcast view; `-1` keeps a dim's size.
    #[track_caller]
    pub fn expand(&self, shape: &[i64]) -> Tensor {
        let cur = self.shape();
        let lead = shape.len().saturating_sub(cur.len());
        let s: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v == -1 {
                    if i < lead {
                        raise(Error::shape(
                            "expand",
                            "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension",
                        ));
                    }
                    cur[i - lead]
                } else {
                    v as usize
                }
            })
            .collect();
        self.view_op(ViewOp::Expand(s))
    }

    #[track_caller]
    pub fn expand_as(&self, other: &Tensor) -> Tensor {
        self.broadcast_to(&other.shape())
    }

    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        self.view_op(ViewOp::Expand(shape.to_vec()))
    }

    #[track_caller]
    pub fn broadcast_tensors(tensors: &[&Tensor]) -> Vec<Tensor> {
        let shape = tensors.iter().fold(psionic_core::Dims::new(), |s, t| {
            check(psionic_core::broadcast_shapes("broadcast_tensors", &s, &t.shape()))
        });
        tensors.iter().map(|t| t.broadcast_to(&shape)).collect()
    }

    #[track_caller]
    pub fn narrow(&self, dim: i64, start: i64, length: usize) -> Tensor {
        let l = Layout::contiguous(&self.shape());
        check(l.narrow("narrow", dim, start, length));
        let n = self.size(dim) as i64;
        let s = if start < 0 { start + n } else { start };
        self.view_op(ViewOp::Slice { dim, start: Some(s), stop: Some(s + length as i64), step: 1 })
    }

    /// `x[start:stop:step]` along `dim`, with Python's clamping.
    #[track_caller]
    pub fn slice(&self, dim: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> Tensor {
        self.view_op(ViewOp::Slice { dim, start, stop, step })
    }

    /// `x.select(dim, index)`: drops `dim`.
    #[track_caller]
    pub fn select(&self, dim: i64, index: i64) -> Tensor {
        self.view_op(ViewOp::Select { dim, index })
    }

    #[track_caller]
    pub fn unbind(&self, dim: i64) -> Vec<Tensor> {
        (0..self.size(dim) as i64).map(|i| self.select(dim, i)).collect()
    }

    /// Splits into pieces of `split_size` along `dim` (the last may be smaller).
    #[track_caller]
    pub fn split(&self, split_size: usize, dim: i64) -> Vec<Tensor> {
        let n = self.size(dim);
        if split_size == 0 && n > 0 {
            raise(Error::invalid("split", "split_size can only be 0 if dimension size is 0"));
        }
        let sizes: Vec<usize> =
            if n == 0 { vec![0] } else { (0..n).step_by(split_size).map(|s| split_size.min(n - s)).collect() };
        self.split_with_sizes(&sizes, dim)
    }

    #[track_caller]
    pub fn split_with_sizes(&self, sizes: &[usize], dim: i64) -> Vec<Tensor> {
        let n = self.size(dim);
        if sizes.iter().sum::<usize>() != n {
            raise(Error::invalid(
                "split_with_sizes",
                format!("split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {dim}), but got split_sizes={sizes:?}"),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let t = self.narrow(dim, start as i64, s);
                start += s;
                t
            })
            .collect()
    }

    #[track_caller]
    pub fn chunk(&self, chunks: usize, dim: i64) -> Vec<Tensor> {
        if chunks == 0 {
            raise(Error::invalid("chunk", "chunk expects `chunks` to be greater than 0, got: 0"));
        }
        let n = self.size(dim);
        self.split(n.div_ceil(chunks).max(1), dim)
    }

    /// `tensor_split(sections, dim)`: `sections` pieces, the first `n % sections` one larger.
    #[track_caller]
    pub fn tensor_split(&self, sections: usize, dim: i64) -> Vec<Tensor> {
        if sections == 0 {
            raise(Error::invalid("tensor_split", "number of sections must be larger than 0, got 0"));
        }
        let n = self.size(dim);
        let (q, r) = (n / sections, n % sections);
        let sizes: Vec<usize> = (0..sections).map(|i| q + usize::from(i < r)).collect();
        self.split_with_sizes(&sizes, dim)
    }

    /// `tensor_split(indices, dim)`: cut before each index.
    #[track_caller]
    pub fn tensor_split_indices(&self, indices: &[i64], dim: i64) -> Vec<Tensor> {
        let n = self.size(dim) as i64;
        let mut bounds = vec![0i64];
        bounds.extend(indices.iter().map(|&i| if i < 0 { (i + n).max(0) } else { i.min(n) }));
        bounds.push(n);
        bounds.windows(2).map(|w| self.slice(dim, Some(w[0]), Some(w[1].max(w[0])), 1)).collect()
    }

    /// Concatenates along `dim`; dtypes promote, 1-D empty tensors are skipped as PyTorch.
    #[track_caller]
    pub fn cat(tensors: &[&Tensor], dim: i64) -> Tensor {
        if tensors.is_empty() {
            raise(Error::invalid("cat", "torch.cat(): expected a non-empty list of Tensors"));
        }
        let dt = tensors.iter().skip(1).fold(tensors[0].dtype(), |d, t| psionic_core::promote_types(d, t.dtype()));
        let parts: Vec<Tensor> =
            tensors.iter().filter(|t| !(t.dim() == 1 && t.numel() == 0)).map(|t| t.to_dtype(dt)).collect();
        if parts.is_empty() {
            return tensors[0].to_dtype(dt);
        }
        let ref_shape = parts[0].shape();
        let d = check(normalize_dim("cat", dim, ref_shape.len()));
        for (i, p) in parts.iter().enumerate() {
            let s = p.shape();
            if s.len() != ref_shape.len() || (0..s.len()).any(|k| k != d && s[k] != ref_shape[k]) {
                raise(Error::shape(
                    "cat",
                    format!("Sizes of tensors must match except in dimension {d}. Expected {ref_shape:?} but got {s:?} for tensor number {i} in the list."),
                ));
            }
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        check(Tensor::make(Prim::Cat(crate::prim::Cat { dim: d }), &refs))
    }

    #[track_caller]
    pub fn stack(tensors: &[&Tensor], dim: i64) -> Tensor {
        if tensors.is_empty() {
            raise(Error::invalid("stack", "stack expects a non-empty TensorList"));
        }
        let s = tensors[0].shape();
        if let Some(t) = tensors.iter().find(|t| t.shape() != s) {
            raise(Error::shape(
                "stack",
                format!("stack expects each tensor to be equal size, but got {s:?} and {:?}", t.shape()),
            ));
        }
        let d = check(normalize_insert_dim("stack", dim, s.len())) as i64;
        let u: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        Tensor::cat(&u.iter().collect::<Vec<_>>(), d)
    }

    #[track_caller]
    pub fn hstack(tensors: &[&Tensor]) -> Tensor {
        let dim = if tensors.iter().all(|t| t.dim() <= 1) { 0 } else { 1 };
        let t: Vec<Tensor> =
            tensors.iter().map(|t| if t.dim() == 0 { t.reshape(&[1]) } else { (*t).clone() }).collect();
        Tensor::cat(&t.iter().collect::<Vec<_>>(), dim)
    }

    #[track_caller]
    pub fn vstack(tensors: &[&Tensor]) -> Tensor {
        let t: Vec<Tensor> =
            tensors.iter().map(|t| if t.dim() < 2 { t.reshape(&[1, -1]) } else { (*t).clone() }).collect();
        Tensor::cat(&t.iter().collect::<Vec<_>>(), 0)
    }

    /// Reverses the order of elements along `dims` (a copy).
    #[track_caller]
    pub fn flip(&self, dims: &[i64]) -> Tensor {
        let ds = check(psionic_core::shape::normalize_dims("flip", dims, self.dim()));
        // A negative-stride view, read once by the copy kernel.
        self.view_op(ViewOp::Flip(ds)).deep_clone()
    }

    /// Rotates elements by `shifts` along `dims`; with no dims, over the flattened tensor.
    #[track_caller]
    pub fn roll(&self, shifts: &[i64], dims: &[i64]) -> Tensor {
        if dims.is_empty() {
            let s: Vec<i64> = self.shape().iter().map(|&v| v as i64).collect();
            return self.flatten(0, -1).roll(shifts, &[0]).reshape(&s);
        }
        if shifts.len() != dims.len() {
            raise(Error::invalid(
                "roll",
                format!("shifts and dimensions must align. shifts: {}, dims:{}", shifts.len(), dims.len()),
            ));
        }
        let mut r = self.clone();
        for (&s, &d) in shifts.iter().zip(dims) {
            let n = r.size(d) as i64;
            if n == 0 {
                continue;
            }
            let k = s.rem_euclid(n);
            if k == 0 {
                continue;
            }
            let (a, b) = (r.narrow(d, n - k, k as usize), r.narrow(d, 0, (n - k) as usize));
            r = Tensor::cat(&[&a, &b], d);
        }
        r
    }

    /// Tiles the tensor `repeats[i]` times along each dim (`Tensor.repeat`).
    #[track_caller]
    pub fn repeat(&self, repeats: &[usize]) -> Tensor {
        let shape = self.shape();
        if repeats.len() < shape.len() {
            raise(Error::invalid(
                "repeat",
                "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor",
            ));
        }
        let lead = repeats.len() - shape.len();
        let padded: Vec<usize> = (0..repeats.len()).map(|i| if i < lead { 1 } else { shape[i - lead] }).collect();
        // [r0, s0, r1, s1, ...] expanded then merged.
        let mut inter: Vec<i64> = vec![];
        let mut exp: Vec<i64> = vec![];
        for (i, &s) in padded.iter().enumerate() {
            inter.extend([1, s as i64]);
            exp.extend([repeats[i] as i64, s as i64]);
        }
        let out: Vec<i64> = padded.iter().zip(repeats).map(|(&s, &r)| (s * r) as i64).collect();
        self.reshape(&inter).expand(&exp).reshape(&out)
    }

    /// Like `repeat`, padding `reps` with leading ones when shorter than the rank.
    #[track_caller]
    pub fn tile(&self, reps: &[usize]) -> Tensor {
        let mut r = vec![1; self.dim().saturating_sub(reps.len())];
        r.extend_from_slice(reps);
        self.repeat(&r)
    }

    /// Repeats each element `repeats` times along `dim` (flattened when `None`).
    #[track_caller]
    pub fn repeat_interleave(&self, repeats: usize, dim: Option<i64>) -> Tensor {
        let (x, d) = match dim {
            None => (self.flatten(0, -1), 0),
            Some(d) => (self.clone(), check(normalize_dim("repeat_interleave", d, self.dim()))),
        };
        let shape = x.shape();
        let u = x.unsqueeze(d as i64 + 1);
        let mut e: Vec<i64> = u.shape().iter().map(|&v| v as i64).collect();
        e[d + 1] = repeats as i64;
        let mut out: Vec<i64> = shape.iter().map(|&v| v as i64).collect();
        out[d] *= repeats as i64;
        u.expand(&e).reshape(&out)
    }

    /// Per-element repeat counts along `dim`.
    #[track_caller]
    pub fn repeat_interleave_tensor(&self, repeats: &Tensor, dim: i64) -> Tensor {
        let counts = repeats.to_vec::<i64>();
        let n = self.size(dim);
        if counts.len() != n {
            raise(Error::shape(
                "repeat_interleave",
                format!("repeats must have the same size as input along dim, got {} and {n}", counts.len()),
            ));
        }
        let parts: Vec<Tensor> = (0..n)
            .map(|i| self.narrow(dim, i as i64, 1).repeat_interleave(counts[i].max(0) as usize, Some(dim)))
            .collect();
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), dim)
    }

    #[track_caller]
    pub fn diagonal(&self, offset: i64, dim1: i64, dim2: i64) -> Tensor {
        self.view_op(ViewOp::Diagonal { offset, d1: dim1, d2: dim2 })
    }

    /// 1-D input: a square matrix with it on diagonal `k`; 2-D input: its diagonal `k`.
    #[track_caller]
    pub fn diag(&self, k: i64) -> Tensor {
        match self.dim() {
            1 => self.diag_embed(k, -2, -1),
            2 => self.diagonal(k, 0, 1).deep_clone(),
            n => raise(Error::shape("diag", format!("diag(): Supports 1D or 2D tensors. Got {n}D"))),
        }
    }

    /// Places the last dim on the diagonal `offset` of new dims `dim1`, `dim2`.
    #[track_caller]
    pub fn diag_embed(&self, offset: i64, dim1: i64, dim2: i64) -> Tensor {
        let shape = self.shape();
        let n = *shape.last().unwrap_or(&1) + offset.unsigned_abs() as usize;
        let nd = shape.len() + 1;
        let (a, b) = (check(normalize_dim("diag_embed", dim1, nd)), check(normalize_dim("diag_embed", dim2, nd)));
        if a == b {
            raise(Error::invalid("diag_embed", format!("diagonal dimensions cannot be identical {dim1}, {dim2}")));
        }
        let mut out_shape = vec![];
        let mut rest = shape[..shape.len().saturating_sub(1)].iter();
        for i in 0..nd {
            out_shape.push(if i == a || i == b { n } else { *rest.next().unwrap() });
        }
        let out = Tensor::zeros(&out_shape, self.dtype());
        out.diagonal(offset, a as i64, b as i64).copy_(self);
        out
    }

    /// Sliding windows of `size` with `step` along `dim`, as a new last dim (a view).
    #[track_caller]
    pub fn unfold(&self, dim: i64, size: usize, step: usize) -> Tensor {
        self.view_op(ViewOp::Unfold { dim, size, step })
    }

    /// A view with explicit sizes, strides and storage offset (into this tensor's storage).
    #[track_caller]
    pub fn as_strided(&self, size: &[usize], stride: &[isize], storage_offset: Option<usize>) -> Tensor {
        let a = self.array();
        let off = storage_offset.unwrap_or(a.layout.offset);
        let l = check(Layout::as_strided("as_strided", size, stride, off, a.storage.len()));
        self.view_op(ViewOp::AsStrided { shape: l.shape, strides: l.strides, offset: l.offset })
    }
}
