//! The PyTorch conformance suite as a test: every case in the committed baseline of
//! passing ids must still pass, and the comparator must call a wrong result a `fail`.

use psionic_conformance::report::Status;
use psionic_conformance::{baseline, fixture, run, run_pytorch, Filter};

#[test]
fn baseline_cases_still_pass() {
    let report = run_pytorch(&fixture::pytorch_dir(), &Filter::default()).expect("fixtures load");
    let lost = baseline::lost(&report, &fixture::pytorch_dir().join("baseline.txt"));
    assert!(lost.is_empty(), "{} baseline cases no longer pass:\n{}", lost.len(), lost.join("\n"));
}

#[test]
fn a_wrong_result_is_a_fail() {
    let fam = fixture::load(&fixture::pytorch_dir(), "tensor_core").unwrap();
    let case = fam.cases.iter().find(|c| c.op == "exp" && c.dtype == psionic_core::DType::F64).expect("an exp case");
    assert_eq!(run::run_case(case, None).status, Status::Pass);
    let nudge = |outs: Vec<psionic_array::Tensor>| outs.iter().map(|o| o.add(1e-6)).collect();
    let r = run::run_case(case, Some(&nudge));
    assert_eq!(r.status, Status::Fail, "{r:?}");
    assert!(r.detail.contains("expected"), "{}", r.detail);
}

#[test]
fn readme_table_matches_the_results() {
    let torch = run_pytorch(&fixture::pytorch_dir(), &Filter::default()).expect("fixtures load");
    let mlx = psionic_conformance::run_mlx(&psionic_conformance::mlx::mlx_dir(), &Filter::default()).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let begin = "<!-- conformance:begin -->\n";
    let a = readme.find(begin).expect("README conformance markers") + begin.len();
    let b = readme.find("<!-- conformance:end -->").unwrap();
    let want = format!(
        "{}overall posture: {}\n\n{}overall posture: {}\n",
        torch.table(),
        torch.posture,
        mlx.table(),
        mlx.posture
    );
    assert_eq!(&readme[a..b], want, "README's tables are stale: run scripts/conformance_table.sh");
}
