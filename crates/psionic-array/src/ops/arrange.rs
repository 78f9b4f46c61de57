//! Arrangement helpers PyTorch users reach for: `ravel`, `reshape_as`/`view_as`,
//! `fliplr`/`flipud`/`rot90`, `atleast_{1,2,3}d`, `column_stack`/`dstack`, and
//! `hsplit`/`vsplit`/`dsplit`. All are views or joins of existing ops, so gradients,
//! jvps and batching come from those.

use super::args::dims_i64;
use crate::mode::raise;
use crate::tensor::Tensor;
use psionic_core::Error;

/// Where `hsplit`/`vsplit`/`dsplit` cut: into equal sections or before each index.
pub enum Cut<'a> {
    Sections(usize),
    Indices(&'a [i64]),
}

impl Tensor {
    /// The elements in row-major order as a 1-D tensor (a view when possible).
    pub fn ravel(&self) -> Tensor {
        self.reshape(&[-1])
    }

    #[track_caller]
    pub fn reshape_as(&self, other: &Tensor) -> Tensor {
        self.reshape(&dims_i64(&other.shape()))
    }

    #[track_caller]
    pub fn view_as(&self, other: &Tensor) -> Tensor {
        self.view(&dims_i64(&other.shape()))
    }

    /// Reverses the columns (dim 1).
    #[track_caller]
    pub fn fliplr(&self) -> Tensor {
        if self.dim() < 2 {
            raise(Error::shape("fliplr", "Input must be >= 2-d."));
        }
        self.flip(&[1])
    }

    /// Reverses the rows (dim 0).
    #[track_caller]
    pub fn flipud(&self) -> Tensor {
        if self.dim() < 1 {
            raise(Error::shape("flipud", "Input must be >= 1-d."));
        }
        self.flip(&[0])
    }

    /// Rotates by 90° `k` times in the plane of `dims`, from the first towards the second.
    #[track_caller]
    pub fn rot90(&self, k: i64, dims: [i64; 2]) -> Tensor {
        let nd = self.dim() as i64;
        if nd < 2 {
            raise(Error::shape("rot90", format!("expected total dims >= 2, but got total dims = {nd}")));
        }
        let norm = |d: i64| if d < 0 { d + nd } else { d };
        let (a, b) = (norm(dims[0]), norm(dims[1]));
        if a == b || !(0..nd).contains(&a) || !(0..nd).contains(&b) {
            raise(Error::shape(
                "rot90",
                format!("expected rotation dims to be different and within range, but got {dims:?}"),
            ));
        }
        match k.rem_euclid(4) {
            1 => self.flip(&[b]).transpose(a, b),
            2 => self.flip(&[a, b]),
            3 => self.flip(&[a]).transpose(a, b),
            _ => self.clone(),
        }
    }

    pub fn atleast_1d(&self) -> Tensor {
        if self.dim() == 0 {
            self.reshape(&[1])
        } else {
            self.clone()
        }
    }

    /// 0-d and 1-d tensors become `[1, n]`.
    pub fn atleast_2d(&self) -> Tensor {
        match self.dim() {
            0 => self.reshape(&[1, 1]),
            1 => self.unsqueeze(0),
            _ => self.clone(),
        }
    }

    /// 0-d → `[1, 1, 1]`, `[n]` → `[1, n, 1]`, `[m, n]` → `[m, n, 1]`.
    pub fn atleast_3d(&self) -> Tensor {
        match self.dim() {
            0 => self.reshape(&[1, 1, 1]),
            1 => self.unsqueeze(0).unsqueeze(-1),
            2 => self.unsqueeze(-1),
            _ => self.clone(),
        }
    }

    /// Stacks 0-d/1-d tensors as columns (and joins others along dim 1).
    #[track_caller]
    pub fn column_stack(tensors: &[&Tensor]) -> Tensor {
        let cols: Vec<Tensor> =
            tensors.iter().map(|t| if t.dim() <= 1 { t.reshape(&[-1, 1]) } else { (*t).clone() }).collect();
        Tensor::hstack(&cols.iter().collect::<Vec<_>>())
    }

    /// Joins along the third dim after `atleast_3d`.
    #[track_caller]
    pub fn dstack(tensors: &[&Tensor]) -> Tensor {
        let t: Vec<Tensor> = tensors.iter().map(|t| t.atleast_3d()).collect();
        Tensor::cat(&t.iter().collect::<Vec<_>>(), 2)
    }

    /// Splits along dim 1 (dim 0 for 1-D tensors).
    #[track_caller]
    pub fn hsplit(&self, cut: Cut) -> Vec<Tensor> {
        let dim = if self.dim() == 1 { 0 } else { 1 };
        self.split_at("hsplit", 1, dim, cut)
    }

    /// Splits along dim 0.
    #[track_caller]
    pub fn vsplit(&self, cut: Cut) -> Vec<Tensor> {
        self.split_at("vsplit", 2, 0, cut)
    }

    /// Splits along dim 2.
    #[track_caller]
    pub fn dsplit(&self, cut: Cut) -> Vec<Tensor> {
        self.split_at("dsplit", 3, 2, cut)
    }

    fn split_at(&self, op: &'static str, min_dims: usize, dim: usize, cut: Cut) -> Vec<Tensor> {
        if self.dim() < min_dims {
            raise(Error::shape(
                op,
                format!(
                    "torch.{op} requires a tensor with at least {min_dims} dimension, but got a tensor with {} dimensions!",
                    self.dim()
                ),
            ));
        }
        match cut {
            Cut::Sections(n) => {
                let size = self.shape()[dim];
                if n == 0 || !size.is_multiple_of(n) {
                    raise(Error::invalid(
                        op,
                        format!("torch.{op} attempted to split along dimension {dim}, but the size of the dimension {size} is not divisible by the split_size {n}!"),
                    ));
                }
                self.tensor_split(n, dim as i64)
            }
            Cut::Indices(ix) => self.tensor_split_indices(ix, dim as i64),
        }
    }
}
