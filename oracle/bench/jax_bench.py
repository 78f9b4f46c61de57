"""The jax.jit twin of `psionic bench`'s compile workloads (those named `*_compiled`):
the same functions, shapes and repetitions as crates/psionic/src/bench/compiled.rs,
jitted by XLA on the CPU (the compile, in the warm-up, is not timed). One thread count
per process, since XLA sizes its thread pool when jax is imported: the process is pinned
to that many cores and XLA's intra-op pool is set to match.

    oracle/.venv/bin/python oracle/bench/jax_bench.py --threads 1 [--filter NAME] [--json FILE]
"""
import argparse
import json
import math
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from bench.timing import timed  # noqa: E402


def workloads(jnp):
    def chain10(a):
        h = (a * 1.5 + 0.25) * a
        h = (jnp.sqrt(jnp.abs(h)) - 1.0) * 0.5
        return -(h + a) + 2.0

    def silu_mul(x, y, z):
        return x * (1.0 / (1.0 + jnp.exp(-x))) * y + z

    def gelu_tanh(a):
        inner = ((a * a * a) * 0.044715 + a) * math.sqrt(2.0 / math.pi)
        return (a * 0.5) * (jnp.tanh(inner) + 1.0)

    def softmax_prims(x):
        e = jnp.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def layer_norm_prims(x, w, b):
        c = x - x.mean(-1, keepdims=True)
        var = (c * c).mean(-1, keepdims=True)
        return c * (1.0 / jnp.sqrt(var + 1e-5)) * w + b

    m = 1 << 22
    return [
        ("chain10_4m_compiled", 30, chain10, [(m,)]),
        ("silu_mul_4m_compiled", 30, silu_mul, [(m,), (m,), (m,)]),
        ("gelu_tanh_prims_4m_compiled", 30, gelu_tanh, [(m,)]),
        ("softmax_prims_4096_compiled", 20, softmax_prims, [(4096, 4096)]),
        ("layer_norm_prims_64x512x768_compiled", 10, layer_norm_prims, [(64, 512, 768), (768,), (768,)]),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--reps-scale", type=float, default=1.0)
    a = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))[: a.threads]
    os.sched_setaffinity(0, cores)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen={'true' if a.threads > 1 else 'false'}"
                               f" intra_op_parallelism_threads={a.threads}").strip()
    import jax
    import jax.numpy as jnp
    import numpy as np

    results = []
    for name, reps, fn, shapes in workloads(jnp):
        if a.filter and a.filter not in name:
            continue
        rng = np.random.default_rng(0)
        xs = [jnp.asarray(rng.standard_normal(s, dtype=np.float32)) for s in shapes]
        f = jax.jit(fn)
        n = max(3, round(reps * a.reps_scale))
        med, q1, q3 = timed(n, max(1, n // 10), lambda: f(*xs).block_until_ready())
        print(f"{name:<28} {a.threads:>7} {med:>12.1f}us {q1:>11.1f} - {q3:>8.1f}us", flush=True)
        results.append({"workload": name, "threads": a.threads, "median_us": med, "q1_us": q1, "q3_us": q3,
                        "reps": n})
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"impl": "jax", "version": jax.__version__,
                                                    "results": results}, indent=1))


if __name__ == "__main__":
    main()
