//! Random streams as a test: every PyTorch sampler case must reproduce PyTorch's CPU
//! values (and generator states) bit for bit, and every MLX case MLX's, for the same seed
//! or key.

use psionic_conformance::random::{mlx_results, torch_results};
use psionic_conformance::report::Status;
use std::path::Path;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance/random.json")
}

fn assert_all_pass(results: Vec<psionic_conformance::report::CaseResult>, at_least: usize) {
    assert!(results.len() >= at_least, "only {} cases", results.len());
    let bad: Vec<String> =
        results.iter().filter(|r| r.status != Status::Pass).map(|r| format!("{}: {}", r.id, r.detail)).collect();
    assert!(bad.is_empty(), "{} cases differ:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn torch_samplers_reproduce_pytorch_streams() {
    assert_all_pass(torch_results(&fixtures(), None).unwrap(), 60);
}

#[test]
fn mlx_key_samplers_reproduce_mlx() {
    assert_all_pass(mlx_results(&fixtures(), None).unwrap(), 30);
}

#[test]
fn a_changed_value_is_a_fail() {
    // One flipped bit in a fixture value must fail its case.
    let mut fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures()).unwrap()).unwrap();
    let data = &mut fx["torch_cases"][0]["outputs"][0]["data"][0];
    *data = serde_json::json!(f64::from_bits(data.as_f64().unwrap().to_bits() ^ 1));
    let tmp = std::env::temp_dir().join(format!("psionic_random_{}.json", std::process::id()));
    std::fs::write(&tmp, fx.to_string()).unwrap();
    let r = torch_results(&tmp, None).unwrap();
    std::fs::remove_file(&tmp).ok();
    assert_eq!(r[0].status, Status::Fail, "{:?}", r[0]);
    assert!(r[1..].iter().all(|c| c.status == Status::Pass));
}
