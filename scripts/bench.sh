#!/usr/bin/env bash
# Runs every benchmark workload in Psionic and in PyTorch (compile workloads also in
# jax.jit), interleaved (one workload in Psionic, then the same in PyTorch, then the
# next), at 1 and 2 threads, in several
# rounds (BENCH_ROUNDS, default 5), and writes the side-by-side table to BENCHMARKS.md
# and bench/results.json: the median of the rounds' medians, the median and range of the
# rounds' ratios (each round's Psionic and PyTorch runs are back to back, so a round's
# ratio sees one state of the machine), and how far the rounds spread, which is the
# noise a rerun should stay within. Each round also measures the
# machine's f32 peak on one core, which matmul rates are set against.
#   scripts/bench.sh [FILTER]      (FILTER, an extended regex, keeps the workloads it matches)
# Needs oracle/.venv (oracle/README.md) for PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PSIONIC_PYTHON:-oracle/.venv/bin/python}
threads=${BENCH_THREADS:-1,2}
cargo build --release -q -p psionic
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rounds=${BENCH_ROUNDS:-5}
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds"
  target/release/psionic bench --peak --json "$out/peak-$r.json"
  i=0
  for w in $(target/release/psionic bench --list | grep -E -- "${1:-.}"); do
    i=$((i + 1))
    target/release/psionic bench --filter "$w" --exact --threads "$threads" --json "$out/psionic-$r-$i.json" | tail -n +2
    $py oracle/bench/torch_bench.py --filter "$w" --exact --threads "$threads" --json "$out/pytorch-$r-$i.json" | tail -n +2
    # Compile workloads also run jitted by jax, one process per thread count.
    if [[ $w == *_compiled ]]; then
      for t in ${threads//,/ }; do
        $py oracle/bench/jax_bench.py --filter "$w" --threads "$t" --json "$out/jax-$r-$i-$t.json"
      done
    fi
  done
done
mkdir -p bench
$py scripts/bench_report.py "$out" bench/results.json BENCHMARKS.md
