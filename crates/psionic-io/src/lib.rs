//! Array and checkpoint files: safetensors, PyTorch `.pt`/`.pth` (torch.save's zip
//! format, read with a restricted unpickler that executes nothing), NumPy `.npy` and
//! `.npz`. Reading checks every length and offset and returns a typed error for anything
//! malformed (files come from outside); writing goes through a temporary file renamed
//! into place. Checkpoints Psionic writes (safetensors, `.pt`) record a SHA-256 of their
//! tensors, checked when they are loaded.
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
pub mod digest;
mod error;
pub mod npy;
pub mod npz;
pub mod pt;
mod raw;
pub mod safetensors;

pub use error::{IoError, Result};
use psionic_array::Tensor;
pub use safetensors::Named;
use std::collections::HashMap;
use std::path::Path;

/// The formats, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Npz,
    Safetensors,
    /// `torch.save`'s zip format (`.pt`, `.pth`, `.bin`).
    Pt,
}

impl Format {
    /// The format named by a file extension (`"npy"`, `"npz"`, `"safetensors"`).
    pub fn of_extension(ext: &str) -> Option<Format> {
        match ext {
            "npy" => Some(Format::Npy),
            "npz" => Some(Format::Npz),
            "safetensors" => Some(Format::Safetensors),
            "pt" | "pth" | "bin" => Some(Format::Pt),
            _ => None,
        }
    }

    pub fn of_path(path: &Path) -> Result<Format> {
        path.extension().and_then(|e| e.to_str()).and_then(Format::of_extension).ok_or_else(|| {
            IoError::format(
                "load",
                format!("{}: unknown extension (expected .npy, .npz, .safetensors, .pt or .pth)", path.display()),
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

/// Reads `bytes` as a file of `format`, checking a recorded content digest.
pub fn read(bytes: &[u8], format: Format) -> Result<Loaded> {
    read_checked(bytes, format, "file").map(|(loaded, _)| loaded)
}

fn read_checked(bytes: &[u8], format: Format, what: &str) -> Result<(Loaded, HashMap<String, String>)> {
    let (loaded, meta, recorded) = match format {
        Format::Npy => (Loaded::Array(npy::read(bytes)?), HashMap::new(), None),
        Format::Npz => (Loaded::Named(npz::read(bytes)?), HashMap::new(), None),
        Format::Safetensors => {
            let (named, meta) = safetensors::read(bytes)?;
            let d = meta.get(digest::METADATA_KEY).cloned();
            (Loaded::Named(named), meta, d)
        }
        Format::Pt => {
            let (object, d) = pt::read_with_digest(bytes)?;
            // The record shows in the metadata as safetensors' key does.
            let meta = d.iter().map(|d| (digest::METADATA_KEY.to_string(), d.clone())).collect();
            (Loaded::Named(object.named_tensors()), meta, d)
        }
    };
    if let (Some(expected), Loaded::Named(named)) = (recorded, &loaded) {
        let actual = digest::content_sha256(named.iter().map(|(n, t)| (n.as_str(), t)));
        if actual != expected {
            return Err(IoError::Checksum { path: what.to_string(), expected, actual });
        }
    }
    Ok((loaded, meta))
}

/// The file's bytes, memory-mapped (large checkpoints are not copied into memory
/// before parsing).
fn map(path: &Path) -> Result<memmap2::Mmap> {
    let err = |source| IoError::File { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(err)?;
    // SAFETY: the map is read-only and lives only while this load parses it; a file
    // truncated by another process meanwhile is outside what any reader can defend
    // against, as with every mmap-based checkpoint loader.
    unsafe { memmap2::Mmap::map(&file) }.map_err(err)
}

/// Reads the file at `path` (format from its extension), checking a recorded digest.
pub fn load(path: &Path) -> Result<Loaded> {
    load_with_metadata_any(path).map(|(l, _)| l)
}

fn load_with_metadata_any(path: &Path) -> Result<(Loaded, HashMap<String, String>)> {
    let format = Format::of_path(path)?;
    let bytes = map(path)?;
    read_checked(&bytes, format, &path.display().to_string())
}

/// Writes one array as `.npy`.
pub fn save_array(path: &Path, t: &Tensor) -> Result<()> {
    atomic::write(path, &npy::write(t)?)
}

/// Writes named arrays as `.npz`, `.safetensors` or `.pt` (by extension); the last two
/// record the content digest.
pub fn save_named(path: &Path, arrays: &[(&str, &Tensor)]) -> Result<()> {
    save_with_metadata(path, arrays, &HashMap::new())
}

/// [`save_named`] with string metadata (safetensors only; other formats have no place
/// for it and refuse non-empty metadata).
pub fn save_with_metadata(path: &Path, arrays: &[(&str, &Tensor)], metadata: &HashMap<String, String>) -> Result<()> {
    let format = Format::of_path(path)?;
    if !metadata.is_empty() && format != Format::Safetensors {
        return Err(IoError::format("save", format!("{}: metadata needs a .safetensors file", path.display())));
    }
    let digest = || digest::content_sha256(arrays.iter().map(|(n, t)| (*n, *t)));
    let bytes = match format {
        Format::Npz => npz::write(arrays)?,
        Format::Safetensors => {
            let mut meta = metadata.clone();
            meta.insert(digest::METADATA_KEY.into(), digest());
            safetensors::write(arrays, &meta)?
        }
        Format::Pt => pt::write(arrays, Some(&digest()))?,
        Format::Npy => {
            return Err(IoError::format("save", format!("{}: .npy holds one array; use save_array", path.display())))
        }
    };
    atomic::write(path, &bytes)
}

/// A file's named arrays and its metadata (safetensors' header metadata; for `.pt`, the
/// recorded digest under the same key; empty otherwise), the digest checked.
pub fn load_with_metadata(path: &Path) -> Result<(Named, HashMap<String, String>)> {
    load_with_metadata_any(path).map(|(l, m)| (l.into_named(), m))
}

#[cfg(test)]
mod tests;
