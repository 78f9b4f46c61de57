//! CIFAR-10's binary batches: records of one label byte then 3×32×32 pixel bytes
//! (channel planes, row-major).

use super::read_maybe_gz;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use psionic_array::{DType, Tensor};
use std::path::Path;

const RECORD: usize = 1 + 3 * 32 * 32;

/// Images `[N, 3, 32, 32]` (`u8`) and labels `[N]`.
#[derive(Debug)]
pub struct Cifar10 {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Cifar10 {
    /// Parses the concatenated records of one or more batch files.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Cifar10> {
        if !bytes.len().is_multiple_of(RECORD) {
            return Err(DataError::format(
                what,
                format!("{} bytes is not a whole number of {RECORD}-byte records", bytes.len()),
            ));
        }
        let n = bytes.len() / RECORD;
        let mut labels = Vec::with_capacity(n);
        let mut pixels = Vec::with_capacity(n * (RECORD - 1));
        for rec in bytes.chunks(RECORD) {
            if rec[0] > 9 {
                return Err(DataError::format(what, format!("label {} is not a CIFAR-10 class (0-9)", rec[0])));
            }
            labels.push(rec[0] as i64);
            pixels.extend_from_slice(&rec[1..]);
        }
        Ok(Cifar10 { images: Tensor::from_vec(pixels, &[n, 3, 32, 32]), labels: Tensor::from_vec(labels, &[n]) })
    }

    /// `data_batch_1.bin` ... `data_batch_5.bin` (train) or `test_batch.bin` from `dir`.
    pub fn load(dir: &Path, train: bool) -> Result<Cifar10> {
        let names: Vec<String> = if train {
            (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
        } else {
            vec!["test_batch.bin".into()]
        };
        let mut bytes = vec![];
        for name in names {
            bytes.extend(read_maybe_gz(&dir.join(name))?);
        }
        Cifar10::from_bytes(&bytes, &dir.display().to_string())
    }
}

impl Dataset for Cifar10 {
    /// The image as `f32` in `[0, 1]`, `[3, 32, 32]`, and its label.
    type Item = (Tensor, i64);
    fn len(&self) -> usize {
        self.labels.size(0)
    }
    fn get(&self, i: usize) -> (Tensor, i64) {
        let img = self.images.select(0, i as i64).to_dtype(DType::F32).div(255.0);
        (img, self.labels.select(0, i as i64).item::<i64>())
    }
    /// The batch's images and labels in one gather each.
    fn get_batch(&self, indices: &[usize]) -> (Tensor, Tensor) {
        let idx = crate::dataset::index_tensor(indices);
        let img = self.images.index_select(0, &idx).to_dtype(DType::F32).div(255.0);
        (img, self.labels.index_select(0, &idx))
    }
}
