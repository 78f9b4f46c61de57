"""Joins the per-round, per-workload JSON files of scripts/bench.sh into
bench/results.json and the table in BENCHMARKS.md (machine, versions, the median of the
rounds' medians, the ratio Psionic / PyTorch, and the spread of the rounds as noise).

The ratio is paired: each round times a workload in Psionic and then in PyTorch, back to
back, so the ratio of that round's two medians sees the same state of the machine (its
other tenants, its clock); the table gives the median of those per-round ratios and
their range. A shift of the whole machine between rounds, which moves both sides, then
moves neither the ratio nor its median."""
import json
import pathlib
import platform
import subprocess
import sys


def load(d, impl):
    """Per (workload, threads): the medians of every round, in workload order; the
    version; and each workload's operation count where the side reports one."""
    rows, version, flops = {}, None, {}
    # Files are psionic-<round>-<index>.json, index in workload order (bench --list).
    order = lambda p: (int(p.stem.split("-")[2]), int(p.stem.split("-")[1]))  # noqa: E731
    for f in sorted(pathlib.Path(d).glob(f"{impl}-*.json"), key=order):
        doc = json.loads(f.read_text())
        for r in doc["results"]:
            rows.setdefault((r["workload"], r["threads"]), []).append(r["median_us"])
            flops[r["workload"]] = r.get("flops", 0.0)
        version = doc["version"]
    return rows, version, flops


def peak(d):
    """The median over rounds of the measured one-core f32 peak, and its instruction set."""
    docs = [json.loads(f.read_text()) for f in pathlib.Path(d).glob("peak-*.json")]
    if not docs:
        return None, None
    return median([p["peak_gflops"] for p in docs]), docs[0]["isa"]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def cpu():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


EAGER = ("eager_add_16_x1000", "backward_16")


def peak_rows(rows):
    """The rows whose rate is set against the one-core peak: f32 matmuls on one thread."""
    return [r for r in rows if r["flops"] and r["threads"] == 1 and r["workload"].startswith("matmul_f32")]


def gflops(r, us):
    return r["flops"] / us / 1e3


def targets(rows, peak_gflops):
    """The benchmark's targets checked against this run: every median ratio at most 1.0,
    matmul f32 on one thread at 90% or more of the measured peak, eager overhead ratios at
    most 0.5. Returns the report's lines and the same results for the JSON."""
    at = lambda r: f"{r['workload']} at {r['threads']} thread{'s' if r['threads'] != 1 else ''}"  # noqa: E731
    paired = [r for r in rows if r["ratio"] is not None]
    slower = [r for r in paired if r["ratio"] > 1.0]
    shares = [(gflops(r, r["psionic_us"]) / peak_gflops * 100, r["workload"]) for r in peak_rows(rows)] if peak_gflops else []
    eager = [(r["ratio"], at(r)) for r in paired if r["workload"] in EAGER]
    met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    lines = ["", "## Targets", "",
             f"- Psionic no slower than PyTorch (median ratio at most 1.00) on every row: "
             f"{met(paired and not slower)}, {len(paired) - len(slower)} of {len(paired)} rows."]
    lines += [f"  - {at(r)}: {r['ratio']:.3f} (rounds {min(r['ratio_rounds']):.2f} - "
              f"{max(r['ratio_rounds']):.2f})" for r in slower]
    if shares:
        low = min(shares)
        lines.append(f"- matmul f32 on one thread at 90% of the measured peak or more: {met(low[0] >= 90)}, "
                     f"lowest {low[0]:.0f}% ({low[1]}).")
    if eager:
        high = max(eager)
        lines.append(f"- Eager overhead ratios at most 0.5: {met(high[0] <= 0.5)}, highest {high[0]:.2f} ({high[1]}).")
    results = {"slower_rows": [[r["workload"], r["threads"], r["ratio"]] for r in slower], "rows_compared": len(paired),
               "lowest_matmul_f32_peak_pct": min(shares)[0] if shares else None,
               "highest_eager_ratio": max(eager)[0] if eager else None}
    return lines, results


def peaks(d):
    """Per (workload, threads): the median over rounds of Psionic's peak tensor memory of
    one run beyond what was live before it, in bytes (absent from older results)."""
    got = {}
    for f in pathlib.Path(d).glob("psionic-*.json"):
        for r in json.loads(f.read_text())["results"]:
            if "peak_bytes" in r:
                got.setdefault((r["workload"], r["threads"]), []).append(r["peak_bytes"])
    return {k: median(v) for k, v in got.items()}


# The compile workloads' targets: compiled / eager time at most this (chains of
# elementwise ops one pass over memory; normalisations keep their reductions' passes).
COMPILE_TARGETS = {"chain10_4m": 0.33, "silu_mul_4m": 0.33, "gelu_tanh_prims_4m": 0.33,
                   "softmax_prims_4096": 0.6, "layer_norm_prims_64x512x768": 0.6}


def paired_ratio(a, b):
    """The median of per-round ratios a[i] / b[i] (None unless both have every round)."""
    return median([x / y for x, y in zip(a, b)]) if a and b and len(a) == len(b) else None


def compile_section(ours, jax, peak_bytes):
    """The compile table (per workload and thread count: Psionic eager and compiled, their
    ratio, their peak memory, and compiled Psionic against torch.compile and jax.jit) and
    its targets."""
    rows = []
    for (name, threads), mine in ours.items():
        if not name.endswith("_compiled"):
            continue
        base = name[: -len("_compiled")]
        # A training step's eager row is the main table's (no `_eager` suffix).
        eager_name = base + "_eager" if (base + "_eager", threads) in ours else base
        eager = ours.get((eager_name, threads))
        rows.append({"workload": base, "threads": threads, "eager_us": median(eager) if eager else None,
                     "compiled_us": median(mine), "compiled_over_eager": paired_ratio(mine, eager),
                     "jax_us": median(jax[(name, threads)]) if (name, threads) in jax else None,
                     "over_jax": paired_ratio(mine, jax.get((name, threads))),
                     "eager_peak_bytes": peak_bytes.get((eager_name, threads)),
                     "compiled_peak_bytes": peak_bytes.get((name, threads))})
    return rows


def main(d, json_out, md_out):
    ours, our_version, flops = load(d, "psionic")
    theirs, torch_version, _ = load(d, "pytorch")
    jax_rows, jax_version, _ = load(d, "jax")
    peak_gflops, isa = peak(d)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    rows = []
    for key, mine in ours.items():
        t = theirs.get(key)
        spread = lambda xs: (max(xs) - min(xs)) / median(xs) * 100  # noqa: E731
        o_med, t_med = median(mine), median(t) if t else None
        # Round i of one side pairs with round i of the other (same index, same round).
        paired = [o / p for o, p in zip(mine, t)] if t and len(t) == len(mine) else None
        rows.append({"workload": key[0], "threads": key[1], "rounds": len(mine), "psionic_us": o_med,
                     "flops": flops.get(key[0], 0.0),
                     "pytorch_us": t_med, "ratio": median(paired) if paired else None,
                     "ratio_rounds": paired, "ratio_of_medians": o_med / t_med if t else None,
                     "psionic_spread_pct": spread(mine), "pytorch_spread_pct": spread(t) if t else None,
                     "psionic_rounds_us": mine, "pytorch_rounds_us": t})
    machine = f"{cpu()}, {len(__import__('os').sched_getaffinity(0))} cores available"
    target_lines, target_results = targets(rows, peak_gflops)
    compiled = compile_section(ours, jax_rows, peaks(d))
    over_torch = {(r["workload"], r["threads"]): r["ratio"] for r in rows}
    for c in compiled:
        c["over_torch_compile"] = over_torch.get((c["workload"] + "_compiled", c["threads"]))
    pathlib.Path(json_out).write_text(json.dumps({"machine": machine, "psionic": our_version, "rustc": rustc,
                                                  "torch": torch_version, "jax": jax_version,
                                                  "peak_gflops": peak_gflops,
                                                  "peak_isa": isa, "targets": target_results,
                                                  "rows": rows, "compile": compiled}, indent=1) + "\n")
    fmt = lambda us: f"{us / 1000:.3f} ms" if us >= 1000 else f"{us:.1f} µs"  # noqa: E731
    lines = [
        "# Benchmarks",
        "",
        "Psionic beside PyTorch on the same machine, in one run of `scripts/bench.sh` (each",
        "workload in Psionic, then in PyTorch, then the next). Generated by that script; do not",
        "edit by hand. Each time is the median over rounds of the median of repeated runs after",
        "warm-up. The ratio is Psionic / PyTorch (below 1: Psionic is faster), paired by round:",
        "each round runs a workload in Psionic and then at once in PyTorch, the ratio of those",
        "two medians is that round's, and the table gives the median of the rounds' ratios and",
        "their lowest and highest. Noise is how far each side's round medians spread (max - min,",
        "as a percentage of the median): a rerun should land within it.",
        "",
        f"- Machine: {machine}",
        f"- Psionic {our_version} ({rustc}), PyTorch {torch_version} (run on the CPU)",
        "",
        f"| workload | threads | Psionic | PyTorch | ratio | ratio per round (low - high) | noise over {rows[0]['rounds'] if rows else 0} rounds (ours / theirs) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        theirs_s = fmt(r["pytorch_us"]) if r["pytorch_us"] else "n/a"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "n/a"
        per = f"{min(r['ratio_rounds']):.2f} - {max(r['ratio_rounds']):.2f}" if r["ratio_rounds"] else "n/a"
        noise = f"{r['psionic_spread_pct']:.0f}% / {r['pytorch_spread_pct']:.0f}%" if r["pytorch_spread_pct"] is not None else ""
        lines.append(f"| {r['workload']} | {r['threads']} | {fmt(r['psionic_us'])} | {theirs_s} | {ratio} | {per} | {noise} |")
    rated = peak_rows(rows)
    if peak_gflops and rated:
        lines += ["", "## matmul f32 against the machine's peak", "",
                  f"Peak: {peak_gflops:.1f} GFLOP/s on one core ({isa}), measured by `psionic bench --peak`",
                  "(independent fused multiply-adds in registers, no memory traffic; median over rounds).",
                  "", "| workload | threads | Psionic GFLOP/s | % of peak | PyTorch GFLOP/s | % of peak |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in rated:
            o = gflops(r, r["psionic_us"])
            t = gflops(r, r["pytorch_us"]) if r["pytorch_us"] else None
            theirs_s = f"{t:.1f} | {t / peak_gflops * 100:.0f}%" if t else "n/a | n/a"
            lines.append(f"| {r['workload']} | 1 | {o:.1f} | {o / peak_gflops * 100:.0f}% | {theirs_s} |")
    if compiled:
        r2 = lambda x: f"{x:.2f}" if x is not None else "n/a"  # noqa: E731
        lines += ["", "## Compile", "",
                  "Each compile workload eager and through `compile` (Psionic), `torch.compile` (PyTorch, the",
                  f"default Inductor CPU backend) and `jax.jit` (jax {jax_version or 'n/a'}); compile time, in the",
                  "warm-up, is not timed. Ratios are paired by round, as above; the target for",
                  "compiled / eager is the issue's (0.33 for elementwise chains, 0.6 for normalisations",
                  "written from primitives; at most 1 elsewhere). The training steps compile whole in",
                  "Psionic (`CompiledStep`: forward, backward and the optimizer's update, model and",
                  "optimizer state implicit); PyTorch's twin compiles the loss (forward and backward) and",
                  "`opt.step`. Peak memory is Psionic's tensor memory at the peak of one",
                  "run beyond what was live before it (`psionic::memory`): the output and any",
                  "intermediates alive at once.", "",
                  "| workload | threads | eager | compiled | compiled / eager (target) | / torch.compile | / jax.jit "
                  "| peak MiB, eager → compiled |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        mib = lambda b: f"{b / 2**20:.1f}" if b is not None else "n/a"  # noqa: E731
        for c in compiled:
            eager_s = fmt(c["eager_us"]) if c["eager_us"] else "n/a"
            lines.append(f"| {c['workload']} | {c['threads']} | {eager_s} | {fmt(c['compiled_us'])} | "
                         f"{r2(c['compiled_over_eager'])} ({COMPILE_TARGETS.get(c['workload'], 1.0)}) | "
                         f"{r2(c['over_torch_compile'])} | {r2(c['over_jax'])} | "
                         f"{mib(c['eager_peak_bytes'])} → {mib(c['compiled_peak_bytes'])} |")
        missed = [c for c in compiled if c["compiled_over_eager"] is None
                  or c["compiled_over_eager"] > COMPILE_TARGETS.get(c["workload"], 1.0)]
        # A row without a jax twin (the training steps) is judged against torch.compile.
        behind = [c for c in compiled if c["over_torch_compile"] is None or c["over_torch_compile"] > 1.0
                  or (c["over_jax"] or 0.0) > 1.0]
        no_jax = [c["workload"] for c in compiled if c["over_jax"] is None and c["threads"] == 1]
        met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
        target_lines += [f"- Compiled / eager at or below its target on every compile row: {met(not missed)}, "
                         f"{len(compiled) - len(missed)} of {len(compiled)} rows.",
                         f"- Compiled Psionic at or below torch.compile and jax.jit on every compile row: "
                         f"{met(not behind)}, {len(compiled) - len(behind)} of {len(compiled)} rows"
                         + (f" (no jax.jit twin: {', '.join(no_jax)})." if no_jax else ".")]
    lines += target_lines
    lines += ["", "## Rerun", "", "```sh", "python3 -m venv oracle/.venv && oracle/.venv/bin/pip install -r oracle/requirements.txt   # once",
              "scripts/bench.sh     # all workloads; scripts/bench.sh matmul for a subset", "```", ""]
    pathlib.Path(md_out).write_text("\n".join(lines))
    start = next(i for i, line in enumerate(lines) if line.startswith("| workload"))
    print("\n".join(lines[start:start + 2 + len(rows)]))


if __name__ == "__main__":
    main(*sys.argv[1:4])
