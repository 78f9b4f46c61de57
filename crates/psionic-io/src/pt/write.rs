//! Writes named tensors as `torch.save(OrderedDict)` does: a protocol-2 pickle that
//! rebuilds each tensor with `torch._utils._rebuild_tensor_v2` from its own storage
//! record, storages aligned to 64 bytes in the archive.

use super::{DIGEST_RECORD, F};
use crate::error::{IoError, Result};
use crate::raw::{encode, Elem};
use psionic_array::Tensor;
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;

struct Pickler(Vec<u8>);

impl Pickler {
    fn op(&mut self, b: u8) {
        self.0.push(b);
    }
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }
    fn str(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn int(&mut self, v: usize) {
        if let Ok(small) = u8::try_from(v) {
            self.0.extend_from_slice(&[b'K', small]);
        } else if let Ok(i) = i32::try_from(v) {
            self.0.push(b'J');
            self.0.extend_from_slice(&i.to_le_bytes());
        } else {
            self.0.extend_from_slice(&[0x8a, 8]);
            self.0.extend_from_slice(&(v as i64).to_le_bytes());
        }
    }
    fn tuple(&mut self, items: &[usize]) {
        self.op(b'(');
        for &i in items {
            self.int(i);
        }
        self.op(b't');
    }
    fn empty_ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.op(b')');
        self.op(b'R');
    }
}

fn storage_name(e: Elem) -> Result<&'static str> {
    Ok(match e {
        Elem::F32 => "FloatStorage",
        Elem::F64 => "DoubleStorage",
        Elem::F16 => "HalfStorage",
        Elem::BF16 => "BFloat16Storage",
        Elem::I64 => "LongStorage",
        Elem::I32 => "IntStorage",
        Elem::I16 => "ShortStorage",
        Elem::I8 => "CharStorage",
        Elem::U8 => "ByteStorage",
        Elem::Bool => "BoolStorage",
        other => return Err(IoError::unsupported(F, format!("{other:?}"), "no PyTorch storage type")),
    })
}

/// The file bytes of `torch.save(OrderedDict(tensors))`, with `digest` (when given)
/// in an extra record.
pub fn write(tensors: &[(&str, &Tensor)], digest: Option<&str>) -> Result<Vec<u8>> {
    let mut p = Pickler(vec![0x80, 2]);
    let mut storages = vec![];
    p.empty_ordered_dict();
    p.op(b'(');
    for (i, (name, t)) in tensors.iter().enumerate() {
        let (elem, bytes) = encode(t);
        let shape = t.shape();
        let numel: usize = shape.iter().product();
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1].max(1);
        }
        p.str(name);
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(b'(');
        // The persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel).
        p.op(b'(');
        p.str("storage");
        p.global("torch", storage_name(elem)?);
        p.str(&i.to_string());
        p.str("cpu");
        p.int(numel);
        p.op(b't');
        p.op(b'Q');
        p.int(0);
        p.tuple(&shape);
        p.tuple(&stride);
        p.op(0x89); // requires_grad=False
        p.empty_ordered_dict(); // backward hooks
        p.op(b't');
        p.op(b'R');
        storages.push(bytes);
    }
    p.op(b'u');
    p.op(b'.');

    let err = |e: zip::result::ZipError| IoError::format(F, e.to_string());
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(false);
    let put = |zip: &mut zip::ZipWriter<Cursor<Vec<u8>>>, name: &str, data: &[u8], align: u16| -> Result<()> {
        let o = opts.with_alignment(align).large_file(data.len() as u64 >= u32::MAX as u64);
        zip.start_file(format!("archive/{name}"), o).map_err(err)?;
        zip.write_all(data).map_err(|e| IoError::format(F, e.to_string()))
    };
    put(&mut zip, "data.pkl", &p.0, 1)?;
    put(&mut zip, ".format_version", b"1", 1)?;
    put(&mut zip, ".storage_alignment", b"64", 1)?;
    put(&mut zip, "byteorder", b"little", 1)?;
    for (i, bytes) in storages.iter().enumerate() {
        put(&mut zip, &format!("data/{i}"), bytes, 64)?;
    }
    put(&mut zip, "version", b"3\n", 1)?;
    if let Some(d) = digest {
        put(&mut zip, DIGEST_RECORD, d.as_bytes(), 1)?;
    }
    Ok(zip.finish().map_err(err)?.into_inner())
}
