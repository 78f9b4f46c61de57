//! `psionic checkpoint inspect|convert`: any supported file's tensors listed, or
//! rewritten in another format (by the output's extension).

use psionic::io::{self, Format, Loaded};
use psionic::DType;
use std::path::Path;

#[derive(clap::Subcommand)]
pub enum CheckpointCmd {
    /// Lists the names, dtypes and shapes of a .safetensors, .pt/.pth, .npy or .npz file.
    Inspect { file: std::path::PathBuf },
    /// Converts between .safetensors, .pt/.pth, .npy and .npz (formats from the extensions).
    Convert { input: std::path::PathBuf, output: std::path::PathBuf },
}

pub fn run(cmd: &CheckpointCmd) -> Result<(), String> {
    match cmd {
        CheckpointCmd::Inspect { file } => inspect(file),
        CheckpointCmd::Convert { input, output } => convert(input, output),
    }
}

fn dtype_name(d: DType) -> String {
    format!("{d:?}").to_lowercase()
}

/// Writes the listing; a closed pipe (`| head`) just ends it.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn inspect(path: &Path) -> Result<(), String> {
    use std::fmt::Write;
    let format = Format::of_path(path).map_err(|e| e.to_string())?;
    let (named, meta) = io::load_with_metadata(path).map_err(|e| e.to_string())?;
    let width = named.iter().map(|(n, _)| n.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(out, "{}: {format:?}, {} tensors", path.display(), named.len());
    let _ = writeln!(out, "{:<width$}  {:<6}  shape", "name", "dtype");
    let mut total = 0usize;
    let mut bytes = 0usize;
    for (name, t) in &named {
        let shown = if name.is_empty() { "(array)" } else { name };
        let _ = writeln!(out, "{shown:<width$}  {:<6}  {:?}", dtype_name(t.dtype()), t.shape());
        total += t.numel();
        bytes += t.numel() * t.dtype().size();
    }
    let _ = writeln!(out, "{total} elements, {bytes} bytes");
    match meta.get(io::digest::METADATA_KEY) {
        Some(d) => writeln!(out, "sha256 {d} (recorded, verified)"),
        None => writeln!(out, "no recorded sha256"),
    }
    .map_err(|e| e.to_string())?;
    let mut meta: Vec<_> = meta.iter().filter(|(k, _)| k.as_str() != io::digest::METADATA_KEY).collect();
    meta.sort();
    for (k, v) in meta {
        let _ = writeln!(out, "metadata {k} = {v}");
    }
    emit(&out);
    Ok(())
}

fn convert(input: &Path, output: &Path) -> Result<(), String> {
    let out_format = Format::of_path(output).map_err(|e| e.to_string())?;
    let loaded = io::load(input).map_err(|e| e.to_string())?;
    match (out_format, loaded) {
        (Format::Npy, Loaded::Array(t)) => io::save_array(output, &t),
        (Format::Npy, Loaded::Named(named)) if named.len() == 1 => io::save_array(output, &named[0].1),
        (Format::Npy, Loaded::Named(named)) => {
            return Err(format!("{}: .npy holds one array, {} has {}", output.display(), input.display(), named.len()))
        }
        (_, loaded) => {
            let named = loaded.into_named();
            if named.iter().any(|(n, _)| n.is_empty()) {
                return Err(format!(
                    "{}: a lone .npy array needs a name; convert to .npy or .npz only",
                    input.display()
                ));
            }
            let refs: Vec<(&str, &psionic::Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
            io::save_named(output, &refs)
        }
    }
    .map_err(|e| e.to_string())?;
    println!("wrote {}", output.display());
    Ok(())
}
