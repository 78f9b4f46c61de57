//! Results per case, counts per family, and the claim postures derived from them.
//!
//! Postures (the seed vocabulary), per PyTorch family and overall:
//! - `pytorch_credible`: no case fails and at least 90% of the family's cases pass;
//! - `pytorch_compatible_later`: no case passes (the family is not implemented yet);
//! - `seeded_evidence_only`: anything in between (some evidence, not yet credible).
//!
//! Overall: credible when every family is, `compatible_later` when every family is,
//! `seeded_evidence_only` otherwise.
//!
//! Postures per MLX family (the seed's outcomes), and overall by the same rule over all
//! cases:
//! - `fail`: some case fails (a bug: Psionic computes something MLX does not);
//! - `pass`: no case fails and at least half of the family's cases pass;
//! - `refusal`: no case fails, fewer than half pass, and Psionic refuses (with its typed
//!   error) at least as many cases as it lacks the op or feature for;
//! - `unsupported`: otherwise: most cases need something Psionic does not have yet.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Psionic raised its typed refusal for an input PyTorch accepts.
    Refused,
    /// The op or a feature it needs is missing.
    Unsupported,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub op: String,
    pub family: String,
    pub dtype: String,
    pub status: Status,
    /// Why it is not a pass (empty for passes).
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub cases: usize,
    pub pass: usize,
    pub fail: usize,
    pub refused: usize,
    pub unsupported: usize,
    /// Distinct ops with at least one case, and with every case passing.
    pub ops: usize,
    pub ops_all_pass: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct FamilyReport {
    pub family: String,
    pub counts: Counts,
    pub posture: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub upstream: &'static str,
    pub families: Vec<FamilyReport>,
    pub overall: Counts,
    pub posture: &'static str,
    pub cases: Vec<CaseResult>,
}

pub const SCHEMA: &str = "psionic-conformance/1";

fn count(results: &[&CaseResult]) -> Counts {
    let mut c = Counts { cases: results.len(), ..Default::default() };
    let mut ops: BTreeMap<&str, bool> = BTreeMap::new();
    for r in results {
        match r.status {
            Status::Pass => c.pass += 1,
            Status::Fail => c.fail += 1,
            Status::Refused => c.refused += 1,
            Status::Unsupported => c.unsupported += 1,
        }
        let all = ops.entry(&r.op).or_insert(true);
        *all &= r.status == Status::Pass;
    }
    c.ops = ops.len();
    c.ops_all_pass = ops.values().filter(|&&p| p).count();
    c
}

/// The PyTorch posture of one family from its counts (rule in the module docs).
pub fn pytorch_posture(c: &Counts) -> &'static str {
    if c.pass == 0 {
        "pytorch_compatible_later"
    } else if c.fail == 0 && c.pass * 10 >= c.cases * 9 {
        "pytorch_credible"
    } else {
        "seeded_evidence_only"
    }
}

/// The MLX posture of one family from its counts (rule in the module docs).
pub fn mlx_posture(c: &Counts) -> &'static str {
    if c.fail > 0 {
        "fail"
    } else if c.pass > 0 && c.pass * 2 >= c.cases {
        "pass"
    } else if c.refused > 0 && c.refused >= c.unsupported {
        "refusal"
    } else {
        "unsupported"
    }
}

pub fn pytorch_report(cases: Vec<CaseResult>) -> Report {
    build(cases, "pytorch", pytorch_posture, |families| {
        if !families.is_empty() && families.iter().all(|f| f.posture == "pytorch_credible") {
            "pytorch_credible"
        } else if families.iter().all(|f| f.posture == "pytorch_compatible_later") {
            "pytorch_compatible_later"
        } else {
            "seeded_evidence_only"
        }
    })
}

/// MLX families in upstream order; every one is reported, with no cases if it has none.
pub const MLX_FAMILIES: &[&str] = &[
    "array_core",
    "ops_numeric",
    "autograd",
    "vmap",
    "custom_vjp",
    "compile",
    "export_import",
    "nn_optimizers_quantized",
    "distributed",
];

pub fn mlx_report(cases: Vec<CaseResult>) -> Report {
    let overall = mlx_posture(&count(&cases.iter().collect::<Vec<_>>()));
    let mut r = build(cases, "mlx", mlx_posture, |_| overall);
    r.families.sort_by_key(|f| MLX_FAMILIES.iter().position(|n| *n == f.family));
    r
}

fn build(
    cases: Vec<CaseResult>,
    upstream: &'static str,
    posture: fn(&Counts) -> &'static str,
    overall_posture: impl Fn(&[FamilyReport]) -> &'static str,
) -> Report {
    let mut by_family: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
    for c in &cases {
        by_family.entry(c.family.clone()).or_default().push(c);
    }
    let families: Vec<FamilyReport> = by_family
        .iter()
        .map(|(f, rs)| {
            let counts = count(rs);
            FamilyReport { family: f.clone(), posture: posture(&counts), counts }
        })
        .collect();
    let posture = overall_posture(&families);
    let overall = count(&cases.iter().collect::<Vec<_>>());
    Report { schema: SCHEMA, upstream, families, overall, posture, cases }
}

impl Report {
    /// The per-family table `psionic conformance` prints (and the README shows).
    pub fn table(&self) -> String {
        let mut s = format!(
            "| {} family | cases | pass | fail | refused | unsupported | {} (all pass) | posture |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
            self.upstream,
            if self.upstream == "mlx" { "tests" } else { "ops" }
        );
        let row = |name: &str, c: &Counts, p: &str| {
            format!(
                "| {name} | {} | {} | {} | {} | {} | {} ({}) | {p} |\n",
                c.cases, c.pass, c.fail, c.refused, c.unsupported, c.ops, c.ops_all_pass
            )
        };
        for f in &self.families {
            s += &row(&f.family, &f.counts, f.posture);
        }
        s += &row("**overall**", &self.overall, self.posture);
        s
    }
}
