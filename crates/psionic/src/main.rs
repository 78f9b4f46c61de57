//! The `psionic` command line.

use clap::{Parser, Subcommand};
use psionic::prelude::*;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "psionic", version, about = "Psionic: Rust-native deep learning")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Builds, evaluates and prints a few tensors, then times a matmul.
    Demo {
        /// Matrix size for the timed matmul.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// Replays the committed upstream (PyTorch OpInfo) cases and prints a table per family.
    Conformance {
        /// Only this family (e.g. tensor_core, reductions).
        #[arg(long)]
        family: Option<String>,
        /// Only this op (its OpInfo name, e.g. add, nn.functional.gelu).
        #[arg(long)]
        op: Option<String>,
        /// Also write the full report (schema in docs/conformance-report.md) here.
        #[arg(long)]
        report: Option<std::path::PathBuf>,
        /// Fixture directory (default: the repository's fixtures/conformance/pytorch).
        #[arg(long)]
        fixtures: Option<std::path::PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Demo { size, reps } => demo(size, reps),
        Cmd::Conformance { family, op, report, fixtures } => {
            if let Err(e) = conformance(family, op, report, fixtures) {
                eprintln!("psionic conformance: {e}");
                std::process::exit(2);
            }
        }
    }
}

fn conformance(
    family: Option<String>,
    op: Option<String>,
    report: Option<std::path::PathBuf>,
    fixtures: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use psionic_conformance::{fixture, run_pytorch, Filter};
    let dir = fixtures.unwrap_or_else(fixture::pytorch_dir);
    let r = run_pytorch(&dir, &Filter { family, op })?;
    if r.overall.cases == 0 {
        return Err("no case matches the filter".into());
    }
    print!("{}", r.table());
    println!("overall posture: {}", r.posture);
    if let Some(path) = report {
        let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

fn demo(size: usize, reps: usize) {
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
