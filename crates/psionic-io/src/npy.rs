//! NumPy's `.npy` format (versions 1 to 3): a magic string, a header that is a Python
//! dict literal (`descr`, `fortran_order`, `shape`), then the elements.

use crate::error::{IoError, Result};
use crate::raw::{decode, encode, Elem};
use psionic_array::Tensor;

const MAGIC: &[u8] = b"\x93NUMPY";
const F: &str = "npy";

/// The tensor a `.npy` file holds.
pub fn read(bytes: &[u8]) -> Result<Tensor> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(IoError::format(F, "not a .npy file (bad magic)"));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
        v => return Err(IoError::format(F, format!("unknown format version {v}"))),
    };
    let header = bytes
        .get(start..start.saturating_add(header_len))
        .ok_or_else(|| IoError::format(F, "the header runs past the end of the file"))?;
    let header = std::str::from_utf8(header).map_err(|_| IoError::format(F, "the header is not text"))?;
    let (descr, fortran, shape) = parse_header(header)?;
    let (elem, big_endian) = elem_of(&descr)?;
    let data = &bytes[start + header_len..];
    if !fortran {
        return decode(F, elem, big_endian, &shape, data);
    }
    // Column-major: the same bytes are the row-major array of the reversed shape,
    // transposed.
    let reversed: Vec<usize> = shape.iter().rev().copied().collect();
    let t = decode(F, elem, big_endian, &reversed, data)?;
    let dims: Vec<i64> = (0..shape.len() as i64).rev().collect();
    Ok(t.permute(&dims).contiguous())
}

/// `t` as a version 1 `.npy` file (version 2 when the header needs it).
pub fn write(t: &Tensor) -> Result<Vec<u8>> {
    let (elem, data) = encode(t);
    let descr = descr_of(elem)?;
    let shape = match t.shape().as_slice() {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        s => format!("({})", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // The elements start on a 64-byte boundary; the header ends with a newline.
    let v1 = header.len() + 11 < 65536;
    let prefix = if v1 { 10 } else { 12 };
    let pad = (64 - (prefix + header.len() + 1) % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = MAGIC.to_vec();
    if v1 {
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
    } else {
        out.extend([2, 0]);
        out.extend((header.len() as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend(data);
    Ok(out)
}

fn descr_of(elem: Elem) -> Result<&'static str> {
    Ok(match elem {
        Elem::Bool => "|b1",
        Elem::U8 => "|u1",
        Elem::I8 => "|i1",
        Elem::I16 => "<i2",
        Elem::I32 => "<i4",
        Elem::I64 => "<i8",
        Elem::U16 => "<u2",
        Elem::U32 => "<u4",
        Elem::U64 => "<u8",
        Elem::F16 => "<f2",
        Elem::F32 => "<f4",
        Elem::F64 => "<f8",
        Elem::BF16 => return Err(IoError::unsupported(F, "bf16", "NumPy has no bfloat16; save as safetensors")),
    })
}

fn elem_of(descr: &str) -> Result<(Elem, bool)> {
    let (order, code) = descr.split_at(descr.len().min(1));
    let big = match order {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => return Err(IoError::unsupported(F, descr, "not a simple element type")),
    };
    let elem = match code {
        "b1" | "?" => Elem::Bool,
        "u1" => Elem::U8,
        "i1" => Elem::I8,
        "i2" => Elem::I16,
        "i4" => Elem::I32,
        "i8" => Elem::I64,
        "u2" => Elem::U16,
        "u4" => Elem::U32,
        "u8" => Elem::U64,
        "f2" => Elem::F16,
        "f4" => Elem::F32,
        "f8" => Elem::F64,
        _ => return Err(IoError::unsupported(F, descr, "Psionic reads bool, integer and float elements")),
    };
    Ok((elem, big))
}

/// `descr`, `fortran_order` and `shape` from the header's dict literal.
fn parse_header(h: &str) -> Result<(String, bool, Vec<usize>)> {
    let bad = |what: &str| IoError::format(F, format!("malformed header ({what}): {h:?}"));
    let value = |key: &str| -> Result<&str> {
        let at = h.find(&format!("'{key}'")).ok_or_else(|| bad(key))?;
        let rest = h[at + key.len() + 2..].trim_start();
        Ok(rest.strip_prefix(':').ok_or_else(|| bad(key))?.trim_start())
    };
    let d = value("descr")?;
    let d = d.strip_prefix('\'').ok_or_else(|| bad("descr"))?;
    let descr = d[..d.find('\'').ok_or_else(|| bad("descr"))?].to_string();
    let fortran = match value("fortran_order")? {
        v if v.starts_with("True") => true,
        v if v.starts_with("False") => false,
        _ => return Err(bad("fortran_order")),
    };
    let s = value("shape")?.strip_prefix('(').ok_or_else(|| bad("shape"))?;
    let s = &s[..s.find(')').ok_or_else(|| bad("shape"))?];
    let shape = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_end_matches('L').parse::<usize>().map_err(|_| bad("shape")))
        .collect::<Result<Vec<_>>>()?;
    Ok((descr, fortran, shape))
}
