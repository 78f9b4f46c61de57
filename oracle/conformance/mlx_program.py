"""The small program language MLX conformance cases are written in, and its evaluator
on real `mlx.core`.

A case is a function of its input arrays, written with the builder below so that it reads
like the upstream test it comes from (`mx.grad(lambda x: mx.sum(mx.exp(x)))(x)`). The
builder records it as JSON; `evaluate` runs that JSON on MLX to produce the expected
outputs, and the Rust runner interprets the same JSON on Psionic. Nothing is evaluated
from the builder itself, so what the fixture says is exactly what MLX computed.

Expression encoding:
  {"var": name}                         a parameter of an enclosing function
  {"call": name, "args": [..], "kw": {..}}  `mx.<name>(...)`; dotted names reach submodules
                                        (`nn.losses.mse_loss`); `getitem` is `a[idx]`,
                                        `astype` is `a.astype(dtype)`
  {"apply": f, "args": [..]}            calling a function value (what `mx.grad(f)` returns)
  {"fn": {"params": [..], "body": e}}   a function value
  {"custom": {"fn": f, "vjp": f, "jvp": f, "vmap": f}}  `mx.custom_function` with its rules
  {"list": [..]}                        a list/tuple of expressions
  {"dict": {k: ..}}                     a dict of expressions (a parameter tree)
  {"t": key}                            an array stored in the family's safetensors file
  {"dtype": "float32"}                  an mx dtype
  {"slice": [start, stop, step]}        a slice in an index; {"ellipsis": true} is `...`
  {"float": "inf"}                      a non-finite Python float ("inf", "-inf", "nan")
  numbers, bools, strings, null         themselves (`null` is also `None`/`np.newaxis`)
"""
import itertools

import mlx.core as mx
import mlx.nn as nn
import numpy as np

_names = itertools.count()
# numpy arrays met while tracing a case, stored with its inputs ({"t": "@k"} until then).
CONSTS = []


def enc(v):
    """JSON for a Python value used inside a program."""
    if isinstance(v, E):
        return v.j
    if isinstance(v, _Fn):
        p = f"p{next(_names)}"
        return {"fn": {"params": [p], "body": call(v.name, E({"var": p})).j}}
    if isinstance(v, np.ndarray):
        CONSTS.append(v)
        return {"t": f"@{len(CONSTS) - 1}"}
    if isinstance(v, dict):
        return {"dict": {k: enc(x) for k, x in v.items()}}
    if isinstance(v, float) and not np.isfinite(v):
        return {"float": str(v)}
    if isinstance(v, (list, tuple)):
        return {"list": [enc(x) for x in v]}
    if isinstance(v, slice):
        return {"slice": [v.start, v.stop, v.step]}
    if v is Ellipsis:
        return {"ellipsis": True}
    if isinstance(v, mx.Dtype):
        return {"dtype": str(v).replace("mlx.core.", "")}
    if callable(v):
        return trace(v)
    return v


def trace(f):
    """A Python function of expressions as a function value."""
    n = f.__code__.co_argcount - len(f.__defaults__ or ())  # defaults bind loop values
    params = [f"p{next(_names)}" for _ in range(n)]
    body = f(*[E({"var": p}) for p in params])
    return {"fn": {"params": params, "body": enc(body)}}


class E:
    """An expression; operators and `mx`-like calls build bigger ones."""

    def __init__(self, j):
        self.j = j

    def __call__(self, *args):
        return E({"apply": self.j, "args": [enc(a) for a in args]})

    def __getitem__(self, idx):
        return call("getitem", self, idx)

    def __iter__(self):
        raise TypeError("an expression's length is unknown: index it explicitly")

    def astype(self, dtype):
        return call("astype", self, dtype)

    @property
    def T(self):
        return call("transpose", self)

    def __add__(self, o): return call("add", self, o)
    def __radd__(self, o): return call("add", o, self)
    def __sub__(self, o): return call("subtract", self, o)
    def __rsub__(self, o): return call("subtract", o, self)
    def __mul__(self, o): return call("multiply", self, o)
    def __rmul__(self, o): return call("multiply", o, self)
    def __truediv__(self, o): return call("divide", self, o)
    def __rtruediv__(self, o): return call("divide", o, self)
    def __floordiv__(self, o): return call("floor_divide", self, o)
    def __mod__(self, o): return call("remainder", self, o)
    def __pow__(self, o): return call("power", self, o)
    def __rpow__(self, o): return call("power", o, self)
    def __matmul__(self, o): return call("matmul", self, o)
    def __neg__(self): return call("negative", self)
    def __eq__(self, o): return call("equal", self, o)
    def __ne__(self, o): return call("not_equal", self, o)
    __hash__ = None
    def __gt__(self, o): return call("greater", self, o)
    def __ge__(self, o): return call("greater_equal", self, o)
    def __lt__(self, o): return call("less", self, o)
    def __le__(self, o): return call("less_equal", self, o)
    def __and__(self, o): return call("logical_and", self, o)
    def __or__(self, o): return call("logical_or", self, o)
    def __invert__(self): return call("logical_not", self)


def call(name, *args, **kw):
    return E({"call": name, "args": [enc(a) for a in args], "kw": {k: enc(v) for k, v in kw.items()}})


def custom(fn, vjp=None, jvp=None, vmap=None):
    j = {"fn": trace(fn)}
    for k, f in (("vjp", vjp), ("jvp", jvp), ("vmap", vmap)):
        if f is not None:
            j[k] = trace(f)
    return E({"custom": j})


class _Fn:
    """`mx.<name>` as a value: called, it builds the call; passed to a transform
    (`mx.vmap(mx.exp)`), it is the one-argument function."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *a, **k):
        return call(self.name, *a, **k)


class _Mx:
    """`mx` for case bodies: `mx.sum(x, axis=0)` builds `{"call": "sum", ...}`."""

    def __getattr__(self, name):
        return _Fn(name)


class _Dotted:
    def __init__(self, prefix):
        self.prefix = prefix

    def __getattr__(self, name):
        return _Dotted(f"{self.prefix}.{name}")

    def __call__(self, *a, **k):
        return call(self.prefix, *a, **k)


MX = _Mx()
NN = _Dotted("nn")
float32, float64, float16, bfloat16 = mx.float32, mx.float64, mx.float16, mx.bfloat16
int32, int64, uint8, bool_ = mx.int32, mx.int64, mx.uint8, mx.bool_


# ---- evaluation on MLX ---------------------------------------------------------------

_ALIVE = []


def _resolve(name):
    obj = mx
    if name.startswith("nn."):
        obj, name = nn, name[3:]
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _index(v):
    if isinstance(v, (list, tuple)):
        return tuple(_index(x) for x in v)
    if isinstance(v, dict) and "slice" in v:
        return slice(*v["slice"])
    if isinstance(v, dict) and v.get("ellipsis"):
        return Ellipsis
    return v


def evaluate(j, env, arrays):
    ev = lambda x: evaluate(x, env, arrays)
    if isinstance(j, list):
        return [ev(x) for x in j]
    if not isinstance(j, dict):
        return j
    if "var" in j:
        return env[j["var"]]
    if "t" in j:
        return arrays[j["t"]]
    if "dtype" in j:
        return getattr(mx, "bool_" if j["dtype"] == "bool" else j["dtype"])
    if "list" in j:
        return tuple(ev(x) for x in j["list"])
    if "dict" in j:
        return {k: ev(x) for k, x in j["dict"].items()}
    if "float" in j:
        return float(j["float"])
    if "slice" in j or "ellipsis" in j:
        return j
    if "fn" in j:
        f = j["fn"]
        g = lambda *a: evaluate(f["body"], {**env, **dict(zip(f["params"], a))}, arrays)
        # mx.compile caches by function identity: a freed closure's id could be reused by
        # the next case and hit the wrong cache entry, so every closure stays alive.
        _ALIVE.append(g)
        return g
    if "apply" in j:
        return ev(j["apply"])(*[ev(a) for a in j["args"]])
    if "custom" in j:
        c = j["custom"]
        f = mx.custom_function(ev(c["fn"]))
        if "vjp" in c:
            f.vjp(ev(c["vjp"]))
        if "jvp" in c:
            f.jvp(ev(c["jvp"]))
        if "vmap" in c:
            f.vmap(ev(c["vmap"]))
        return f
    name, args = j["call"], [ev(a) for a in j["args"]]
    kw = {k: ev(v) for k, v in j["kw"].items()}
    if name == "getitem":
        return args[0][_index(args[1])]
    if name == "astype":
        return args[0].astype(args[1])
    if name == "load":
        return _load(args[0], args[1])
    if name == "optimizers.apply_gradients":
        return _optimize(*args, **kw)
    # MLX takes shapes, axes and argnums as tuples or lists alike; in_axes must be tuples.
    for k in ("in_axes", "out_axes", "argnums"):
        if isinstance(kw.get(k), list):
            kw[k] = tuple(kw[k])
    return _resolve(name)(*args, **kw)


def _load(data, fmt):
    """`mx.load` of the bytes MLX wrote (a uint8 array), through a temporary file."""
    import os, tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"f.{fmt}")
        with open(path, "wb") as f:
            f.write(bytes(np.array(data)))
        out = mx.load(path)
        mx.eval(out)
        return out


def _optimize(params, grads, name, **kw):
    """`name(**kw)` applied to `params` once per gradient tree in `grads`; the parameters
    after every step."""
    import mlx.optimizers as optim
    opt = getattr(optim, name)(**kw)
    steps = []
    for g in grads:
        params = opt.apply_gradients(g, params)
        mx.eval(params)
        steps.append(params)
    return steps


def flatten(v):
    """Results as a flat list (lists and tuples in order, dicts by sorted key)."""
    if isinstance(v, (list, tuple)):
        return [x for e in v for x in flatten(e)]
    if isinstance(v, dict):
        return [x for k in sorted(v) for x in flatten(v[k])]
    return [v]
