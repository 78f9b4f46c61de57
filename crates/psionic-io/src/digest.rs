//! The content digest Psionic records in the checkpoints it writes: a SHA-256 over the
//! named tensors in name order (each name, dtype, shape and little-endian elements), so
//! it does not depend on the file format and survives `checkpoint convert`.

use crate::raw::encode;
use psionic_array::Tensor;
use sha2::{Digest, Sha256};

/// Where the digest is kept: a safetensors metadata key (and the name of the `.pt`
/// record's content).
pub const METADATA_KEY: &str = "psionic.sha256";

pub fn content_sha256<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> String {
    let mut sorted: Vec<(&str, &Tensor)> = tensors.into_iter().collect();
    sorted.sort_by_key(|(n, _)| *n);
    let mut h = Sha256::new();
    for (name, t) in sorted {
        let (elem, bytes) = encode(t);
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(format!("{elem:?}").as_bytes());
        h.update((t.dim() as u64).to_le_bytes());
        for d in t.shape() {
            h.update((d as u64).to_le_bytes());
        }
        h.update(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
