//! `psionic bench`: the workloads of `BENCHMARKS.md`, each run with warm-up and repeated
//! timed runs at each requested thread count; reports the median and the interquartile
//! range. `oracle/bench/torch_bench.py` runs the same workloads in PyTorch, and
//! `scripts/bench.sh` runs both, interleaved, into one table.

mod compiled;
mod peak;
mod train;
mod workloads;

use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Only workloads whose name contains this.
    #[arg(long)]
    pub filter: Option<String>,
    /// Match --filter against whole names only (a training step's eager row is a prefix
    /// of its compiled row's name).
    #[arg(long)]
    pub exact: bool,
    /// Thread counts to run at (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Also write the results here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Scale every workload's repetition count (1.0 = the defaults).
    #[arg(long, default_value_t = 1.0)]
    pub reps_scale: f64,
    /// List the workloads and exit.
    #[arg(long)]
    pub list: bool,
    /// Measure the machine's f32 peak on one core (FMA throughput) instead of workloads.
    #[arg(long)]
    pub peak: bool,
}

/// One measured workload at one thread count, in microseconds.
#[derive(serde::Serialize)]
struct Measured {
    workload: &'static str,
    threads: usize,
    median_us: f64,
    q1_us: f64,
    q3_us: f64,
    reps: usize,
    /// Floating-point operations per run (0 where not counted).
    flops: f64,
    /// Tensor memory one run allocates beyond what was live before it, at its peak.
    peak_bytes: usize,
}

pub fn run(a: &BenchArgs) -> Result<(), String> {
    if a.peak {
        let (gflops, isa) = psionic::with_threads(1, || peak::measure(5));
        println!("f32 peak on one core: {gflops:.1} GFLOP/s ({isa})");
        let doc = serde_json::json!({ "peak_gflops": gflops, "isa": isa });
        return write_json(a, &doc);
    }
    let all = workloads::all();
    let chosen: Vec<_> = all
        .iter()
        .filter(|w| a.filter.as_deref().is_none_or(|f| if a.exact { w.name == f } else { w.name.contains(f) }))
        .collect();
    if a.list {
        chosen.iter().for_each(|w| println!("{}", w.name));
        return Ok(());
    }
    if chosen.is_empty() {
        return Err(format!("no workload matches {:?} (psionic bench --list)", a.filter.as_deref().unwrap_or("")));
    }
    if a.threads.contains(&0) {
        return Err("--threads counts must be positive".into());
    }
    let mut results = vec![];
    println!("{:<28} {:>7} {:>14} {:>24}", "workload", "threads", "median", "interquartile range");
    for w in &chosen {
        for &threads in &a.threads {
            let reps = ((w.reps as f64 * a.reps_scale).round() as usize).max(3);
            let (median, q1, q3, peak_bytes) = psionic::with_threads(threads, || {
                let mut f = (w.make)();
                let (m, q1, q3) = psionic::timing::quartiles_us(reps, (reps / 10).max(1), &mut *f);
                // One more run, warm, for its peak over what it started with.
                let before = psionic::memory::memory_stats().active;
                psionic::memory::reset_peak_memory();
                f();
                (m, q1, q3, psionic::memory::memory_stats().peak - before)
            });
            println!("{:<28} {threads:>7} {:>12.1}us {:>11.1} - {:>8.1}us", w.name, median, q1, q3);
            results.push(Measured {
                workload: w.name,
                threads,
                median_us: median,
                q1_us: q1,
                q3_us: q3,
                reps,
                flops: w.flops,
                peak_bytes,
            });
        }
    }
    let doc = serde_json::json!({ "impl": "psionic", "version": env!("CARGO_PKG_VERSION"), "results": results });
    write_json(a, &doc)
}

fn write_json(a: &BenchArgs, doc: &serde_json::Value) -> Result<(), String> {
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
