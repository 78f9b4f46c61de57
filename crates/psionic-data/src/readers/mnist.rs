//! The IDX format of MNIST (and Fashion-MNIST, EMNIST): a magic number giving the
//! element type and rank, big-endian dimension sizes, then big-endian elements.

use super::read_maybe_gz;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use psionic_array::{DType, Tensor};
use std::path::Path;

/// Parses one IDX file into a tensor of its element type (`u8`, `i8`, `i16`, `i32`,
/// `f32` or `f64`) and shape.
pub fn read_idx(bytes: &[u8], what: &str) -> Result<Tensor> {
    let bad = |msg: String| DataError::format(what, msg);
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("not an IDX file (bad magic number)".into()));
    }
    let (code, rank) = (bytes[2], bytes[3] as usize);
    let (dtype, width) = match code {
        0x08 => (DType::U8, 1),
        0x09 => (DType::I8, 1),
        0x0B => (DType::I16, 2),
        0x0C => (DType::I32, 4),
        0x0D => (DType::F32, 4),
        0x0E => (DType::F64, 8),
        c => return Err(bad(format!("unknown IDX element type 0x{c:02x}"))),
    };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!("truncated header: {} bytes for rank {rank}", bytes.len())));
    }
    let shape: Vec<usize> =
        bytes[4..header].chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad("shape overflows".into()))?;
    let body = &bytes[header..];
    if count.checked_mul(width) != Some(body.len()) {
        return Err(bad(format!("shape {shape:?} needs {} bytes of data, file has {}", count * width, body.len())));
    }
    let be = |c: &[u8]| -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        b
    };
    Ok(match dtype {
        DType::U8 => Tensor::from_vec(body.to_vec(), &shape),
        DType::I8 => Tensor::from_vec(body.iter().map(|&b| b as i8).collect::<Vec<_>>(), &shape),
        DType::I16 => {
            Tensor::from_vec(body.chunks(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect::<Vec<_>>(), &shape)
        }
        DType::I32 => Tensor::from_vec(
            body.chunks(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<_>>(),
            &shape,
        ),
        DType::F32 => Tensor::from_vec(
            body.chunks(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<_>>(),
            &shape,
        ),
        _ => Tensor::from_vec(body.chunks(8).map(|c| f64::from_be_bytes(be(c))).collect::<Vec<_>>(), &shape),
    })
}

/// Writes a `u8` tensor as IDX (for making sample files and tests).
pub fn write_idx_u8(t: &Tensor) -> Vec<u8> {
    let shape = t.shape();
    let mut out = vec![0, 0, 0x08, shape.len() as u8];
    for d in &shape {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend(t.to_dtype(DType::U8).to_vec::<u8>());
    out
}

/// An MNIST-format split: images `[N, H, W]` (`u8`) and labels `[N]`.
#[derive(Debug)]
pub struct Mnist {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Mnist {
    /// Reads `{prefix}-images-idx3-ubyte` and `{prefix}-labels-idx1-ubyte` (each
    /// optionally `.gz`) from `dir`; `prefix` is `train` or `t10k`.
    pub fn load(dir: &Path, prefix: &str) -> Result<Mnist> {
        let find = |stem: String| -> Result<std::path::PathBuf> {
            let plain = dir.join(&stem);
            let gz = dir.join(format!("{stem}.gz"));
            [plain, gz].into_iter().find(|p| p.exists()).ok_or_else(|| {
                DataError::format(dir.display().to_string(), format!("neither {stem} nor {stem}.gz is there"))
            })
        };
        let images_path = find(format!("{prefix}-images-idx3-ubyte"))?;
        let labels_path = find(format!("{prefix}-labels-idx1-ubyte"))?;
        let images = read_idx(&read_maybe_gz(&images_path)?, &images_path.display().to_string())?;
        let labels = read_idx(&read_maybe_gz(&labels_path)?, &labels_path.display().to_string())?;
        Mnist::new(images, labels)
    }

    pub fn new(images: Tensor, labels: Tensor) -> Result<Mnist> {
        if images.dim() != 3 || labels.dim() != 1 || images.size(0) != labels.size(0) {
            return Err(DataError::format(
                "mnist",
                format!("images {:?} and labels {:?} do not pair up", images.shape(), labels.shape()),
            ));
        }
        Ok(Mnist { images, labels: labels.to_dtype(DType::I64) })
    }
}

impl Dataset for Mnist {
    /// The image as `f32` in `[0, 1]` with a channel dimension `[1, H, W]`, and its label.
    type Item = (Tensor, i64);
    fn len(&self) -> usize {
        self.labels.size(0)
    }
    fn get(&self, i: usize) -> (Tensor, i64) {
        let img = self.images.select(0, i as i64).to_dtype(DType::F32).div(255.0).unsqueeze(0);
        (img, self.labels.select(0, i as i64).item::<i64>())
    }
    /// The batch's images and labels in one gather each.
    fn get_batch(&self, indices: &[usize]) -> (Tensor, Tensor) {
        let idx = crate::dataset::index_tensor(indices);
        let img = self.images.index_select(0, &idx).to_dtype(DType::F32).div(255.0).unsqueeze(1);
        (img, self.labels.index_select(0, &idx))
    }
}
