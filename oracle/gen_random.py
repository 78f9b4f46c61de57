"""Writes the random-number fixtures to ../fixtures/conformance/random.json: PyTorch's CPU generator
streams for fixed seeds (samplers, generator objects, saved and restored states) and
mlx.core.random's key-based samples for fixed keys.

Run with the pinned venv:  oracle/.venv/bin/python oracle/gen_random.py
Deterministic. The PyTorch streams are those of an x86-64 build running its AVX2 kernels
on a CPU that is not Intel's (on Intel CPUs PyTorch draws bernoulli_(p) from MKL instead).
Values are stored exactly: floats as Python floats (every f16/bf16/f32 value is a double),
generator states as hex.
"""
import json, os
import torch
import mlx.core as mx
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "conformance", "random.json")
DT = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
      "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32}


def enc(t):
    if isinstance(t, mx.array):
        t = torch.from_numpy(np.array(t.astype(mx.float32) if t.dtype in (mx.bfloat16,) else t).astype(
            np.float64 if t.dtype not in (mx.uint32, mx.int32, mx.uint8, mx.uint16, mx.bool_) else np.int64))
    return {"shape": list(t.shape), "data": t.flatten().tolist() if t.dtype != torch.bool else [int(v) for v in t.flatten()]}


torch_cases, mlx_cases = [], []


def tcase(name, seed, calls, fn):
    """`calls`: what the Rust side replays, in order, after manual_seed(seed); `fn` runs the
    same calls in PyTorch and returns their outputs."""
    torch.manual_seed(seed)
    outs = fn()
    torch_cases.append({"name": name, "seed": seed, "calls": calls,
                        "outputs": [o if isinstance(o, dict) else enc(o) for o in outs]})


def state_hex():
    return {"state": bytes(torch.get_rng_state().tolist()).hex()}


for dt in ["float32", "float64", "float16", "bfloat16"]:
    for shape in [[5], [3, 7]]:
        tcase(f"rand.{dt}.{shape}", 3, [{"op": "rand", "shape": shape, "dtype": dt}],
              lambda: [torch.rand(shape, dtype=DT[dt]).to(torch.float64)])
    for n in [7, 16, 37, 300]:
        tcase(f"randn.{dt}.{n}", 11, [{"op": "randn", "shape": [n], "dtype": dt}],
              lambda: [torch.randn(n, dtype=DT[dt]).to(torch.float64)])
    tcase(f"normal_.{dt}", 5, [{"op": "normal_", "shape": [40], "dtype": dt, "mean": 2.0, "std": 0.5}],
          lambda: [torch.empty(40, dtype=DT[dt]).normal_(2.0, 0.5).to(torch.float64)])
    tcase(f"uniform_.{dt}", 5, [{"op": "uniform_", "shape": [4, 6], "dtype": dt, "from": -2.0, "to": 3.0}],
          lambda: [torch.empty(4, 6, dtype=DT[dt]).uniform_(-2.0, 3.0).to(torch.float64)])
    tcase(f"exponential_.{dt}", 8, [{"op": "exponential_", "shape": [30], "dtype": dt, "lambd": 1.5}],
          lambda: [torch.empty(30, dtype=DT[dt]).exponential_(1.5).to(torch.float64)])

# In-place fills of a transposed view walk memory order, not index order.
tcase("normal_.transposed", 9, [{"op": "normal_t", "shape": [5, 4], "mean": 0.0, "std": 1.0}],
      lambda: [torch.empty(5, 4).t().normal_().contiguous()])
tcase("uniform_.transposed", 9, [{"op": "uniform_t", "shape": [5, 4], "from": 0.0, "to": 1.0}],
      lambda: [torch.empty(5, 4).t().uniform_().contiguous()])
tcase("randn.large.float32", 21, [{"op": "randn", "shape": [64, 33], "dtype": "float32"}],
      lambda: [torch.randn(64, 33)])
tcase("normal.tensors", 4, [{"op": "normal_tensors", "mean": [0.0, 1.0, 2.0, 3.0, 4.0], "std": [1.0, 0.5, 0.25, 2.0, 1.0]}],
      lambda: [torch.normal(torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 0.5, 0.25, 2.0, 1.0]))])

for (lo, hi, shape, dt) in [(-5, 10, [20], "int64"), (0, 2 ** 40, [6], "int64"), (3, 7, [4, 3], "int32"),
                            (0, 100, [10], "float32"), (-(2 ** 34), 2 ** 34, [5], "float64")]:
    tcase(f"randint.{lo}.{hi}.{dt}", 13, [{"op": "randint", "low": lo, "high": hi, "shape": shape, "dtype": dt}],
          lambda: [torch.randint(lo, hi, shape, dtype=DT[dt]).to(torch.float64)])

for n in [1, 2, 10, 100]:
    tcase(f"randperm.{n}", 17, [{"op": "randperm", "n": n}], lambda: [torch.randperm(n)])

for dt in ["float32", "float64"]:
    tcase(f"bernoulli_.{dt}", 19, [{"op": "bernoulli_", "shape": [50], "dtype": dt, "p": 0.3}],
          lambda: [torch.empty(50, dtype=DT[dt]).bernoulli_(0.3).to(torch.float64)])
    p = [0.0, 0.1, 0.5, 0.9, 1.0, 0.25, 0.75, 0.3]
    tcase(f"bernoulli.tensor.{dt}", 19, [{"op": "bernoulli", "p": p, "dtype": dt}],
          lambda: [torch.bernoulli(torch.tensor(p, dtype=DT[dt])).to(torch.float64)])
    probs = [[0.1, 0.2, 0.3, 0.4, 0.0], [1.0, 2.0, 0.5, 0.5, 3.0]]
    for n, repl in [(1, False), (3, False), (1, True), (12, True)]:
        tcase(f"multinomial.{dt}.{n}.{repl}", 23, [{"op": "multinomial", "probs": probs, "dtype": dt, "n": n, "replacement": repl}],
              lambda: [torch.multinomial(torch.tensor(probs, dtype=DT[dt]), n, repl)])
    tcase(f"multinomial.1d.{dt}", 23, [{"op": "multinomial", "probs": [[0.2, 0.3, 0.5]], "dtype": dt, "n": 8, "replacement": True, "flat": True}],
          lambda: [torch.multinomial(torch.tensor([0.2, 0.3, 0.5], dtype=DT[dt]), 8, True)])
    tcase(f"dropout.{dt}", 29, [{"op": "dropout", "shape": [6, 7], "dtype": dt, "p": 0.4}],
          lambda: [torch.nn.functional.dropout(torch.arange(42, dtype=DT[dt]).reshape(6, 7) / 7 - 2, 0.4, True).to(torch.float64)])

# The stream runs on across samplers, and the double-precision normal cache carries over.
tcase("sequence", 31, [{"op": "rand", "shape": [3], "dtype": "float32"},
                       {"op": "randn", "shape": [3], "dtype": "float64"},
                       {"op": "randn", "shape": [1], "dtype": "float32"},
                       {"op": "randint", "low": 0, "high": 9, "shape": [4], "dtype": "int64"},
                       {"op": "randperm", "n": 6},
                       {"op": "state"}],
      lambda: [torch.rand(3).double(), torch.randn(3, dtype=torch.float64), torch.randn(1).double(),
               torch.randint(0, 9, (4,)), torch.randperm(6), state_hex()])
tcase("state.after_seed", 2 ** 40 + 5, [{"op": "state"}], lambda: [state_hex()])
tcase("state.negative_seed", -3, [{"op": "randn", "shape": [5], "dtype": "float64"}, {"op": "state"}],
      lambda: [torch.randn(5, dtype=torch.float64), state_hex()])


def generator_case():
    g = torch.Generator().manual_seed(7)
    a = torch.rand(4, generator=g)
    s = g.get_state()
    b = torch.randn(3, dtype=torch.float64, generator=g)
    g.set_state(s)
    c = torch.randn(3, dtype=torch.float64, generator=g)
    d = torch.rand(3, generator=torch.Generator())
    return [a.double(), b, c, d.double(), {"state": bytes(s.tolist()).hex()}]


torch_cases.append({"name": "generator.objects", "seed": 0, "calls": [{"op": "generator_objects"}],
                    "outputs": [o if isinstance(o, dict) else enc(o) for o in generator_case()]})

# ---------------------------------------------------------------- MLX keys


def mcase(name, call, out):
    mlx_cases.append({"name": name, "call": call, "outputs": [enc(o) for o in (out if isinstance(out, list) else [out])]})


for seed in [0, 7, 2 ** 40 + 3]:
    mcase(f"key.{seed}", {"op": "key", "seed": seed}, mx.random.key(seed))
K = mx.random.key(42)
mcase("split.2", {"op": "split", "seed": 42, "num": 2}, mx.random.split(K, 2))
mcase("split.5", {"op": "split", "seed": 42, "num": 5}, mx.random.split(K, 5))
mcase("split.pair", {"op": "split_pair", "seed": 42}, list(mx.random.split(K)))
for dt, mdt in [("float32", mx.float32), ("float16", mx.float16), ("bfloat16", mx.bfloat16)]:
    mcase(f"uniform.{dt}", {"op": "uniform", "seed": 1, "shape": [5, 7], "dtype": dt, "low": 0.0, "high": 1.0},
          mx.random.uniform(shape=[5, 7], dtype=mdt, key=mx.random.key(1)))
    mcase(f"uniform.range.{dt}", {"op": "uniform", "seed": 2, "shape": [9], "dtype": dt, "low": -3.0, "high": 2.5},
          mx.random.uniform(-3.0, 2.5, [9], dtype=mdt, key=mx.random.key(2)))
    mcase(f"normal.{dt}", {"op": "normal", "seed": 3, "shape": [40], "dtype": dt},
          mx.random.normal([40], dtype=mdt, key=mx.random.key(3)))
    mcase(f"normal.loc_scale.{dt}", {"op": "normal", "seed": 3, "shape": [12], "dtype": dt, "loc": 1.5, "scale": 0.25},
          mx.random.normal([12], dtype=mdt, loc=1.5, scale=0.25, key=mx.random.key(3)))
    mcase(f"truncated_normal.{dt}", {"op": "truncated_normal", "seed": 4, "shape": [30], "dtype": dt, "lower": -1.0, "upper": 2.0},
          mx.random.truncated_normal(-1.0, 2.0, [30], dtype=mdt, key=mx.random.key(4)))
    mcase(f"gumbel.{dt}", {"op": "gumbel", "seed": 5, "shape": [20], "dtype": dt},
          mx.random.gumbel([20], dtype=mdt, key=mx.random.key(5)))
for lo, hi in [(-10, 10), (0, 3), (-1000, 100000)]:
    mcase(f"randint.{lo}.{hi}", {"op": "randint", "seed": 6, "shape": [25], "low": lo, "high": hi},
          mx.random.randint(lo, hi, [25], key=mx.random.key(6)))
mcase("bernoulli.scalar", {"op": "bernoulli", "seed": 8, "shape": [30], "p": [0.3]},
      mx.random.bernoulli(0.3, [30], key=mx.random.key(8)))
P = [0.0, 0.1, 0.5, 0.9, 1.0, 0.3]
mcase("bernoulli.array", {"op": "bernoulli", "seed": 8, "shape": [6], "p": P},
      mx.random.bernoulli(mx.array(P), key=mx.random.key(8)))
L = [[0.1, -1.0, 2.0, 0.5, 0.0, -0.3], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [3.0, -2.0, 0.0, 0.7, 0.2, 5.0], [0.0, 0.0, 9.0, 0.0, 0.0, 0.0]]
mcase("categorical.rows", {"op": "categorical", "seed": 9, "logits": L},
      mx.random.categorical(mx.array(L), key=mx.random.key(9)))
mcase("categorical.num_samples", {"op": "categorical", "seed": 9, "logits": L, "num_samples": 5},
      mx.random.categorical(mx.array(L), num_samples=5, key=mx.random.key(9)))
mcase("categorical.axis0", {"op": "categorical", "seed": 9, "logits": L, "axis": 0},
      mx.random.categorical(mx.array(L), axis=0, key=mx.random.key(9)))
mcase("categorical.1d.shape", {"op": "categorical", "seed": 10, "logits": [L[2]], "flat": True, "shape": [4, 5]},
      mx.random.categorical(mx.array(L[2]), shape=[4, 5], key=mx.random.key(10)))
for n in [1, 10, 50]:
    mcase(f"permutation.{n}", {"op": "permutation", "seed": 11, "n": n}, mx.random.permutation(n, key=mx.random.key(11)))
A = mx.arange(12).reshape(3, 4)
mcase("permutation.axis1", {"op": "permutation_array", "seed": 12, "axis": 1},
      mx.random.permutation(A, axis=1, key=mx.random.key(12)))

with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "mlx": mx.__version__, "torch_cases": torch_cases, "mlx_cases": mlx_cases},
              f, separators=(",", ":"))
print(f"random: {len(torch_cases)} torch cases, {len(mlx_cases)} mlx cases")
