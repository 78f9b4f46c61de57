"""Evaluates the MLX conformance cases (mlx_cases.py) on real `mlx.core` (CPU) and writes,
per family, fixtures/conformance/mlx/<family>.safetensors (inputs, constants, outputs)
and <family>.json (the manifest). Deterministic: inputs are seeded numpy draws.

Manifest entry:
  id        "<family>/<upstream test>/<name>"
  source    the upstream file and test function the case is written from
  program   the function (mlx_program.py's encoding) applied to `inputs`
  inputs    [{"t": key}, ...]
  expect    "value" (outputs hold MLX's results, flattened) or "error" (MLX refused)
  outputs   [{"t": key}, ...]; `dtypes` gives each output's MLX dtype
Run with the pinned venv:  oracle/.venv/bin/python oracle/conformance/mlx_harvest.py
"""
import json, os, sys

sys.path.insert(0, os.path.dirname(__file__))
import mlx.core as mx
import numpy as np
import torch
from safetensors.torch import save_file

import mlx_program
from mlx_program import call, E, enc, evaluate, flatten, trace
import mlx_cases

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "conformance", "mlx")
FAMILIES = ["array_core", "ops_numeric", "autograd", "vmap", "custom_vjp", "compile", "export_import",
            "nn_optimizers_quantized", "distributed"]


def stored(a):
    """An mx array or numpy value as a torch tensor for safetensors (bf16 kept as bf16)."""
    if isinstance(a, mx.array):
        if a.dtype == mx.bfloat16:
            return torch.from_numpy(np.array(a.astype(mx.float32))).to(torch.bfloat16), "bfloat16"
        n = np.array(a)
    else:
        n = np.asarray(a)
    name = {np.dtype(np.bool_): "bool"}.get(n.dtype, str(n.dtype))
    # np.array(copy, order C) keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d).
    return torch.from_numpy(np.array(n, copy=True, order="C")), name


def rename_consts(j, key):
    if isinstance(j, list):
        return [rename_consts(x, key) for x in j]
    if isinstance(j, dict):
        if isinstance(j.get("t"), str) and j["t"].startswith("@"):
            return {"t": f"{key}.const.{j['t'][1:]}"}
        return {k: rename_consts(v, key) for k, v in j.items()}
    return j


class Family:
    def __init__(self, name):
        self.name, self.tensors, self.cases = name, {}, []

    def put(self, key, value):
        t, dtype = stored(value)
        self.tensors[key] = t
        return {"t": key}, dtype

    def add(self, source, name, program, inputs):
        test = source.split("::")[-1]
        cid = f"{self.name}/{test}/{name}"
        if any(c["id"] == cid for c in self.cases):
            raise SystemExit(f"duplicate case id {cid}")
        consts, mlx_program.CONSTS[:] = list(mlx_program.CONSTS), []
        program = rename_consts(program, cid)
        arrays = {}
        for k, c in enumerate(consts):
            arrays[f"{cid}.const.{k}"] = mx.array(c, dtype=mx.float64) if c.dtype == np.float64 else mx.array(c)
            self.put(f"{cid}.const.{k}", c)
        ins = []
        for k, v in enumerate(inputs):
            ref, _ = self.put(f"{cid}.in.{k}", v)
            ins.append(ref)
            # float64 inputs stay float64 (mx.array alone would make them float32).
            arrays[ref["t"]] = mx.array(v, dtype=mx.float64) if np.asarray(v).dtype == np.float64 else mx.array(v)
        entry = {"id": cid, "family": self.name, "source": source, "program": program, "inputs": ins}
        f = evaluate(program, {}, arrays)
        try:
            out = f(*[arrays[r["t"]] for r in ins])
            out = flatten(out)
            # One at a time: evaluating two zero-size reductions together hangs MLX 0.32.4.
            for o in out:
                if isinstance(o, mx.array):
                    mx.eval(o)
        except (ValueError, RuntimeError, IndexError) as e:
            entry.update(expect="error", outputs=[], dtypes=[], error=str(e).split("\n")[0][:200])
        else:
            entry["expect"] = "value"
            entry["outputs"], entry["dtypes"] = [], []
            for k, o in enumerate(out):
                if not isinstance(o, mx.array):
                    o = mx.array(o)
                ref, dtype = self.put(f"{cid}.out.{k}", o)
                entry["outputs"].append(ref)
                entry["dtypes"].append(dtype)
        self.cases.append(entry)


def main():
    os.makedirs(OUT, exist_ok=True)
    fams = {f: Family(f) for f in FAMILIES}
    for c in mlx_cases.CASES:
        mlx_program.CONSTS[:] = []
        fams[c["family"]].add(c["source"], c["name"], trace(c["fn"]), c["inputs"])
    # Files MLX writes, loaded back: the bytes are the case's input.
    import tempfile
    for test, name, fmt, arrays in mlx_cases.LOAD_CASES:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, f"f.{fmt}")
            mx_arrays = {k: mx.array(v) for k, v in arrays.items()}
            if fmt == "npy":
                mx.save(path, next(iter(mx_arrays.values())))
            elif fmt == "npz":
                mx.savez(path, **mx_arrays)
            else:
                mx.save_safetensors(path, mx_arrays)
            data = np.frombuffer(open(path, "rb").read(), dtype=np.uint8)
        mlx_program.CONSTS[:] = []
        fams["export_import"].add(mlx_cases.LD + test, name, trace(lambda b, fmt=fmt: call("load", b, fmt)), [data])
    for test, name, opt, kw in mlx_cases.OPTIMIZER_CASES:
        mlx_program.CONSTS[:] = []
        prog = trace(lambda: call("optimizers.apply_gradients", mlx_cases.params0, mlx_cases.grads, opt, **kw))
        fams["nn_optimizers_quantized"].add(mlx_cases.OPT + test, name, prog, [])
    for name, fam in fams.items():
        save_file(fam.tensors, os.path.join(OUT, f"{name}.safetensors"))
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump({"mlx": mx.__version__, "family": name, "cases": fam.cases}, f, allow_nan=False,
                      separators=(",", ":"), sort_keys=True)
        errors = sum(c["expect"] == "error" for c in fam.cases)
        print(f"{name}: {len(fam.cases)} cases ({errors} that MLX refuses)")


if __name__ == "__main__":
    sys.exit(main())
