//! Timing helpers shared by the benchmarks: medians of repeated runs, and running a
//! PyTorch script with the oracle venv's Python (or `$PSIONIC_PYTHON`).

use std::process::Command;

/// Median wall time of `f` in microseconds over `reps` runs, after `reps / 10` warm-ups
/// (at least one: first calls pay one-time costs, such as PyTorch creating its kernels).
pub fn median_us(reps: usize, mut f: impl FnMut()) -> f64 {
    psionic::timing::quartiles_us(reps, (reps / 10).max(1), &mut f).0
}

/// The same `med(f, n)` helper for the Python side, to prepend to a torch script.
pub const PY_MEDIAN: &str = r#"
import time, statistics
def med(f, n):
    for _ in range(max(1, n // 10)): f()
    t = []
    for _ in range(n):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1e6)
    return statistics.median(t)
"#;

/// Runs `code` with the oracle Python and returns the numbers it prints, or `None` when
/// no Python with torch is available (the benchmark then prints only Psionic's side).
pub fn python_numbers(code: &str, expect: usize) -> Option<Vec<f64>> {
    let py = std::env::var("PSIONIC_PYTHON").unwrap_or_else(|_| "oracle/.venv/bin/python".into());
    let out = Command::new(py).arg("-c").arg(code).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    let v: Vec<f64> = s.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (v.len() == expect).then_some(v)
}

/// One row of a side-by-side table: ours, theirs (if measured) and the ratio.
pub fn row(name: &str, ours: f64, theirs: Option<f64>) {
    match theirs {
        Some(t) => println!("{name:<40} {ours:>10.2}us {t:>10.2}us {:>7.2}x", ours / t),
        None => println!("{name:<40} {ours:>10.2}us {:>12} {:>8}", "n/a", "n/a"),
    }
}
