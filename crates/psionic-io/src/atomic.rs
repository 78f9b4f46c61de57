//! Atomic file writes: a temporary file beside the target, synced, then renamed over it,
//! so a crash leaves either the old file or the new one, never half of one.

use crate::error::{IoError, Result};
use std::io::Write;
use std::path::Path;

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fn err(p: &Path) -> impl Fn(std::io::Error) -> IoError + '_ {
        move |source| IoError::File { path: p.display().to_string(), source }
    }
    let name =
        path.file_name().ok_or_else(|| IoError::format("write", format!("{}: not a file path", path.display())))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(err(&tmp))?;
        f.write_all(bytes).map_err(err(&tmp))?;
        f.sync_all().map_err(err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    // The rename itself is durable once the directory is synced (not possible everywhere).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
