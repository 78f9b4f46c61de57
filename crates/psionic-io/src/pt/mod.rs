//! PyTorch's `.pt`/`.pth` files in `torch.save`'s zip format: a pickle
//! (`<archive>/data.pkl`) describing the object, whose tensors point into storage
//! records (`<archive>/data/<key>`) of raw little-endian elements.
//!
//! Reading runs the pickle through [`pickle`], which allows only what
//! `torch.load(weights_only=True)` allows and executes nothing; every storage record,
//! size, stride and offset is checked before a byte is used. Writing produces what
//! `torch.save(state_dict)` writes, loadable with `torch.load(weights_only=True)`.

pub mod pickle;
mod write;

use crate::error::{IoError, Result};
use crate::raw::decode;
use pickle::{TensorRef, Value};
use psionic_array::Tensor;
use std::collections::HashMap;
use std::io::{Cursor, Read};

pub use write::write;

const F: &str = "pt";

/// A loaded object: PyTorch's containers and scalars, with tensors read.
#[derive(Clone, Debug)]
pub enum Object {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// Lists and tuples.
    List(Vec<Object>),
    /// Dicts and OrderedDicts, in insertion order.
    Dict(Vec<(Object, Object)>),
    Tensor(Tensor),
    /// Something else PyTorch's safe loader allows (a dtype, a device, a set): kept
    /// as its description.
    Other(String),
}

impl Object {
    /// The tensors with dotted paths: dict keys and list positions joined by `.`
    /// (`{"model": {"fc.weight": t}}` gives `model.fc.weight`).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        fn walk(o: &Object, prefix: &str, out: &mut Vec<(String, Tensor)>) {
            let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
            match o {
                Object::Tensor(t) => out.push((prefix.to_string(), t.clone())),
                Object::List(items) => items.iter().enumerate().for_each(|(i, x)| walk(x, &join(&i.to_string()), out)),
                Object::Dict(items) => {
                    for (k, v) in items {
                        let key = match k {
                            Object::Str(s) => s.clone(),
                            Object::Int(i) => i.to_string(),
                            other => format!("{other:?}"),
                        };
                        walk(v, &join(&key), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = vec![];
        walk(self, "", &mut out);
        out
    }
}

/// The archive's records, found under its one top-level folder.
struct Archive<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    prefix: String,
}

impl Archive<'_> {
    fn open(bytes: &[u8]) -> Result<Archive<'_>> {
        if bytes.len() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
            return Err(IoError::unsupported(
                F,
                "legacy torch.save format",
                "files written before PyTorch 1.6 (or with _use_new_zipfile_serialization=False) are not read; re-save them with a current torch.save",
            ));
        }
        let zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| IoError::format(F, format!("not a readable zip archive: {e}")))?;
        let pkl = zip
            .file_names()
            .filter_map(|n| n.strip_suffix("data.pkl"))
            .find(|p| p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
            .ok_or_else(|| IoError::format(F, "the archive has no data.pkl record"))?
            .to_string();
        Ok(Archive { zip, prefix: pkl })
    }

    fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(&format!("{}{name}", self.prefix)).is_some()
    }

    /// A record's bytes, at most its declared size.
    fn record(&mut self, name: &str) -> Result<Vec<u8>> {
        let full = format!("{}{name}", self.prefix);
        let mut f = self.zip.by_name(&full).map_err(|e| IoError::format(F, format!("record {full}: {e}")))?;
        let declared = f.size();
        let mut out = Vec::with_capacity(declared.min(1 << 30) as usize);
        (&mut f).take(declared).read_to_end(&mut out).map_err(|e| IoError::format(F, format!("record {full}: {e}")))?;
        if out.len() as u64 != declared {
            return Err(IoError::format(F, format!("record {full}: {} of {declared} bytes present", out.len())));
        }
        Ok(out)
    }
}

/// Reads a `torch.save` file into its object, tensors included.
pub fn read(bytes: &[u8]) -> Result<Object> {
    read_with_digest(bytes).map(|(o, _)| o)
}

/// [`read`], and the content digest Psionic recorded in the file when it wrote it.
pub fn read_with_digest(bytes: &[u8]) -> Result<(Object, Option<String>)> {
    let mut ar = Archive::open(bytes)?;
    let big_endian = if ar.has("byteorder") {
        match ar.record("byteorder")?.as_slice() {
            b"little" => false,
            b"big" => true,
            other => {
                return Err(IoError::format(F, format!("byteorder record is {:?}", String::from_utf8_lossy(other))))
            }
        }
    } else {
        false
    };
    let root = pickle::load(&ar.record("data.pkl")?)?;
    let object = Convert { ar: &mut ar, be: big_endian, storages: HashMap::new(), nodes: 0 }.convert(&root, 0)?;
    let digest = if ar.has(DIGEST_RECORD) {
        Some(String::from_utf8_lossy(&ar.record(DIGEST_RECORD)?).trim().to_string())
    } else {
        None
    };
    Ok((object, digest))
}

/// Deeper nesting than this is refused (a hostile pickle could nest without end).
const MAX_DEPTH: usize = 512;
/// More objects than this are refused: shared references let a small pickle describe
/// a tree of 2^60 nodes.
const MAX_NODES: usize = 4_000_000;

/// Turns pickled values into [`Object`]s, reading each storage once.
struct Convert<'a, 'b> {
    ar: &'a mut Archive<'b>,
    be: bool,
    storages: HashMap<String, Tensor>,
    nodes: usize,
}

impl Convert<'_, '_> {
    fn all(&mut self, items: &[Value], depth: usize) -> Result<Vec<Object>> {
        items.iter().map(|x| self.convert(x, depth + 1)).collect()
    }

    fn convert(&mut self, v: &Value, depth: usize) -> Result<Object> {
        if depth > MAX_DEPTH {
            return Err(IoError::format(F, "objects nested too deeply"));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(IoError::format(F, format!("more than {MAX_NODES} objects")));
        }
        Ok(match v {
            Value::None => Object::None,
            Value::Bool(b) => Object::Bool(*b),
            Value::Int(i) => Object::Int(*i),
            Value::Float(f) => Object::Float(*f),
            Value::Str(s) => Object::Str(s.clone()),
            Value::Bytes(b) => Object::Bytes(b.clone()),
            Value::Tuple(items) => Object::List(self.all(items, depth)?),
            Value::List(items) | Value::Set(items) => Object::List(self.all(&items.borrow(), depth)?),
            Value::Dict(items) => {
                let mut out = vec![];
                for (k, x) in items.borrow().iter() {
                    out.push((self.convert(k, depth + 1)?, self.convert(x, depth + 1)?));
                }
                Object::Dict(out)
            }
            Value::Tensor(t) => Object::Tensor(tensor(t, self.ar, self.be, &mut self.storages)?),
            other => Object::Other(format!("{other:?}")),
        })
    }
}

/// The tensor a view describes, after checking it lies inside its storage.
fn tensor(t: &TensorRef, ar: &mut Archive, be: bool, storages: &mut HashMap<String, Tensor>) -> Result<Tensor> {
    let s = &t.storage;
    if t.size.len() != t.stride.len() {
        return Err(IoError::format(F, format!("size {:?} and stride {:?} differ in length", t.size, t.stride)));
    }
    let numel = t.size.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let extent = t.size.iter().zip(&t.stride).try_fold(0usize, |a, (&d, &st)| {
        if d == 0 {
            Some(a)
        } else {
            (d - 1).checked_mul(st).and_then(|x| a.checked_add(x))
        }
    });
    let (Some(numel), Some(extent)) = (numel, extent) else {
        return Err(IoError::format(F, format!("size {:?} / stride {:?} overflow", t.size, t.stride)));
    };
    if numel > 0 && t.offset.checked_add(extent).is_none_or(|last| last >= s.numel) {
        return Err(IoError::format(
            F,
            format!(
                "a tensor of size {:?}, stride {:?} at offset {} reaches past its storage of {} elements",
                t.size, t.stride, t.offset, s.numel
            ),
        ));
    }
    if !storages.contains_key(&s.key) {
        if s.key.contains('/') || s.key.contains("..") {
            return Err(IoError::format(F, format!("storage key {:?} is not a record name", s.key)));
        }
        let bytes = ar.record(&format!("data/{}", s.key))?;
        let flat = decode(F, s.elem, be, &[s.numel], &bytes)
            .map_err(|e| IoError::format(F, format!("storage {}: {e}", s.key)))?;
        storages.insert(s.key.clone(), flat);
    }
    let flat = &storages[&s.key];
    let stride: Vec<isize> = t.stride.iter().map(|&x| x as isize).collect();
    let view = if numel == 0 {
        Tensor::zeros(&t.size, flat.dtype())
    } else {
        flat.as_strided(&t.size, &stride, Some(t.offset)).contiguous()
    };
    if t.requires_grad {
        view.requires_grad_(true);
    }
    Ok(view)
}

/// The sha256 record Psionic adds beside the pickle (PyTorch ignores records it does
/// not know).
pub(crate) const DIGEST_RECORD: &str = ".data/psionic_sha256";
