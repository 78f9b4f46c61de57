//! PyTorch `.pt` files: files written by the real `torch.save` (fixtures from
//! `oracle/gen_checkpoints.py`) read with the right values, Psionic's own files read
//! back, and hostile or damaged files refused with typed errors, never a panic and never
//! anything executed.

use psionic_array::{DType, Tensor};
use psionic_io::pt::{self, Object};
use psionic_io::{load, read, save_named, Format, IoError};
use std::io::Write;
use std::path::PathBuf;
use zip::write::SimpleFileOptions;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints").join(name)
}

fn as_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).to_vec::<f64>()
}

#[test]
fn torch_save_files_read_with_torchs_values() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("torch_state.json")).unwrap()).unwrap();
    let obj = pt::read(&std::fs::read(fixture("torch_state.pt")).unwrap()).unwrap();
    let named = obj.named_tensors();
    let expected = expected.as_object().unwrap();
    assert_eq!(named.len(), expected.len());
    for (name, t) in &named {
        let e = &expected[name];
        assert_eq!(format!("{:?}", t.dtype()).to_lowercase(), dtype_alias(e["dtype"].as_str().unwrap()), "{name}");
        let shape: Vec<usize> = e["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape(), shape, "{name}");
        let vals: Vec<f64> = e["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(as_f64(t), vals, "{name}");
    }
    // Non-tensor values come through as themselves.
    let Object::Dict(items) = &obj else { panic!("top level is a dict") };
    let get = |k: &str| items.iter().find(|(key, _)| matches!(key, Object::Str(s) if s == k)).map(|(_, v)| v.clone());
    assert!(matches!(get("step"), Some(Object::Int(3))));
    assert!(matches!(get("lr"), Some(Object::Float(x)) if x == 0.1));
    assert!(matches!(get("name"), Some(Object::Str(s)) if s == "fixture"));
    // A Parameter keeps requires_grad; a plain tensor does not have it.
    let param = &named.iter().find(|(n, _)| n == "model.param").unwrap().1;
    assert!(param.requires_grad());
    assert!(!named[0].1.requires_grad());
}

fn dtype_alias(torch: &str) -> String {
    match torch {
        "float32" => "f32",
        "float64" => "f64",
        "float16" => "f16",
        "bfloat16" => "bf16",
        "int64" => "i64",
        "int32" => "i32",
        "int16" => "i16",
        "int8" => "i8",
        "uint8" => "u8",
        other => other,
    }
    .to_string()
}

#[test]
fn a_pickle_calling_os_system_is_refused_and_nothing_runs() {
    let marker = std::path::Path::new("/tmp/psionic-pwned");
    let _ = std::fs::remove_file(marker);
    let err = pt::read(&std::fs::read(fixture("malicious_os_system.pt")).unwrap()).unwrap_err();
    assert!(matches!(&err, IoError::Forbidden { what, .. } if what == "posix.system"), "{err}");
    assert!(err.to_string().contains("weights_only=True"), "{err}");
    assert!(!marker.exists());
}

#[test]
fn psionic_pt_files_round_trip_and_match_the_file_torch_verified() {
    let src = load(&fixture("torch_state_dict.pt")).unwrap().into_named();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.pt");
    let refs: Vec<(&str, &Tensor)> = src.iter().map(|(n, t)| (n.as_str(), t)).collect();
    save_named(&out, &refs).unwrap();
    // The bytes `oracle/gen_checkpoints.py` loaded with torch.load(weights_only=True).
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(fixture("psionic_written.pt")).unwrap());
    let back = load(&out).unwrap().into_named();
    assert_eq!(back.len(), src.len());
    for ((n, a), (m, b)) in src.iter().zip(&back) {
        assert_eq!((n, a.dtype(), a.shape()), (m, b.dtype(), b.shape()));
        assert_eq!(as_f64(a), as_f64(b), "{n}");
    }
}

/// A torch.save-shaped archive with the given pickle and storage records.
fn archive(pickle: &[u8], records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", o).unwrap();
    zip.write_all(pickle).unwrap();
    for (name, data) in records {
        zip.start_file(format!("archive/{name}"), o).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// `{'w': _rebuild_tensor_v2(storage('0', numel), offset, size, stride)}` in protocol 2.
fn tensor_pickle(key: &str, numel: u8, offset: u8, size: &[u8], stride: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}', b'X', 1, 0, 0, 0, b'w'];
    p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
    p.extend(b"(X\x07\0\0\0storagectorch\nFloatStorage\n");
    p.push(b'X');
    p.extend((key.len() as u32).to_le_bytes());
    p.extend(key.as_bytes());
    p.extend(b"X\x03\0\0\0cpuK");
    p.push(numel);
    p.extend(b"tQK");
    p.push(offset);
    p.push(b'(');
    for &s in size {
        p.extend([b'K', s]);
    }
    p.extend(b"t(");
    for &s in stride {
        p.extend([b'K', s]);
    }
    p.extend(b"t\x89ccollections\nOrderedDict\n)RtRs.");
    p
}

fn floats(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

#[test]
fn a_hand_built_archive_reads_and_views_index_its_storage() {
    let data = floats(6);
    let ok = pt::read(&archive(&tensor_pickle("0", 6, 1, &[2, 2], &[1, 2]), &[("data/0", &data)])).unwrap();
    let t = &ok.named_tensors()[0].1;
    assert_eq!(t.to_vec::<f32>(), [1.0, 3.0, 2.0, 4.0]);
}

#[test]
fn wrong_sizes_bad_offsets_and_bad_records_are_typed_errors() {
    let data = floats(6);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "storage shorter than its numel",
            archive(&tensor_pickle("0", 8, 0, &[6], &[1]), &[("data/0", &data)]),
            "bytes",
        ),
        (
            "view past the storage end",
            archive(&tensor_pickle("0", 6, 3, &[2, 2], &[2, 1]), &[("data/0", &data)]),
            "past its storage",
        ),
        (
            "offset past the storage",
            archive(&tensor_pickle("0", 6, 200, &[1], &[1]), &[("data/0", &data)]),
            "past its storage",
        ),
        ("missing storage record", archive(&tensor_pickle("1", 6, 0, &[6], &[1]), &[("data/0", &data)]), "data/1"),
        (
            "key escaping the archive",
            archive(&tensor_pickle("../0", 6, 0, &[6], &[1]), &[("data/0", &data)]),
            "not a record name",
        ),
        (
            "size and stride ranks differ",
            archive(&tensor_pickle("0", 6, 0, &[2, 3], &[1]), &[("data/0", &data)]),
            "differ in length",
        ),
        (
            "no data.pkl",
            {
                let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                z.start_file("archive/other", SimpleFileOptions::default()).unwrap();
                z.finish().unwrap().into_inner()
            },
            "no data.pkl",
        ),
        ("not a zip", b"definitely not a checkpoint".to_vec(), "zip"),
        ("legacy format", vec![0x80, 2, 0x8a, 0x0a], "legacy"),
        ("unknown opcode", archive(b"\x80\x02i__main__\nX\n.", &[]), "opcode"),
        ("stack underflow", archive(b"\x80\x02R.", &[]), "underflow"),
        ("memo never stored", archive(b"\x80\x02h\x05.", &[]), "memo"),
        ("pickle without STOP", archive(b"\x80\x02}", &[]), "truncated"),
        ("eval", archive(b"\x80\x02cbuiltins\neval\nX\x01\0\0\0x\x85R.", &[]), "builtins.eval"),
        ("exec via STACK_GLOBAL", archive(b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93.", &[]), "builtins.exec"),
        ("quantized tensor", archive(b"\x80\x02ctorch._utils\n_rebuild_qtensor\n)R.", &[]), "not supported"),
    ];
    for (what, bytes, needle) in cases {
        let err = pt::read(&bytes).expect_err(what);
        assert!(err.to_string().contains(needle), "{what}: {err}");
    }
}

#[test]
fn truncated_and_corrupted_files_never_panic() {
    let good = std::fs::read(fixture("torch_state.pt")).unwrap();
    for cut in (0..good.len()).step_by(37) {
        assert!(pt::read(&good[..cut]).is_err(), "a file cut at {cut} bytes read");
    }
    // Flipped bytes anywhere: an error or (for bytes the format does not check) a
    // value, but never a panic.
    let mut state = 0x2545F4914F6CDD1Du64;
    for _ in 0..400 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = good.clone();
        let i = (state % bad.len() as u64) as usize;
        bad[i] ^= 1 << ((state >> 60) % 8);
        let r = std::panic::catch_unwind(|| pt::read(&bad).map(|o| o.named_tensors().len()));
        assert!(r.is_ok(), "flipping byte {i} panicked");
    }
}

#[test]
fn an_altered_checkpoint_fails_its_recorded_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]);
    save_named(&path, &[("w", &w)]).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x40; // the last byte of w's data
    std::fs::write(&path, &bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, IoError::Checksum { .. }), "{err}");
    // Reading bytes checks the digest as loading a path does.
    assert!(matches!(read(&bytes, Format::Safetensors), Err(IoError::Checksum { .. })));
}

#[test]
fn deep_nesting_and_shared_reference_bombs_are_refused_without_crashing() {
    // A million lists nested in one another (built bottom up): refused by depth, and
    // dropped without recursion.
    let n = 1_000_000;
    let mut p = vec![0x80, 2];
    p.extend(std::iter::repeat_n(b']', n));
    p.extend(std::iter::repeat_n(b'a', n - 1));
    p.push(b'.');
    let err = pt::read(&archive(&p, &[])).unwrap_err();
    assert!(err.to_string().contains("nested too deeply"), "{err}");
    // Built top down through the memo (every insertion adds an empty child).
    let mut p = vec![0x80, 2, b']', b'r', 0, 0, 0, 0];
    for i in 0..n as u32 {
        p.push(b'j');
        p.extend(i.to_le_bytes());
        p.extend([b']', b'r']);
        p.extend((i + 1).to_le_bytes());
        p.push(b'a');
    }
    p.extend([b'j', 0, 0, 0, 0, b'.']);
    let err = pt::read(&archive(&p, &[])).unwrap_err();
    assert!(err.to_string().contains("nested too deeply"), "{err}");
    // x[i+1] = [x[i], x[i]] sixty times: 2^60 leaves by reference.
    let mut p = vec![0x80, 2, b']', b'q', 0];
    for i in 0..60u8 {
        p.extend([b']', b'h', i, b'a', b'h', i, b'a', b'q', i + 1]);
    }
    p.push(b'.');
    let err = pt::read(&archive(&p, &[])).unwrap_err();
    assert!(err.to_string().contains("objects"), "{err}");
}
