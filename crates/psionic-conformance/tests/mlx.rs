//! The MLX conformance suite as a test: every case in the committed baseline of passing
//! ids must still pass, a wrong result must be a `fail`, and a program MLX refuses must
//! be refused by Psionic too.

use psionic_conformance::report::Status;
use psionic_conformance::{baseline, mlx, run_mlx, Filter};

#[test]
fn baseline_cases_still_pass() {
    let report = run_mlx(&mlx::mlx_dir(), &Filter::default()).expect("fixtures load");
    let lost = baseline::lost(&report, &mlx::mlx_dir().join("baseline.txt"));
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
