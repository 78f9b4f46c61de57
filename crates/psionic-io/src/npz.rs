//! NumPy's `.npz`: a zip archive of `.npy` files, one per named array (stored as
//! `np.savez` writes them, or deflated as `np.savez_compressed` does).

use crate::error::{IoError, Result};
use crate::npy;
use psionic_array::Tensor;
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;

const F: &str = "npz";

/// The named arrays of an `.npz` file, in archive order.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| IoError::format(F, e.to_string()))?;
    let mut out = vec![];
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| IoError::format(F, e.to_string()))?;
        let name = file.name().to_string();
        // Read at most what the archive declares, so a lying entry cannot grow unbounded.
        let declared = file.size();
        let mut data = Vec::with_capacity(declared.min(bytes.len() as u64 * 4) as usize);
        (&mut file).take(declared).read_to_end(&mut data).map_err(|e| IoError::format(F, format!("{name}: {e}")))?;
        let t = npy::read(&data).map_err(|e| IoError::format(F, format!("{name}: {e}")))?;
        out.push((name.strip_suffix(".npy").unwrap_or(&name).to_string(), t));
    }
    Ok(out)
}

/// The arrays as an uncompressed `.npz` (what `np.savez` writes).
pub fn write(arrays: &[(&str, &Tensor)]) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(false);
    for (name, t) in arrays {
        let data = npy::write(t)?;
        zip.start_file(format!("{name}.npy"), opts).map_err(|e| IoError::format(F, e.to_string()))?;
        zip.write_all(&data).map_err(|e| IoError::format(F, e.to_string()))?;
    }
    Ok(zip.finish().map_err(|e| IoError::format(F, e.to_string()))?.into_inner())
}
