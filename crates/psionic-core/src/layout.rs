//! Strided layouts and the view algebra over them.
//!
//! A layout maps a multi-index to an element offset: `offset + Σ index[d] * strides[d]`.
//! Every view op (permute, narrow, slice with step, select, expand, squeeze, unsqueeze,
//! diagonal, view/reshape when strides allow, unfold, as_strided, flip) is a pure function
//! from one layout to another here, so the graph can share storage and a write through a
//! view can be replayed on a fresh copy of its base. Strides are signed: `flip` is a
//! negative-stride view internally (PyTorch's `flip` then copies it, as ours does).

use crate::error::{Error, Result};
use crate::shape::{normalize_dim, normalize_insert_dim, numel};
use crate::{Dims, Strides};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub shape: Dims,
    pub strides: Strides,
    pub offset: usize,
}

/// Row-major strides for a shape.
pub fn contiguous_strides(shape: &[usize]) -> Strides {
    // Built back to front and reversed rather than zero-filled first: past the inline
    // dims a zeroed vector would be a `calloc`, several times the cost of a plain
    // allocation at these sizes.
    let mut strides = Strides::with_capacity(shape.len());
    let mut acc = 1isize;
    for &n in shape.iter().rev() {
        strides.push(acc);
        acc *= n.max(1) as isize;
    }
    strides.reverse();
    strides
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout { shape: shape.into(), strides: contiguous_strides(shape), offset: 0 }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Row-major and dense: element i lives at `offset + i`. Size-1 dims may have any stride.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1isize;
        for d in (0..self.ndim()).rev() {
            if self.shape[d] == 1 {
                continue;
            }
            if self.strides[d] != expected {
                return false;
            }
            expected *= self.shape[d] as isize;
        }
        true
    }

    /// True when two different indices can reach one element (a stride-0 dim of size > 1):
    /// such a tensor cannot be written in place, as in PyTorch.
    pub fn has_internal_overlap(&self) -> bool {
        self.shape.iter().zip(&self.strides).any(|(&n, &s)| n > 1 && s == 0)
    }

    /// True when no two indices can reach the same element: with dims ordered by
    /// |stride|, each stride clears the span of the dims below it. (Sufficient, and exact
    /// for the layouts views make; a layout failing it is treated as overlapping.)
    pub fn is_non_overlapping(&self) -> bool {
        let mut dims: Vec<(usize, usize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(&n, _)| n > 1)
            .map(|(&n, &s)| (n, s.unsigned_abs()))
            .collect();
        dims.sort_by_key(|&(_, s)| s);
        let mut span = 1usize;
        for (n, s) in dims {
            if s < span {
                return false;
            }
            span += s * (n - 1);
        }
        true
    }

    /// Offset of the element at a multi-index.
    pub fn offset_of(&self, index: &[usize]) -> usize {
        let mut off = self.offset as isize;
        for (i, s) in index.iter().zip(&self.strides) {
            off += *i as isize * s;
        }
        off as usize
    }

    pub fn permute(&self, op: &'static str, dims: &[i64]) -> Result<Layout> {
        if dims.len() != self.ndim() {
            return Err(Error::shape(
                op,
                format!(
                    "number of dims don't match in permute: got {} dims for a tensor of {} dims",
                    dims.len(),
                    self.ndim()
                ),
            ));
        }
        let dims = crate::shape::normalize_dims(op, dims, self.ndim())?;
        Ok(Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        })
    }

    pub fn transpose(&self, op: &'static str, d0: i64, d1: i64) -> Result<Layout> {
        let n = self.ndim();
        if n == 0 {
            // PyTorch allows transpose(0, 0) and (-1, -1) of a scalar.
            normalize_dim(op, d0, n)?;
            normalize_dim(op, d1, n)?;
            return Ok(self.clone());
        }
        let (a, b) = (normalize_dim(op, d0, n)?, normalize_dim(op, d1, n)?);
        let mut out = self.clone();
        out.shape.swap(a, b);
        out.strides.swap(a, b);
        Ok(out)
    }

    /// `start:stop:step` along `dim`, with Python's clamping of out-of-range bounds.
    /// Negative `start`/`stop` count from the end; `step` must be positive (PyTorch).
    pub fn slice(
        &self,
        op: &'static str,
        dim: i64,
        start: Option<i64>,
        stop: Option<i64>,
        step: i64,
    ) -> Result<Layout> {
        if self.ndim() == 0 {
            return Err(Error::invalid(op, "slice() cannot be applied to a 0-dim tensor."));
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        if step <= 0 {
            return Err(Error::invalid(op, "slice step must be positive"));
        }
        let n = self.shape[d] as i64;
        let clamp = |v: i64| -> i64 {
            let v = if v < 0 { v + n } else { v };
            v.clamp(0, n)
        };
        let s = clamp(start.unwrap_or(0));
        let e = clamp(stop.unwrap_or(n)).max(s);
        let len = (e - s + step - 1) / step;
        let mut out = self.clone();
        out.offset = (self.offset as isize + s as isize * self.strides[d]) as usize;
        out.shape[d] = len as usize;
        out.strides[d] = self.strides[d] * step as isize;
        Ok(out)
    }

    /// `narrow(dim, start, length)`: like a slice, but out-of-range is an error.
    pub fn narrow(&self, op: &'static str, dim: i64, start: i64, length: usize) -> Result<Layout> {
        if self.ndim() == 0 {
            return Err(Error::invalid(op, "narrow() cannot be applied to a 0-dim tensor."));
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        let n = self.shape[d] as i64;
        let s = if start < 0 { start + n } else { start };
        if s < 0 || s > n || s + length as i64 > n {
            return Err(Error::invalid(
                op,
                format!("start ({start}) + length ({length}) exceeds dimension size ({n})."),
            ));
        }
        self.slice(op, dim, Some(s), Some(s + length as i64), 1)
    }

    pub fn select(&self, op: &'static str, dim: i64, index: i64) -> Result<Layout> {
        if self.ndim() == 0 {
            return Err(Error::invalid(op, "select() cannot be applied to a 0-dim tensor."));
        }
        let d = normalize_dim(op, dim, self.ndim())?;
        let n = self.shape[d] as i64;
        if index < -n || index >= n {
            return Err(Error::invalid(op, format!("index {index} is out of bounds for dimension {d} with size {n}")));
        }
        let i = if index < 0 { index + n } else { index };
        let mut out = self.clone();
        out.offset = (self.offset as isize + i as isize * self.strides[d]) as usize;
        out.shape.remove(d);
        out.strides.remove(d);
        Ok(out)
    }

    /// Broadcast to `shape`: new leading dims and size-1 dims get stride 0.
    pub fn expand(&self, op: &'static str, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.ndim() {
            return Err(Error::shape(
                op,
                format!(
                    "the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({})",
                    shape.len(),
                    self.ndim()
                ),
            ));
        }
        let lead = shape.len() - self.ndim();
        let mut strides = Strides::from_elem(0, shape.len());
        for (i, &target) in shape.iter().enumerate() {
            if i < lead {
                continue;
            }
            let (n, s) = (self.shape[i - lead], self.strides[i - lead]);
            if n == target {
                strides[i] = s;
            } else if n != 1 {
                return Err(Error::shape(
                    op,
                    format!(
                        "The expanded size of the tensor ({target}) must match the existing size ({n}) at non-singleton dimension {i}.  Target sizes: {shape:?}.  Tensor sizes: {:?}",
                        self.shape
                    ),
                ));
            }
        }
        Ok(Layout { shape: shape.into(), strides, offset: self.offset })
    }

    pub fn unsqueeze(&self, op: &'static str, dim: i64) -> Result<Layout> {
        let d = normalize_insert_dim(op, dim, self.ndim())?;
        let stride = if d < self.ndim() { self.strides[d] * self.shape[d] as isize } else { 1 };
        let mut out = self.clone();
        out.shape.insert(d, 1);
        out.strides.insert(d, stride);
        Ok(out)
    }

    /// Removes the given dims where they have size 1 (others are left alone, as PyTorch).
    pub fn squeeze(&self, op: &'static str, dims: Option<&[i64]>) -> Result<Layout> {
        let chosen: Vec<usize> = match dims {
            None => (0..self.ndim()).collect(),
            Some(ds) => crate::shape::normalize_dims(op, ds, self.ndim())?,
        };
        let mut out = Layout { shape: Dims::new(), strides: Strides::new(), offset: self.offset };
        for d in 0..self.ndim() {
            if !(chosen.contains(&d) && self.shape[d] == 1) {
                out.shape.push(self.shape[d]);
                out.strides.push(self.strides[d]);
            }
        }
        Ok(out)
    }

    pub fn diagonal(&self, op: &'static str, offset: i64, d1: i64, d2: i64) -> Result<Layout> {
        let n = self.ndim();
        let (a, b) = (normalize_dim(op, d1, n)?, normalize_dim(op, d2, n)?);
        if a == b {
            return Err(Error::invalid(op, format!("diagonal dimensions cannot be identical {d1}, {d2}")));
        }
        let (na, nb) = (self.shape[a] as i64, self.shape[b] as i64);
        let len = if offset >= 0 { (na).min(nb - offset) } else { (na + offset).min(nb) }.max(0) as usize;
        let mut off = self.offset as isize;
        if len > 0 {
            off += if offset >= 0 { offset as isize * self.strides[b] } else { -offset as isize * self.strides[a] };
        }
        let mut out = Layout { shape: Dims::new(), strides: Strides::new(), offset: off as usize };
        for d in 0..n {
            if d != a && d != b {
                out.shape.push(self.shape[d]);
                out.strides.push(self.strides[d]);
            }
        }
        out.shape.push(len);
        out.strides.push(self.strides[a] + self.strides[b]);
        Ok(out)
    }

    /// Reinterprets the shape without copying when the strides allow it (PyTorch's
    /// `computeStride`); `None` means a copy is needed (`reshape` copies, `view` fails).
    pub fn view(&self, shape: &[usize]) -> Option<Layout> {
        if numel(shape) != self.numel() {
            return None;
        }
        if self.is_contiguous() {
            return Some(Layout { shape: shape.into(), strides: contiguous_strides(shape), offset: self.offset });
        }
        if self.numel() == 0 {
            return Some(Layout::contiguous(shape));
        }
        // Walk old dims in chunks that are themselves contiguous; each chunk must map onto
        // a run of new dims with the same element count.
        let mut new_strides = Strides::from_elem(0, shape.len());
        let mut view_d = shape.len() as isize - 1;
        let mut chunk_base_stride = *self.strides.last().unwrap_or(&1);
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for tensor_d in (0..self.ndim()).rev() {
            tensor_numel *= self.shape[tensor_d];
            let chunk_end = tensor_d == 0
                || (self.shape[tensor_d - 1] != 1
                    && self.strides[tensor_d - 1] != tensor_numel as isize * chunk_base_stride);
            if chunk_end {
                while view_d >= 0 && (view_numel < tensor_numel || shape[view_d as usize] == 1) {
                    new_strides[view_d as usize] = view_numel as isize * chunk_base_stride;
                    view_numel *= shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base_stride = self.strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout { shape: shape.into(), strides: new_strides, offset: self.offset })
    }

    /// `unfold(dim, size, step)`: a new last dim holding windows of `size` along `dim`.
    pub fn unfold(&self, op: &'static str, dim: i64, size: usize, step: usize) -> Result<Layout> {
        let n = self.ndim();
        let d = normalize_dim(op, dim, n)?;
        let len = if n == 0 { 1 } else { self.shape[d] };
        if size > len {
            return Err(Error::invalid(
                op,
                format!("maximum size for tensor at dimension {d} is {len} but size is {size}"),
            ));
        }
        if step == 0 {
            return Err(Error::invalid(op, "step is 0 but must be > 0"));
        }
        let mut out = self.clone();
        if n == 0 {
            out.shape = crate::smallvec![size];
            out.strides = crate::smallvec![1];
            return Ok(out);
        }
        out.shape[d] = (len - size) / step + 1;
        out.strides[d] = self.strides[d] * step as isize;
        out.shape.push(size);
        out.strides.push(self.strides[d]);
        Ok(out)
    }

    /// Sliding windows over the last `kernel.len()` dims: those dims become the window
    /// positions `O_i = (S_i - dilation_i * (K_i - 1) - 1) / stride_i + 1`, followed by
    /// the kernel offsets `K_i` (shape `[..., O..., K...]`). Windows may overlap.
    pub fn windows(&self, op: &'static str, kernel: &[usize], stride: &[usize], dilation: &[usize]) -> Result<Layout> {
        let k = kernel.len();
        let n = self.ndim();
        if k > n || stride.len() != k || dilation.len() != k {
            return Err(Error::shape(op, format!("{k} window dims for a tensor of rank {n}")));
        }
        let mut out =
            Layout { shape: self.shape[..n - k].into(), strides: self.strides[..n - k].into(), offset: self.offset };
        let mut ks = vec![];
        for i in 0..k {
            let (size, st) = (self.shape[n - k + i], self.strides[n - k + i]);
            let span = dilation[i] * (kernel[i].max(1) - 1) + 1;
            if stride[i] == 0 || dilation[i] == 0 || kernel[i] == 0 {
                return Err(Error::invalid(op, "kernel size, stride and dilation must be greater than zero"));
            }
            if span > size {
                return Err(Error::shape(
                    op,
                    format!("Kernel size can't be greater than actual input size (padded input size {size}, dilated kernel size {span})"),
                ));
            }
            out.shape.push((size - span) / stride[i] + 1);
            out.strides.push(st * stride[i] as isize);
            ks.push((kernel[i], st * dilation[i] as isize));
        }
        for (size, st) in ks {
            out.shape.push(size);
            out.strides.push(st);
        }
        Ok(out)
    }

    /// Reverses the given (normalized) dims: the offset moves to each dim's last element
    /// and its stride changes sign.
    pub fn flip(&self, dims: &[usize]) -> Layout {
        let mut out = self.clone();
        // No element to address: moving the offset could only point past the storage.
        if self.numel() == 0 {
            return out;
        }
        let mut off = self.offset as isize;
        // A 0-d tensor accepts dim 0 (as PyTorch does) and has nothing to reverse.
        for &d in dims.iter().filter(|&&d| d < self.ndim()) {
            if out.shape[d] > 0 {
                off += (out.shape[d] as isize - 1) * out.strides[d];
                out.strides[d] = -out.strides[d];
            }
        }
        out.offset = off as usize;
        out
    }

    /// `as_strided(size, stride, storage_offset)`; `storage_len` bounds-checks the result.
    pub fn as_strided(
        op: &'static str,
        shape: &[usize],
        strides: &[isize],
        offset: usize,
        storage_len: usize,
    ) -> Result<Layout> {
        if shape.len() != strides.len() {
            return Err(Error::shape(
                op,
                format!("mismatch in length of strides and shape ({} vs {})", strides.len(), shape.len()),
            ));
        }
        if strides.iter().any(|&s| s < 0) {
            return Err(Error::invalid(op, "Negative strides are not supported"));
        }
        let l = Layout { shape: shape.into(), strides: strides.into(), offset };
        if l.numel() > 0 {
            let max = l.offset_of(&shape.iter().map(|&n| n - 1).collect::<Vec<_>>());
            if max >= storage_len {
                return Err(Error::invalid(
                    op,
                    format!("setStorage: sizes {shape:?}, strides {strides:?}, storage offset {offset} require {} elements but the storage has {storage_len}", max + 1),
                ));
            }
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests;
