//! The one error type. Op misuse carries the op name and the shapes in PyTorch's words;
//! the same values come back as `Err` from fallible paths (see `psionic_array::fallible`).

use crate::{DType, Device};

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    #[error("{op}: {msg}")]
    DType { op: &'static str, msg: String },
    #[error("{op}: Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")]
    DimOutOfRange { op: &'static str, dim: i64, lo: i64, hi: i64 },
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },
    /// A device without a backend: Psionic has its CPU and meta backends, in every build
    /// (there is no CUDA backend to enable yet).
    #[error(
        "{op}: no backend for device {device}: Psionic has the cpu and meta backends only (it has no CUDA backend yet)"
    )]
    NoBackend { op: &'static str, device: Device },
    /// Values asked of a device that stores none (the meta device), in PyTorch's words.
    #[error("{op}: Cannot copy out of {device} tensor; no data!")]
    NoData { op: &'static str, device: Device },
    #[error("{op}: expected all tensors to be on the same device, but found {a} and {b}")]
    DeviceMismatch { op: &'static str, a: Device, b: Device },
    #[error("{op}: {dtype} is not supported: {why}")]
    Unsupported { op: &'static str, dtype: DType, why: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape { op, msg: msg.into() }
    }
    pub fn dtype(op: &'static str, msg: impl Into<String>) -> Self {
        Error::DType { op, msg: msg.into() }
    }
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Invalid { op, msg: msg.into() }
    }
}
