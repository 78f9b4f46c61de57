//! Hugging Face's safetensors: a little-endian u64 header length, a JSON header naming
//! each tensor's dtype, shape and byte range, then the bytes.

use crate::error::{IoError, Result};
use crate::raw::{decode, encode, Elem};
use psionic_array::Tensor;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;

const F: &str = "safetensors";

/// Tensors by name, in file order.
pub type Named = Vec<(String, Tensor)>;

/// The named tensors (in file order) and the header's free-form metadata.
pub fn read(bytes: &[u8]) -> Result<(Named, HashMap<String, String>)> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| IoError::format(F, e.to_string()))?;
    let st = SafeTensors::deserialize(bytes).map_err(|e| IoError::format(F, e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let mut named: Vec<(usize, String, Tensor)> = vec![];
    for (name, view) in st.tensors() {
        let elem = elem_of(view.dtype())?;
        let t = decode(F, elem, false, view.shape(), view.data())
            .map_err(|e| IoError::format(F, format!("{name}: {e}")))?;
        let start = meta.info(&name).map_or(0, |i| i.data_offsets.0);
        named.push((start, name, t));
    }
    named.sort_by_key(|(start, name, _)| (*start, name.clone()));
    Ok((named.into_iter().map(|(_, n, t)| (n, t)).collect(), metadata))
}

/// The tensors as a safetensors file with `metadata` in its header.
pub fn write(tensors: &[(&str, &Tensor)], metadata: &HashMap<String, String>) -> Result<Vec<u8>> {
    let encoded: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let (elem, data) = encode(t);
            (n.to_string(), t.shape(), dtype_of(elem), data)
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(n, s, d, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| IoError::format(F, e.to_string()))?;
    let meta = (!metadata.is_empty()).then(|| metadata.clone());
    safetensors::serialize(views, meta).map_err(|e| IoError::format(F, e.to_string()))
}

fn elem_of(d: Dtype) -> Result<Elem> {
    Ok(match d {
        Dtype::BOOL => Elem::Bool,
        Dtype::U8 => Elem::U8,
        Dtype::I8 => Elem::I8,
        Dtype::I16 => Elem::I16,
        Dtype::I32 => Elem::I32,
        Dtype::I64 => Elem::I64,
        Dtype::U16 => Elem::U16,
        Dtype::U32 => Elem::U32,
        Dtype::U64 => Elem::U64,
        Dtype::F16 => Elem::F16,
        Dtype::BF16 => Elem::BF16,
        Dtype::F32 => Elem::F32,
        Dtype::F64 => Elem::F64,
        other => {
            return Err(IoError::unsupported(F, format!("{other:?}"), "Psionic reads bool, integer and float elements"))
        }
    })
}

fn dtype_of(e: Elem) -> Dtype {
    match e {
        Elem::Bool => Dtype::BOOL,
        Elem::U8 => Dtype::U8,
        Elem::I8 => Dtype::I8,
        Elem::I16 => Dtype::I16,
        Elem::I32 => Dtype::I32,
        Elem::I64 => Dtype::I64,
        Elem::U16 => Dtype::U16,
        Elem::U32 => Dtype::U32,
        Elem::U64 => Dtype::U64,
        Elem::F16 => Dtype::F16,
        Elem::BF16 => Dtype::BF16,
        Elem::F32 => Dtype::F32,
        Elem::F64 => Dtype::F64,
    }
}
