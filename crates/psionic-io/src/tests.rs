//! Round trips in every dtype, NumPy's other layouts (column-major, big-endian,
//! unsigned, deflated archives), and malformed files refused with typed errors.

use crate::{load, npy, npz, read, safetensors, save_array, save_named, Format, IoError};
use psionic_array::{DType, Tensor};
use std::collections::HashMap;
use std::io::Write;

fn every_dtype() -> Vec<Tensor> {
    let base = Tensor::from_vec(vec![-2.5f64, 0.0, 1.0, 3.25, -0.0, 7.0], &[2, 3]);
    DType::ALL.iter().map(|&d| base.to_dtype(d)).collect()
}

fn same(a: &Tensor, b: &Tensor) {
    assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()));
    assert_eq!(a.to_dtype(DType::F64).to_vec::<f64>(), b.to_dtype(DType::F64).to_vec::<f64>());
}

#[test]
fn every_dtype_round_trips_through_every_format() {
    let ts = every_dtype();
    for t in &ts {
        if t.dtype() != DType::BF16 {
            same(&npy::read(&npy::write(t).unwrap()).unwrap(), t);
        }
    }
    let named: Vec<(String, &Tensor)> = ts.iter().map(|t| (format!("{}", t.dtype()), t)).collect();
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let (back, m) = safetensors::read(&safetensors::write(&refs, &meta).unwrap()).unwrap();
    assert_eq!(m, meta);
    // The writer orders tensors by alignment, so they come back by name.
    let back: HashMap<String, Tensor> = back.into_iter().collect();
    assert_eq!(back.len(), refs.len());
    for (n, t) in &refs {
        same(&back[*n], t);
    }
    let no_bf16: Vec<_> = refs.iter().filter(|(_, t)| t.dtype() != DType::BF16).cloned().collect();
    for ((n, t), (bn, b)) in no_bf16.iter().zip(&npz::read(&npz::write(&no_bf16).unwrap()).unwrap()) {
        assert_eq!(n, bn);
        same(b, t);
    }
    let e = npy::write(&ts[7]).unwrap_err();
    assert!(matches!(e, IoError::Unsupported { .. }), "{e}");
}

#[test]
fn views_scalars_and_empty_arrays_are_written_as_their_values() {
    let t = Tensor::from_vec((0..12).map(|i| i as f32).collect(), &[3, 4]).t();
    same(&npy::read(&npy::write(&t).unwrap()).unwrap(), &t.contiguous());
    for t in [Tensor::scalar(2.5f64), Tensor::zeros(&[0, 3], DType::F32)] {
        same(&npy::read(&npy::write(&t).unwrap()).unwrap(), &t);
    }
    // The header ends on a 64-byte boundary with a newline, as NumPy requires.
    let bytes = npy::write(&t).unwrap();
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!(((10 + len) % 64, bytes[9 + len]), (0, b'\n'));
}

fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn numpy_layouts_psionic_does_not_write_are_read() {
    // Column-major 2x3 of 0..6: memory holds the columns.
    let data: Vec<u8> = [0i32, 3, 1, 4, 2, 5].iter().flat_map(|v| v.to_le_bytes()).collect();
    let t = npy::read(&npy_bytes("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }\n", &data)).unwrap();
    assert_eq!((t.shape(), t.to_vec::<i32>()), (vec![2, 3], vec![0, 1, 2, 3, 4, 5]));
    let data: Vec<u8> = [1.5f64, -2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let t = npy::read(&npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }\n", &data)).unwrap();
    assert_eq!(t.to_vec::<f64>(), [1.5, -2.0]);
    let data: Vec<u8> = [u32::MAX, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let t = npy::read(&npy_bytes("{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }\n", &data)).unwrap();
    assert_eq!((t.dtype(), t.to_vec::<i64>()), (DType::I64, vec![u32::MAX as i64, 7]));
    let data = u64::MAX.to_le_bytes();
    let e = npy::read(&npy_bytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }\n", &data)).unwrap_err();
    assert!(e.to_string().contains("exceeds i64"), "{e}");
    // np.savez_compressed deflates its members.
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("a.npy", opts).unwrap();
    zip.write_all(&npy::write(&Tensor::from_vec(vec![1.0f32; 100], &[10, 10])).unwrap()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let back = npz::read(&bytes).unwrap();
    assert_eq!((back[0].0.as_str(), back[0].1.shape()), ("a", vec![10, 10]));
}

#[test]
fn malformed_files_are_typed_errors() {
    let good = npy::write(&Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("bad magic", b"NOTNUMPY\x01\x00\x00\x00".to_vec()),
        ("truncated data", good[..good.len() - 1].to_vec()),
        ("trailing data", [good.clone(), vec![0]].concat()),
        ("header past end", good[..20].to_vec()),
        (
            "huge shape",
            npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2), }", &[]),
        ),
        ("structured", npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", &[0; 4])),
        ("no shape", npy_bytes("{'descr': '<f4', 'fortran_order': False}", &[0; 4])),
        ("object", npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", &[0; 8])),
    ];
    for (what, bytes) in cases {
        let e = npy::read(&bytes).expect_err(what);
        assert!(matches!(e, IoError::Format { .. } | IoError::Unsupported { .. }), "{what}: {e}");
    }
    let st = safetensors::write(&[("x", &Tensor::zeros(&[4], DType::F32))], &HashMap::new()).unwrap();
    for bad in [st[..st.len() - 2].to_vec(), st[..6].to_vec(), b"garbage!garbage!".to_vec()] {
        assert!(matches!(read(&bad, Format::Safetensors), Err(IoError::Format { .. })));
    }
    let z = npz::write(&[("x", &Tensor::zeros(&[4], DType::F32))]).unwrap();
    for bad in [z[..z.len() / 2].to_vec(), b"PK\x03\x04junk".to_vec()] {
        assert!(matches!(read(&bad, Format::Npz), Err(IoError::Format { .. })));
    }
}

#[test]
fn files_are_written_atomically_and_read_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tensor::from_vec(vec![1i64, 2, 3], &[3]);
    save_array(&dir.path().join("a.npy"), &t).unwrap();
    save_named(&dir.path().join("b.npz"), &[("t", &t)]).unwrap();
    save_named(&dir.path().join("c.safetensors"), &[("t", &t)]).unwrap();
    save_named(&dir.path().join("d.pt"), &[("t", &t)]).unwrap();
    for f in ["a.npy", "b.npz", "c.safetensors", "d.pt"] {
        let got = load(&dir.path().join(f)).unwrap().into_named();
        same(&got[0].1, &t);
    }
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert_eq!(names.len(), 4, "no temporary files left: {names:?}");
    assert!(matches!(load(&dir.path().join("missing.npy")), Err(IoError::File { .. })));
    assert!(matches!(load(&dir.path().join("x.txt")), Err(IoError::Format { .. })));
    assert!(save_named(&dir.path().join("no/such/dir/d.npz"), &[("t", &t)]).is_err());
}
