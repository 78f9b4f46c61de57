//! The committed baselines of passing case ids: a case in a baseline that no longer
//! passes is a regression. `PSIONIC_UPDATE_BASELINE=1` rewrites a baseline from a run.

use crate::report::{Report, Status};
use std::collections::BTreeSet;
use std::path::Path;

/// The baseline cases of `path` that `report` no longer passes, each with why; with
/// `PSIONIC_UPDATE_BASELINE` set, writes the passing ids to `path` instead.
pub fn lost(report: &Report, path: &Path) -> Vec<String> {
    let passing: BTreeSet<&str> =
        report.cases.iter().filter(|c| c.status == Status::Pass).map(|c| c.id.as_str()).collect();
    if std::env::var_os("PSIONIC_UPDATE_BASELINE").is_some() {
        let text: String = passing.iter().map(|id| format!("{id}\n")).collect();
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return vec![];
    }
    let baseline = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    baseline
        .lines()
        .filter(|id| !passing.contains(id))
        .map(|id| {
            let c = report.cases.iter().find(|c| c.id == id);
            format!("{id}: {}", c.map_or("no longer harvested".to_string(), |c| format!("{:?} {}", c.status, c.detail)))
        })
        .collect()
}
