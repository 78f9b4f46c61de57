//! The `psionic` command line: a tiny `demo` run end to end, checkpoint inspection and
//! conversion between formats, and clear errors (exit status 2) for bad files and flags.

use std::path::{Path, PathBuf};
use std::process::Command;

fn psionic(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_psionic")).args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/checkpoints").join(name).display().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_tiny_demo_trains_saves_samples_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["demo", "--steps", "3", "--layers", "1", "--embd", "16", "--heads", "2", "--context", "8", "--batch", "2"];
    let (code, out, err) =
        psionic(&[&args[..], &["--eval-every", "2", "--sample", "20", "--out", s(dir.path())]].concat());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("held-out loss"), "{out}");
    for f in ["gpt.safetensors", "loss.png", "sample.txt"] {
        assert!(dir.path().join(f).metadata().is_ok_and(|m| m.len() > 0), "{f} missing");
    }
    assert_eq!(&std::fs::read(dir.path().join("loss.png")).unwrap()[..4], b"\x89PNG");
    let (code, out, _) = psionic(&["checkpoint", "inspect", s(&dir.path().join("gpt.safetensors"))]);
    assert_eq!(code, 0);
    assert!(
        out.contains("lm_head.weight") && out.contains("(recorded, verified)") && out.contains("metadata n_layer = 1"),
        "{out}"
    );
}

#[test]
fn the_demo_trains_compiled_with_the_eager_losses() {
    let losses = |eager: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["demo", "--steps", "6", "--layers", "1", "--embd", "16", "--heads", "2", "--context", "8"];
        args.extend(["--batch", "4", "--eval-every", "2", "--sample", "5", "--out", s(dir.path())]);
        if eager {
            args.push("--eager");
        }
        let (code, out, err) = psionic(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        out.lines().filter(|l| l.starts_with("step")).map(str::to_string).collect::<Vec<_>>()
    };
    let compiled = losses(false);
    assert_eq!(compiled.len(), 3, "{compiled:?}");
    assert_eq!(compiled, losses(true));
}

#[test]
fn checkpoints_convert_between_formats_with_the_same_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("g.safetensors");
    let npz = dir.path().join("g.npz");
    let pt = dir.path().join("g.pt");
    for (a, b) in [(fixture("gpt_small.pt"), s(&st)), (s(&st).into(), s(&npz)), (s(&npz).into(), s(&pt))] {
        let (code, _, err) = psionic(&["checkpoint", "convert", &a, b]);
        assert_eq!(code, 0, "{a} -> {b}: {err}");
    }
    let first = psionic::io::load(Path::new(&fixture("gpt_small.pt"))).unwrap().into_named();
    let last: std::collections::HashMap<String, psionic::Tensor> =
        psionic::io::load(&pt).unwrap().into_named().into_iter().collect();
    assert_eq!(first.len(), last.len());
    for (n, t) in &first {
        assert!(t.equal(&last[n]), "{n} changed in conversion");
    }
}

#[test]
fn bad_files_and_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["checkpoint".into(), "inspect".into(), fixture("malicious_os_system.pt")], "posix.system"),
        (vec!["checkpoint".into(), "inspect".into(), "/no/such/file.pt".into()], "/no/such/file.pt"),
        (vec!["checkpoint".into(), "inspect".into(), fixture("gpt_small.json")], "unknown extension"),
        (
            vec!["checkpoint".into(), "convert".into(), fixture("gpt_small.pt"), s(&dir.path().join("x.npy")).into()],
            ".npy holds one array",
        ),
        (vec!["demo".into(), "--embd".into(), "30".into(), "--heads".into(), "4".into()], "must divide"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = psionic(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(!dir.path().join("x.npy").exists(), "a failed conversion leaves no file");
}

#[test]
fn bench_lists_runs_and_writes_json() {
    let (code, out, _) = psionic(&["bench", "--list"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l == "train_gpt_demo_b16_t128"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let (code, out, err) =
        psionic(&["bench", "--filter", "backward_16", "--threads", "1,2", "--reps-scale", "0.01", "--json", s(&json)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backward_16"), "{out}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = doc["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["median_us"].as_f64().unwrap() > 0.0 && r["q1_us"].as_f64() <= r["q3_us"].as_f64()));
    let (code, _, err) = psionic(&["bench", "--filter", "no-such-workload"]);
    assert_eq!(code, 2);
    assert!(err.contains("no workload matches"), "{err}");
}
