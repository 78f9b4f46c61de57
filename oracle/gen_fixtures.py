"""Writes PyTorch oracle fixtures for the core-engine ops to ../fixtures/core_ops.json.

Run with the pinned venv:  oracle/.venv/bin/python oracle/gen_fixtures.py
Deterministic: same torch version and seed give the same bytes.
Each case stores base inputs plus a view spec ("contig", "t", "step", "bcast"), so the Rust
replayer feeds Psionic the same strided or broadcast (stride 0) views torch saw.
"""
import json, math, os
import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "core_ops.json")

def view(t, spec):
    if spec == "contig":
        return t
    if spec == "t":
        return t.t()
    if spec == "step":
        return t[:, ::2]
    if spec == "bcast":
        return t.expand(3, *t.shape[1:])
    raise ValueError(spec)

def base_shape(spec):
    return {"contig": (3, 4), "t": (4, 3), "step": (3, 8), "bcast": (1, 4)}[spec]

def enc(t):
    t = t.detach()
    vals = t.to(torch.float64).flatten().tolist() if t.dtype != torch.bool else [float(v) for v in t.flatten().tolist()]
    vals = [v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")) for v in vals]
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "data": vals}

def make(dtype, shape, kind):
    if dtype.is_floating_point:
        if kind == "pos":
            return (torch.rand(shape, dtype=torch.float64) * 2 + 0.1).to(dtype)
        if kind == "unit":
            return (torch.rand(shape, dtype=torch.float64) * 1.8 - 0.9).to(dtype)
        return (torch.randn(shape, dtype=torch.float64) * 2).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    lo = 1 if kind == "pos" else -5
    return torch.randint(lo, 6, shape, dtype=dtype)

cases = []
def add_case(op, fn, dtypes, n_in=1, kind="any", specs=("contig", "t", "step", "bcast"), args=None):
    for dt in dtypes:
        for spec in specs:
            bases = [make(dt, base_shape(spec), kind) for _ in range(n_in)]
            ins = [view(b, spec) for b in bases]
            try:
                out = fn(*ins)
            except Exception as e:  # torch refuses: not a fixture
                continue
            outs = out if isinstance(out, tuple) else (out,)
            cases.append({"op": op, "args": args or {}, "view": spec,
                          "inputs": [enc(b) for b in bases], "outputs": [enc(o) for o in outs]})

F = [torch.float32, torch.float64]
FH = F + [torch.float16, torch.bfloat16]
I = [torch.int32, torch.int64]
unary = {
    "neg": (torch.neg, FH + I, "any"), "abs": (torch.abs, FH + I, "any"), "sign": (torch.sign, F + I, "any"),
    "sqrt": (torch.sqrt, FH, "pos"), "rsqrt": (torch.rsqrt, F, "pos"), "square": (torch.square, F + I, "any"),
    "reciprocal": (torch.reciprocal, F, "pos"), "exp": (torch.exp, FH, "any"), "exp2": (torch.exp2, F, "any"),
    "expm1": (torch.expm1, F, "any"), "log": (torch.log, FH, "pos"), "log2": (torch.log2, F, "pos"),
    "log10": (torch.log10, F, "pos"), "log1p": (torch.log1p, F, "pos"), "sin": (torch.sin, FH, "any"),
    "cos": (torch.cos, F, "any"), "tan": (torch.tan, F, "unit"), "asin": (torch.asin, F, "unit"),
    "acos": (torch.acos, F, "unit"), "atan": (torch.atan, F, "any"), "sinh": (torch.sinh, F, "any"),
    "cosh": (torch.cosh, F, "any"), "tanh": (torch.tanh, FH, "any"), "asinh": (torch.asinh, F, "any"),
    "acosh": (lambda x: torch.acosh(x + 1), F, "pos"), "atanh": (torch.atanh, F, "unit"), "erf": (torch.erf, F, "any"),
    "erfc": (torch.erfc, F, "any"), "erfinv": (torch.erfinv, F, "unit"), "sigmoid": (torch.sigmoid, FH, "any"),
    "logit": (torch.logit, F, "unit_pos"), "relu": (torch.relu, FH + I, "any"),
    "relu6": (torch.nn.functional.relu6, F, "any"), "gelu": (torch.nn.functional.gelu, FH, "any"),
    "gelu_tanh": (lambda x: torch.nn.functional.gelu(x, approximate="tanh"), F, "any"),
    "silu": (torch.nn.functional.silu, F, "any"), "mish": (torch.nn.functional.mish, F, "any"),
    "softplus": (torch.nn.functional.softplus, F, "any"), "elu": (torch.nn.functional.elu, F, "any"),
    "selu": (torch.nn.functional.selu, F, "any"), "celu": (lambda x: torch.nn.functional.celu(x, 0.5), F, "any"),
    "leaky_relu": (lambda x: torch.nn.functional.leaky_relu(x, 0.1), F, "any"),
    "hardtanh": (torch.nn.functional.hardtanh, F, "any"), "hardsigmoid": (torch.nn.functional.hardsigmoid, F, "any"),
    "hardswish": (torch.nn.functional.hardswish, F, "any"), "floor": (torch.floor, F + I, "any"),
    "ceil": (torch.ceil, F, "any"), "round": (torch.round, F, "any"),
    "round_decimals": (lambda x: torch.round(x, decimals=2), F, "any"), "trunc": (torch.trunc, F, "any"),
    "frac": (torch.frac, F, "any"), "isnan": (lambda x: torch.isnan(torch.log(x)), F, "any"),
    "isfinite": (lambda x: torch.isfinite(torch.log(x)), F, "any"), "logical_not": (torch.logical_not, F + I, "any"),
    "bitwise_not": (torch.bitwise_not, I, "any"), "nan_to_num": (lambda x: torch.nan_to_num(torch.log(x)), F, "any"),
    "clamp": (lambda x: torch.clamp(x, -0.5, 0.7), F + I, "any"),
}
# Every op runs in every dtype torch accepts (refusals are skipped), not only the ones
# listed: integer inputs to float ops exercise promotion to the default float.
ALL = FH + I
for name, (fn, dts, kind) in unary.items():
    dts = ALL
    if kind == "unit_pos":
        add_case(name, lambda x, fn=fn: fn(x * 0.45 + 0.5), dts, kind="unit")
    else:
        add_case(name, fn, dts, kind=kind)

binary = {
    "add": (torch.add, FH + I, "any"), "sub": (torch.sub, FH + I, "any"), "mul": (torch.mul, FH + I, "any"),
    "div": (torch.div, F + I, "pos"), "div_trunc": (lambda a, b: torch.div(a, b, rounding_mode="trunc"), F + I, "pos"),
    "div_floor": (lambda a, b: torch.div(a - 3, b, rounding_mode="floor"), F + I, "pos"),
    "remainder": (lambda a, b: torch.remainder(a - 3, b), F + I, "pos"), "fmod": (lambda a, b: torch.fmod(a - 3, b), F + I, "pos"),
    "pow": (torch.pow, F, "pos"), "atan2": (torch.atan2, F, "any"), "maximum": (torch.maximum, F + I, "any"),
    "minimum": (torch.minimum, F + I, "any"), "fmax": (torch.fmax, F, "any"), "fmin": (torch.fmin, F, "any"),
    "hypot": (torch.hypot, F, "any"), "copysign": (torch.copysign, F, "any"), "logaddexp": (torch.logaddexp, F, "any"),
    "xlogy": (torch.xlogy, F, "pos"), "logical_and": (torch.logical_and, F + I, "any"), "logical_or": (torch.logical_or, I, "any"),
    "logical_xor": (torch.logical_xor, I, "any"), "bitwise_and": (torch.bitwise_and, I, "any"),
    "bitwise_or": (torch.bitwise_or, I, "any"), "bitwise_xor": (torch.bitwise_xor, I, "any"),
    "eq": (torch.eq, F + I, "any"), "ne": (torch.ne, F + I, "any"), "lt": (torch.lt, F + I, "any"),
    "le": (torch.le, F + I, "any"), "gt": (torch.gt, F + I, "any"), "ge": (torch.ge, F + I, "any"),
    "add_alpha": (lambda a, b: torch.add(a, b, alpha=2), F + I, "any"), "lerp": (lambda a, b: torch.lerp(a, b, 0.3), F, "any"),
    "where": (lambda a, b: torch.where(a > 0, a, b), F + I, "any"),
}
for name, (fn, dts, kind) in binary.items():
    add_case(name, fn, ALL, n_in=2, kind=kind)
    # torch's scalar (non-vectorised) loop, which broadcast inputs take, rounds a half
    # quotient to half before truncating or flooring, unlike its vector loop; Psionic
    # rounds once, as the vector loop does, so those half cases are not oracles.
    if name in ("div_trunc", "div_floor"):
        cases[:] = [c for c in cases if not (c["op"] == name and c["view"] == "bcast"
                                             and c["inputs"][0]["dtype"] in ("float16", "bfloat16"))]
add_case("addcmul", lambda a, b, c: torch.addcmul(a, b, c, value=0.5), FH, n_in=3)
add_case("addcdiv", lambda a, b, c: torch.addcdiv(a, b, c + 3, value=0.5), FH, n_in=3, kind="pos")

red = {
    "sum": (lambda x: x.sum(), FH + I), "sum_dim0": (lambda x: x.sum(0), F + I), "sum_dim1_keep": (lambda x: x.sum(1, keepdim=True), F + I),
    "mean": (lambda x: x.mean(), FH), "mean_dim1": (lambda x: x.mean(1), F), "prod_dim1": (lambda x: x.prod(1), F + I),
    "var_dim1": (lambda x: x.var(1), F), "var_all_c0": (lambda x: x.var(correction=0), F), "std_dim0": (lambda x: x.std(0), F),
    "max_all": (lambda x: x.max(), F + I), "max_dim1": (lambda x: x.max(1), F + I), "min_dim0": (lambda x: x.min(0), F + I),
    "amax_dim0": (lambda x: x.amax(0), F), "amin_dim1": (lambda x: x.amin(1), F), "argmax": (lambda x: x.argmax(), F + I),
    "argmin_dim1": (lambda x: x.argmin(1), F + I), "logsumexp_dim1": (lambda x: x.logsumexp(1), F),
    "all": (lambda x: (x > 0).all(), F), "any_dim1": (lambda x: (x > 1).any(1), F), "count_nonzero": (lambda x: torch.count_nonzero(x), I),
    "norm2": (lambda x: x.norm(), F), "norm1_dim1": (lambda x: x.norm(p=1, dim=1), F), "norm_inf": (lambda x: x.norm(p=float("inf")), F),
    "norm3": (lambda x: x.norm(p=3), F), "cumsum_dim1": (lambda x: x.cumsum(1), F + I), "cumprod_dim0": (lambda x: x.cumprod(0), F),
    "cummax_dim1": (lambda x: torch.cummax(x, 1), F + I), "cummin_dim0": (lambda x: torch.cummin(x, 0), F),
    "logcumsumexp_dim1": (lambda x: torch.logcumsumexp(x, 1), F), "softmax_dim1": (lambda x: x.softmax(1), F),
    "log_softmax_dim0": (lambda x: x.log_softmax(0), F),
}
for name, (fn, dts) in red.items():
    add_case(name, fn, ALL)

shape_ops = {
    "flip": lambda x: x.flip(0, 1), "roll": lambda x: x.roll(1, 1), "roll_flat": lambda x: x.roll(5),
    "repeat": lambda x: x.repeat(2, 1, 2), "tile": lambda x: x.tile((2,)), "repeat_interleave": lambda x: x.repeat_interleave(2, dim=1),
    "diagonal": lambda x: x.diagonal(1), "tril": lambda x: x.tril(), "triu": lambda x: x.triu(1),
    "cat": lambda x: torch.cat([x, x * 2], 1), "stack": lambda x: torch.stack([x, x + 1], 1),
    "flatten": lambda x: x.flatten(), "unfold": lambda x: x.unfold(1, 2, 1), "movedim": lambda x: x.unsqueeze(0).movedim(0, 2),
    "permute": lambda x: x.unsqueeze(2).permute(2, 1, 0), "trace": lambda x: x.trace(), "diag": lambda x: x.diag(),
    "kron": lambda x: torch.kron(x, x[:2, :2]),
}
for name, fn in shape_ops.items():
    add_case(name, fn, [torch.float32, torch.bfloat16, torch.int64])

# Views and splits: multi-output ops return tuples, compared output by output.
view_ops = {
    "narrow": lambda x: x.narrow(1, 1, 2), "narrow_neg": lambda x: x.narrow(-2, -2, 2), "select": lambda x: x.select(1, -1),
    "slice_step": lambda x: x[1:, ::3], "split": lambda x: x.split(2, 1), "split_sizes": lambda x: x.split([1, 2], 0),
    "chunk": lambda x: x.chunk(3, 1), "tensor_split": lambda x: x.tensor_split(3, 1),
    "tensor_split_idx": lambda x: x.tensor_split([1, 3], 1), "unbind": lambda x: x.unbind(0),
    "expand": lambda x: x.unsqueeze(0).expand(2, -1, -1), "squeeze": lambda x: x[:1].unsqueeze(2).squeeze(),
    "squeeze_dim": lambda x: x[:1].squeeze(0), "unflatten": lambda x: x.flatten().unflatten(0, (2, -1)),
    "as_strided": lambda x: x.contiguous().as_strided((2, 2), (1, 2), 1), "mT": lambda x: x.unsqueeze(0).mT,
    "reshape": lambda x: x.reshape(2, -1), "hstack": lambda x: torch.hstack([x, x]), "vstack": lambda x: torch.vstack([x, x[0]]),
    "diag_embed": lambda x: torch.diag_embed(x, 1), "broadcast_tensors": lambda x: torch.broadcast_tensors(x, x[:1, :1]),
}
for name, fn in view_ops.items():
    add_case(name, fn, [torch.float32, torch.int64])

# Creation: no inputs; the replayer builds the same tensor from the op name.
creation = {
    "arange_f": lambda _: torch.arange(0, 5, 0.5), "arange_i": lambda _: torch.arange(-3, 10, 2),
    "arange_neg": lambda _: torch.arange(5.0, -1.0, -1.5), "linspace": lambda _: torch.linspace(-1, 2, 7),
    "linspace_f64": lambda _: torch.linspace(0, 1, 11, dtype=torch.float64), "logspace": lambda _: torch.logspace(-2, 2, 5),
    "logspace_b2": lambda _: torch.logspace(0, 4, 5, base=2), "eye": lambda _: torch.eye(3), "eye_rect": lambda _: torch.eye(2, 4),
    "full_i": lambda _: torch.full((2, 3), 7), "zeros_like_i": lambda _: torch.zeros_like(torch.ones(2, dtype=torch.int32)),
}
for name, fn in creation.items():
    add_case(name, fn, [torch.float32], specs=("contig",))

mm = {
    "matmul_t": (lambda a, b: a @ b.t()), "matmul_vec": (lambda a, b: a @ b[0]), "vec_matmul": (lambda a, b: a[0] @ b.t()),
    "outer": (lambda a, b: torch.outer(a[0], b[1])), "dot": (lambda a, b: torch.dot(a[0], b[0])),
    "addmm": (lambda a, b: torch.addmm(a[:, :3], a, b.t()[:, :3], beta=0.5, alpha=2.0)),
    "einsum_ij_kj": (lambda a, b: torch.einsum("ij,kj->ik", a, b)), "einsum_ii": (lambda a, b: torch.einsum("ij,ij->", a, b)),
    "einsum_bcast": (lambda a, b: torch.einsum("...j,kj->...k", a, b)), "einsum_implicit": (lambda a, b: torch.einsum("ij,jk", a, b.t())),
    "tensordot": (lambda a, b: torch.tensordot(a, b, dims=([1], [1]))), "bmm": (lambda a, b: torch.bmm(a.unsqueeze(0), b.t().unsqueeze(0))),
}
for name, fn in mm.items():
    add_case(name, fn, FH + I, n_in=2)

# Printing (repr) of representative tensors: compared as strings.
reprs = []
def add_repr(name, t):
    reprs.append({"name": name, "input": enc(t), "repr": repr(t)})
add_repr("ints_f32", torch.arange(12, dtype=torch.float32).reshape(3, 4))
add_repr("frac_f32", torch.tensor([[0.5, -1.25], [3.14159, 100.0]]))
add_repr("sci_f32", torch.tensor([1e-5, 1.0, 12345.0]))
add_repr("f64", torch.tensor([1.5, -2.0], dtype=torch.float64))
add_repr("f16", torch.tensor([0.1, 2.0], dtype=torch.float16))
add_repr("int64", torch.tensor([[1, -20], [300, 4]]))
add_repr("int32", torch.tensor([1, 2], dtype=torch.int32))
add_repr("bool", torch.tensor([True, False]))
add_repr("scalar", torch.tensor(2.5))
add_repr("nan_inf", torch.tensor([float("nan"), float("inf"), -1.0, 0.5]))
add_repr("big", torch.arange(2000, dtype=torch.float32).reshape(40, 50) / 7)
add_repr("wide", torch.arange(30, dtype=torch.float32) * 1.5)
add_repr("3d", torch.arange(24).reshape(2, 3, 4))
add_repr("empty", torch.zeros(0, 3))

with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases, "reprs": reprs}, f, separators=(",", ":"))
print(f"{len(cases)} cases, {len(reprs)} reprs -> {OUT}")
