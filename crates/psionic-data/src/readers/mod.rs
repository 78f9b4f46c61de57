//! Readers for common dataset files. Each checks sizes and magic numbers and returns a
//! [`crate::DataError`] for a malformed file.

pub mod cifar;
pub mod csv;
pub mod mnist;
pub mod text;

use crate::error::{DataError, Result};
use std::io::Read;
use std::path::Path;

/// The bytes of `path`, gunzipped when it ends in `.gz`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let file_err = |source| DataError::File { path: path.display().to_string(), source };
    let raw = std::fs::read(path).map_err(file_err)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = vec![];
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(file_err)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
