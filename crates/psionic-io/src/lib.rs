//! Array and checkpoint files: safetensors, NumPy `.npy` and `.npz`. Reading checks every
//! length and offset and returns a typed error for anything malformed (files come from
//! outside); writing goes through a temporary file renamed into place.
//!
//! ```
//! use psionic_array::Tensor;
//! let dir = std::env::temp_dir().join(format!("psionic-io-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]);
//! psionic_io::save_named(&dir.join("w.safetensors"), &[("w", &w)]).unwrap();
//! let back = psionic_io::load(&dir.join("w.safetensors")).unwrap().into_named();
//! assert_eq!(back[0].0, "w");
//! assert_eq!(back[0].1.to_vec::<f32>(), [1.0, 2.0, 3.0]);
//! ```

mod atomic;
mod error;
pub mod npy;
pub mod npz;
mod raw;
pub mod safetensors;

pub use error::{IoError, Result};
use psionic_array::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// The formats, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Npz,
    Safetensors,
}

impl Format {
    /// The format named by a file extension (`"npy"`, `"npz"`, `"safetensors"`).
    pub fn of_extension(ext: &str) -> Option<Format> {
        match ext {
            "npy" => Some(Format::Npy),
            "npz" => Some(Format::Npz),
            "safetensors" => Some(Format::Safetensors),
            _ => None,
        }
    }

    pub fn of_path(path: &Path) -> Result<Format> {
        path.extension().and_then(|e| e.to_str()).and_then(Format::of_extension).ok_or_else(|| {
            IoError::format(
                "load",
                format!("{}: unknown extension (expected .npy, .npz or .safetensors)", path.display()),
            )
        })
    }
}

/// What a file holds: one array (`.npy`) or named arrays (MLX's `mx.load` shapes).
#[derive(Debug)]
pub enum Loaded {
    Array(Tensor),
    Named(Vec<(String, Tensor)>),
}

impl Loaded {
    /// The arrays by name (a lone array is named `""`).
    pub fn into_named(self) -> Vec<(String, Tensor)> {
        match self {
            Loaded::Array(t) => vec![(String::new(), t)],
            Loaded::Named(v) => v,
        }
    }
}

/// Reads `bytes` as a file of `format`.
pub fn read(bytes: &[u8], format: Format) -> Result<Loaded> {
    Ok(match format {
        Format::Npy => Loaded::Array(npy::read(bytes)?),
        Format::Npz => Loaded::Named(npz::read(bytes)?),
        Format::Safetensors => Loaded::Named(safetensors::read(bytes)?.0),
    })
}

/// Reads the file at `path` (format from its extension).
pub fn load(path: &Path) -> Result<Loaded> {
    let format = Format::of_path(path)?;
    let bytes = std::fs::read(path).map_err(|source| IoError::File { path: path.display().to_string(), source })?;
    read(&bytes, format)
}

/// Writes one array as `.npy`.
pub fn save_array(path: &Path, t: &Tensor) -> Result<()> {
    atomic::write(path, &npy::write(t)?)
}

/// Writes named arrays as `.npz` or `.safetensors` (by extension).
pub fn save_named(path: &Path, arrays: &[(&str, &Tensor)]) -> Result<()> {
    let bytes = match Format::of_path(path)? {
        Format::Npz => npz::write(arrays)?,
        Format::Safetensors => safetensors::write(arrays, &HashMap::new())?,
        Format::Npy => {
            return Err(IoError::format("save", format!("{}: .npy holds one array; use save_array", path.display())))
        }
    };
    atomic::write(path, &bytes)
}

#[cfg(test)]
mod tests;
