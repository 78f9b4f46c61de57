//! `pad` (PyTorch's `nn.functional.pad`): constant, reflect, replicate and circular.
//! Pads are given last dim first, `(left, right)` per dim; negative pads crop.

use crate::autocast;
use crate::mode::{check, raise};
use crate::prim::{Prim, ViewOp};
use crate::tensor::Tensor;
use psionic_core::{DType, Error, Scalar};

/// How `pad` fills the new border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    Constant,
    /// Mirror without repeating the edge (`[2 1 | 0 1 2 | 1 0]`).
    Reflect,
    /// Repeat the edge.
    Replicate,
    /// Wrap around.
    Circular,
}

impl PadMode {
    pub fn from_name(name: &str) -> Option<PadMode> {
        Some(match name {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "replicate" => PadMode::Replicate,
            "circular" => PadMode::Circular,
            _ => return None,
        })
    }
}

impl Tensor {
    /// Pads the last `pads.len() / 2` dims; `value` fills constant padding.
    #[track_caller]
    pub fn pad(&self, pads: &[i64], mode: PadMode, value: impl Into<Scalar>) -> Tensor {
        let value = value.into();
        // Reflection (1-d, 2-d) and replication padding are on autocast's float32 list.
        let listed = match mode {
            PadMode::Reflect => pads.len() <= 4,
            PadMode::Replicate => true,
            _ => false,
        };
        if listed {
            let x = autocast::full(self);
            if let Some(y) = autocast::casting(|| x.pad(pads, mode, value)) {
                return y;
            }
        }
        if !pads.len().is_multiple_of(2) || pads.len() / 2 > self.dim() {
            raise(Error::invalid(
                "pad",
                format!("Padding length must be divisible by 2 and at most twice the rank, got {}", pads.len()),
            ));
        }
        let nd = self.dim();
        let per_dim: Vec<(usize, i64, i64)> =
            pads.chunks(2).enumerate().map(|(i, p)| (nd - 1 - i, p[0], p[1])).collect();
        match mode {
            PadMode::Constant => self.pad_constant(&per_dim, value),
            _ => per_dim.iter().fold(self.clone(), |t, &(d, l, r)| t.pad_indexed(d, l, r, mode)),
        }
    }

    fn pad_constant(&self, per_dim: &[(usize, i64, i64)], value: Scalar) -> Tensor {
        // Crop negative pads first, then place the rest into a filled tensor.
        let mut x = self.clone();
        for &(d, l, r) in per_dim {
            let n = x.size(d as i64) as i64;
            let (start, stop) = ((-l).max(0), n - (-r).max(0));
            if stop < start {
                raise(Error::invalid("pad", format!("negative padding crops dim {d} of size {n} below zero")));
            }
            if start > 0 || stop < n {
                x = x.narrow(d as i64, start, (stop - start) as usize);
            }
        }
        let mut shape = x.shape();
        let mut chain = vec![];
        for &(d, l, r) in per_dim {
            let (l, r) = (l.max(0), r.max(0));
            let n = shape[d] as i64;
            shape[d] = (n + l + r) as usize;
            if l > 0 || r > 0 {
                chain.push(ViewOp::Slice { dim: d as i64, start: Some(l), stop: Some(l + n), step: 1 });
            }
        }
        if chain.is_empty() {
            return x;
        }
        let filled = Tensor::full(&shape, value, self.dtype());
        check(Tensor::make(Prim::SliceUpdate(crate::prim::SliceUpdate { chain }), &[&filled, &x]))
    }

    /// One dim padded by reading positions of the input (reflect, replicate, circular).
    fn pad_indexed(&self, d: usize, l: i64, r: i64, mode: PadMode) -> Tensor {
        let n = self.size(d as i64) as i64;
        let len = n + l + r;
        if len < 0
            || (mode == PadMode::Reflect && (l >= n || r >= n))
            || (mode == PadMode::Circular && (l > n || r > n))
        {
            raise(Error::invalid(
                "pad",
                format!("Padding size should be less than the corresponding input dimension, but got: padding ({l}, {r}) at dimension {d} of input {:?}", self.shape()),
            ));
        }
        if n == 0 && len > 0 {
            raise(Error::invalid("pad", "cannot pad an empty dimension by reading from it"));
        }
        let src: Vec<i64> = (0..len)
            .map(|j| {
                let i = j - l;
                match mode {
                    PadMode::Replicate => i.clamp(0, n - 1),
                    PadMode::Reflect => {
                        let i = i.abs();
                        if i >= n {
                            2 * (n - 1) - i
                        } else {
                            i
                        }
                    }
                    _ => i.rem_euclid(n),
                }
            })
            .collect();
        self.index_select(d as i64, &Tensor::from_vec(src, &[len as usize]).to_dtype(DType::I64))
    }
}
