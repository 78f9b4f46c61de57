//! The `psionic` command line.

use clap::{Parser, Subcommand};
use psionic::prelude::*;
use psionic_conformance::Filter;
use std::time::Instant;

mod bench;
mod checkpoint;
mod demo;

#[derive(Parser)]
#[command(name = "psionic", version, about = "Psionic: Rust-native deep learning")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Trains a character-level GPT on Shakespeare, evaluates it on held-out text, saves
    /// a checkpoint, samples from it and plots the loss curve.
    Demo(demo::DemoArgs),
    /// Times the benchmark workloads (medians over repeated runs) at each thread count.
    Bench(bench::BenchArgs),
    /// Inspects or converts checkpoint files.
    #[command(subcommand)]
    Checkpoint(checkpoint::CheckpointCmd),
    /// Builds, evaluates and prints a few tensors, then times a matmul.
    Tour {
        /// Matrix size for the timed matmul.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// Replays the committed upstream cases (PyTorch OpInfo, MLX test families) and
    /// prints a table per family.
    Conformance {
        /// Only this upstream: pytorch or mlx.
        #[arg(long)]
        upstream: Option<String>,
        /// Only this family (e.g. tensor_core, reductions, autograd, vmap).
        #[arg(long)]
        family: Option<String>,
        /// Only this op (its OpInfo name, e.g. add, nn.functional.gelu) or MLX test (test_sum).
        #[arg(long)]
        op: Option<String>,
        /// Also write the full report (schema in docs/conformance-report.md) here.
        #[arg(long)]
        report: Option<std::path::PathBuf>,
        /// Fixture directory holding pytorch/ and mlx/ (default: the repository's
        /// fixtures/conformance).
        #[arg(long)]
        fixtures: Option<std::path::PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Demo(args) => {
            if let Err(e) = demo::run(&args) {
                eprintln!("psionic demo: {e}");
                std::process::exit(2);
            }
        }
        Cmd::Bench(args) => {
            if let Err(e) = bench::run(&args) {
                eprintln!("psionic bench: {e}");
                std::process::exit(2);
            }
        }
        Cmd::Checkpoint(cmd) => {
            if let Err(e) = checkpoint::run(&cmd) {
                eprintln!("psionic checkpoint: {e}");
                std::process::exit(2);
            }
        }
        Cmd::Tour { size, reps } => tour(size, reps),
        Cmd::Conformance { upstream, family, op, report, fixtures } => {
            if let Err(e) = conformance(upstream, Filter { family, op }, report, fixtures) {
                eprintln!("psionic conformance: {e}");
                std::process::exit(2);
            }
        }
    }
}

fn conformance(
    upstream: Option<String>,
    filter: Filter,
    report: Option<std::path::PathBuf>,
    fixtures: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use psionic_conformance::{fixture, run_mlx, run_pytorch};
    let root = fixtures.unwrap_or_else(|| fixture::pytorch_dir().join(".."));
    let wants = |u: &str| upstream.as_deref().is_none_or(|w| w == u);
    if upstream.as_deref().is_some_and(|u| u != "pytorch" && u != "mlx") {
        return Err(format!("unknown upstream {:?} (pytorch or mlx)", upstream.unwrap()));
    }
    let mut reports = serde_json::Map::new();
    reports.insert("schema".into(), "psionic-conformance/2".into());
    let mut any = false;
    for (name, run) in [("pytorch", run_pytorch as RunFn), ("mlx", run_mlx as RunFn)] {
        if !wants(name) {
            continue;
        }
        let r = run(&root.join(name), &filter)?;
        if r.overall.cases == 0 {
            continue;
        }
        if any {
            println!();
        }
        any = true;
        print!("{}", r.table());
        println!("overall posture: {}", r.posture);
        reports.insert(name.into(), serde_json::to_value(&r).map_err(|e| e.to_string())?);
    }
    if !any {
        return Err("no case matches the filter".into());
    }
    if let Some(path) = report {
        let json = serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

type RunFn = fn(&std::path::Path, &Filter) -> Result<psionic_conformance::report::Report, String>;

fn tour(size: usize, reps: usize) {
    println!("== tensors (eager) ==");
    let x = Tensor::arange(0, 12, 1).reshape(&[3, 4]).to_dtype(DType::F32);
    println!("x = {x}");
    println!("x.t() = {}", x.t());
    println!("x.softmax(-1) = {}", x.softmax(-1));
    println!("x.sum(0) = {}  x.mean() = {}", x.sum(0, false), x.mean_all());
    let h = x.to_dtype(DType::F16).mul(0.5);
    println!("x.half() * 0.5 = {h}");
    println!("einsum('ij,kj->ik') = {}", Tensor::einsum("ij,kj->ik", &[&x, &x]));

    println!("\n== lazy ==");
    let y = lazy(|| {
        let a = Tensor::linspace(-2.0, 2.0, 5, DType::F64);
        a.mul(&a).exp().sum_all()
    });
    println!("sum(exp(linspace^2)) = {y}");

    println!("\n== in-place through a view ==");
    let base = Tensor::zeros(&[2, 3], DType::F32);
    base.narrow(1, 1, 2).add_(7.0);
    println!("base = {base} (version {})", base.version());

    println!("\n== matmul {size}x{size} f32 ==");
    let a = Tensor::linspace(-1.0, 1.0, size * size, DType::F32).reshape(&[size as i64, size as i64]);
    let b = a.t().contiguous();
    let mut times = vec![];
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let c = a.matmul(&b);
        c.eval();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|p, q| p.partial_cmp(q).unwrap());
    let med = times[times.len() / 2];
    let gflops = 2.0 * (size as f64).powi(3) / med / 1e9;
    println!("median {:.2} ms  ->  {:.1} GFLOP/s on {} threads", med * 1e3, gflops, rayon::current_num_threads());
}
