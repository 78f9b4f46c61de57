//! Conformance: upstream PyTorch (OpInfo) cases and cases written from MLX's test
//! families, harvested by the oracle scripts into `fixtures/conformance/`, replayed
//! through Psionic with no Python. Every case ends as
//! `pass`, `fail`, `refused` or `unsupported`; the report and the claim postures are
//! computed from those results (`report.rs`), never written by hand.

pub mod baseline;
pub mod compare;
pub mod fixture;
pub mod mlx;
pub mod nn;
pub mod random;
pub mod report;
pub mod run;
pub mod sched;
pub mod torch;
pub mod value;

use report::{mlx_report, pytorch_report, CaseResult, Report};
use std::path::Path;

/// Which cases to run.
#[derive(Default, Clone)]
pub struct Filter {
    pub family: Option<String>,
    pub op: Option<String>,
}

/// Replays the PyTorch fixtures in `dir` that pass `filter`.
pub fn run_pytorch(dir: &Path, filter: &Filter) -> Result<Report, String> {
    let mut results: Vec<CaseResult> = vec![];
    for fam in fixture::families_in(dir)? {
        if filter.family.as_ref().is_some_and(|f| *f != fam) {
            continue;
        }
        let family = fixture::load(dir, &fam)?;
        for case in &family.cases {
            if filter.op.as_ref().is_some_and(|o| *o != case.op) {
                continue;
            }
            results.push(run::run_case(case, None));
            if run::has_strided_twin(case) {
                results.push(run::run_strided(case));
            }
        }
    }
    if filter.family.as_deref().is_none_or(|f| f == "random") {
        results.extend(random::torch_results(&random_fixtures(dir), filter.op.as_deref())?);
    }
    Ok(pytorch_report(results))
}

/// Replays the MLX fixtures in `dir` that pass `filter` (`op` names an upstream test).
pub fn run_mlx(dir: &Path, filter: &Filter) -> Result<Report, String> {
    let mut results: Vec<CaseResult> = vec![];
    for fam in fixture::families_in(dir)? {
        if filter.family.as_ref().is_some_and(|f| *f != fam) {
            continue;
        }
        for case in &mlx::load(dir, &fam)? {
            if filter.op.as_ref().is_some_and(|o| *o != case.test) {
                continue;
            }
            results.push(mlx::run_case(case, None));
        }
    }
    if filter.family.as_deref().is_none_or(|f| f == "ops_numeric") {
        results.extend(random::mlx_results(&random_fixtures(dir), filter.op.as_deref())?);
    }
    Ok(mlx_report(results))
}

/// The random-number fixtures, beside the per-upstream directories.
fn random_fixtures(upstream_dir: &Path) -> std::path::PathBuf {
    upstream_dir.join("../random.json")
}
