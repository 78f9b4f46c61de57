//! The MLX conformance suite as a test: every case in the committed baseline of passing
//! ids must still pass, a wrong result must be a `fail`, and a program MLX refuses must
//! be refused by Psionic too.

use psionic_conformance::report::Status;
use psionic_conformance::{mlx, run_mlx, Filter};
use std::collections::BTreeSet;

fn baseline_path() -> std::path::PathBuf {
    mlx::mlx_dir().join("baseline.txt")
}

#[test]
fn baseline_cases_still_pass() {
    let report = run_mlx(&mlx::mlx_dir(), &Filter::default()).expect("fixtures load");
    let passing: BTreeSet<&str> =
        report.cases.iter().filter(|c| c.status == Status::Pass).map(|c| c.id.as_str()).collect();
    if std::env::var_os("PSIONIC_UPDATE_BASELINE").is_some() {
        let text: String = passing.iter().map(|id| format!("{id}\n")).collect();
        std::fs::write(baseline_path(), text).unwrap();
        return;
    }
    let baseline = std::fs::read_to_string(baseline_path()).expect("baseline.txt");
    let lost: Vec<String> = baseline
        .lines()
        .filter(|id| !passing.contains(id))
        .map(|id| {
            let c = report.cases.iter().find(|c| c.id == id);
            format!("{id}: {}", c.map_or("no longer harvested".to_string(), |c| format!("{:?} {}", c.status, c.detail)))
        })
        .collect();
    assert!(lost.is_empty(), "{} baseline cases no longer pass:\n{}", lost.len(), lost.join("\n"));
}

#[test]
fn every_family_is_reported_and_value_checked() {
    let report = run_mlx(&mlx::mlx_dir(), &Filter::default()).expect("fixtures load");
    let names: Vec<&str> = report.families.iter().map(|f| f.family.as_str()).collect();
    assert_eq!(names, psionic_conformance::report::MLX_FAMILIES);
    let cases = mlx::load(&mlx::mlx_dir(), "ops_numeric").unwrap();
    assert!(cases.iter().all(|c| c.outputs.as_ref().is_none_or(|o| !o.is_empty())));
}

#[test]
fn a_wrong_result_is_a_fail() {
    let cases = mlx::load(&mlx::mlx_dir(), "ops_numeric").unwrap();
    let case = cases.iter().find(|c| c.id == "ops_numeric/test_exp/exp").expect("the exp case");
    assert_eq!(mlx::run_case(case, None).status, Status::Pass);
    let nudge = |outs: Vec<psionic_array::Tensor>| outs.iter().map(|o| o.mul(1.001)).collect();
    let r = mlx::run_case(case, Some(&nudge));
    assert_eq!(r.status, Status::Fail, "{r:?}");
}

#[test]
fn a_program_mlx_refuses_must_be_refused() {
    let cases = mlx::load(&mlx::mlx_dir(), "vmap").unwrap();
    let case = cases.iter().find(|c| c.id == "vmap/test_mismatch_input_sizes/mismatch").unwrap();
    assert!(case.outputs.is_none());
    let r = mlx::run_case(case, None);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert!(r.detail.starts_with("refused"), "{}", r.detail);
}
