//! Creation ops: from host data, constants, ranges, identity, triangles.

use crate::backend;
use crate::mode::{check, default_device, raise};
use crate::node::Node;
use crate::prim::Meta;
use crate::tensor::Tensor;
use psionic_core::{DType, Device, Error, Result, Scalar};
use psionic_cpu::{CpuArray, Element, Storage};

/// A tensor of `shape` filled with `value`, allocated by `device`'s backend.
fn filled_on(shape: &[usize], value: Scalar, dtype: DType, device: Device) -> Result<Tensor> {
    let meta = Meta::new(shape, dtype);
    let data = backend::of(device)?.full(&meta, value)?;
    Ok(Tensor::from_node(Node::stored(data, meta, device)))
}

#[track_caller]
fn filled(shape: &[usize], value: Scalar, dtype: DType) -> Tensor {
    check(filled_on(shape, value, dtype, default_device()))
}

/// Host values generated as f64, converted once to the dtype.
pub(crate) fn from_f64s(values: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    debug_assert_eq!(values.len(), psionic_core::numel(shape));
    // Into a buffer of the cache (large new ones go onto 2 MiB pages), not a fresh vector:
    // a sum over a 64 MiB randn tensor measured 12-21% faster on such pages.
    let a = psionic_cpu::with_dtype!(dtype, T => {
        let mut s = Storage::uninit::<T>(values.len());
        for (o, v) in s.as_mut_slice::<T>().iter_mut().zip(values) {
            *o = T::from_f64(v);
        }
        CpuArray::new(s, shape)
    });
    Tensor::from_array(a)
}

impl Tensor {
    /// A tensor owning `data` with the given shape (row-major).
    #[track_caller]
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Tensor {
        check(Self::try_from_vec(data, shape))
    }

    pub fn try_from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n = psionic_core::numel(shape);
        if data.len() != n {
            return Err(Error::shape("from_vec", format!("shape {shape:?} needs {n} elements, got {}", data.len())));
        }
        Ok(Tensor::from_array(CpuArray::from_vec(data, shape)))
    }

    #[track_caller]
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Tensor {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A zero-dimensional tensor.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Self::from_vec(vec![v], &[])
    }

    pub fn full(shape: &[usize], value: impl Into<Scalar>, dtype: DType) -> Tensor {
        filled(shape, value.into(), dtype)
    }

    /// `full(..., device=device)`.
    pub fn full_on(shape: &[usize], value: impl Into<Scalar>, dtype: DType, device: Device) -> Result<Tensor> {
        filled_on(shape, value.into(), dtype, device)
    }

    /// `empty(..., device=device)`: zero-filled where the device stores values.
    pub fn empty_on(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        filled_on(shape, Scalar::Int(0), dtype, device)
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        filled(shape, Scalar::Int(0), dtype)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        filled(shape, Scalar::Int(1), dtype)
    }

    /// Uninitialised in PyTorch; here zero-filled or recycled, never read before written.
    pub fn empty(shape: &[usize], dtype: DType) -> Tensor {
        Self::zeros(shape, dtype)
    }

    pub fn zeros_like(&self) -> Tensor {
        Self::zeros(&self.shape(), self.dtype())
    }

    pub fn ones_like(&self) -> Tensor {
        Self::ones(&self.shape(), self.dtype())
    }

    pub fn full_like(&self, value: impl Into<Scalar>) -> Tensor {
        Self::full(&self.shape(), value, self.dtype())
    }

    pub fn empty_like(&self) -> Tensor {
        self.zeros_like()
    }

    /// `torch.arange(start, end, step)`: int64 when all three are integers, otherwise the
    /// default float dtype.
    #[track_caller]
    pub fn arange(start: impl Into<Scalar>, end: impl Into<Scalar>, step: impl Into<Scalar>) -> Tensor {
        let (s, e, st) = (start.into(), end.into(), step.into());
        let all_int = [s, e, st].iter().all(|v| !matches!(v, Scalar::Float(_)));
        Self::arange_dtype(s, e, st, if all_int { DType::I64 } else { DType::default_float() })
    }

    #[track_caller]
    pub fn arange_dtype(
        start: impl Into<Scalar>,
        end: impl Into<Scalar>,
        step: impl Into<Scalar>,
        dtype: DType,
    ) -> Tensor {
        let (s, e, st) = (start.into().to_f64(), end.into().to_f64(), step.into().to_f64());
        if st == 0.0 {
            raise(Error::invalid("arange", "step must be nonzero"));
        }
        if (st > 0.0 && e < s) || (st < 0.0 && e > s) {
            raise(Error::invalid("arange", "upper bound and larger bound inconsistent with step sign"));
        }
        let n = ((e - s) / st).ceil().max(0.0) as usize;
        from_f64s((0..n).map(|i| s + i as f64 * st).collect(), &[n], dtype)
    }

    /// `torch.linspace`: evenly spaced, computed symmetrically from both ends as PyTorch does.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Tensor {
        let step = if steps > 1 { (end - start) / (steps - 1) as f64 } else { 0.0 };
        // One step is the start alone; the rest fill from both ends toward the middle.
        let half = if steps == 1 { 1 } else { steps / 2 };
        let v = (0..steps)
            .map(|i| if i < half { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 })
            .collect();
        from_f64s(v, &[steps], dtype)
    }

    pub fn logspace(start: f64, end: f64, steps: usize, base: f64, dtype: DType) -> Tensor {
        let lin = Self::linspace(start, end, steps, DType::F64).to_vec::<f64>();
        from_f64s(lin.into_iter().map(|e| base.powf(e)).collect(), &[steps], dtype)
    }

    /// Identity matrix `n x m` (`m` defaults to `n`).
    pub fn eye(n: usize, m: Option<usize>, dtype: DType) -> Tensor {
        let m = m.unwrap_or(n);
        from_f64s((0..n * m).map(|i| if i / m == i % m { 1.0 } else { 0.0 }).collect(), &[n, m], dtype)
    }

    /// Lower triangle of the last two dims (elements with `col - row <= diagonal`).
    #[track_caller]
    pub fn tril(&self, diagonal: i64) -> Tensor {
        self.triangle(diagonal, true)
    }

    #[track_caller]
    pub fn triu(&self, diagonal: i64) -> Tensor {
        self.triangle(diagonal, false)
    }

    #[track_caller]
    fn triangle(&self, k: i64, lower: bool) -> Tensor {
        let s = self.shape();
        if s.len() < 2 {
            raise(Error::shape(if lower { "tril" } else { "triu" }, "input tensor must have at least 2 dimensions"));
        }
        let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
        let mask: Vec<bool> = (0..r * c)
            .map(|i| {
                let d = (i % c) as i64 - (i / c) as i64;
                if lower {
                    d <= k
                } else {
                    d >= k
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, &[r, c]);
        // A zero of the input's own kind, so bool stays bool.
        let zero = if self.dtype() == DType::Bool { Scalar::from(false) } else { Scalar::from(0i64) };
        Tensor::where_(&mask, self, zero)
    }
}
