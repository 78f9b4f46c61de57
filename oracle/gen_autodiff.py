"""Writes autodiff oracle fixtures to ../fixtures/autodiff.json: composite functions
(an MLP loss, a softmax cross-entropy, a layer norm, an attention block, all written
from primitives) with their values and gradients from torch.autograd, and from MLX their
gradients (mx.grad), per-example gradients (mx.vmap of mx.grad) and directional
derivatives (mx.jvp).

Run with the pinned venv:  oracle/.venv/bin/python oracle/gen_autodiff.py
Deterministic: inputs come from a seeded NumPy generator; everything is float64.
The Rust side (crates/psionic-array/src/autodiff/tests/oracle.rs) defines the same
functions and replays the cases.
"""
import json, os
import numpy as np
import torch
import mlx.core as mx

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "autodiff.json")
rng = np.random.default_rng(7)


def arr(shape, scale=1.0):
    return rng.standard_normal(shape) * scale


# Each function is written once over a tiny namespace of ops, so torch and MLX run the
# same formula as the Rust replayer.
class T:
    tanh, exp, log, sqrt = torch.tanh, torch.exp, torch.log, torch.sqrt
    mean = staticmethod(lambda x, axis: x.mean(dim=axis, keepdim=True))
    total = staticmethod(lambda x: x.sum())
    log_softmax = staticmethod(lambda x: torch.log_softmax(x, dim=-1))
    softmax = staticmethod(lambda x: torch.softmax(x, dim=-1))
    swap = staticmethod(lambda x: x.transpose(-1, -2))
    count = staticmethod(lambda x: x.numel())


class M:
    tanh, exp, log, sqrt = mx.tanh, mx.exp, mx.log, mx.sqrt
    mean = staticmethod(lambda x, axis: mx.mean(x, axis=axis, keepdims=True))
    total = staticmethod(lambda x: mx.sum(x))
    log_softmax = staticmethod(lambda x: x - mx.logsumexp(x, axis=-1, keepdims=True))
    softmax = staticmethod(lambda x: mx.softmax(x, axis=-1))
    swap = staticmethod(lambda x: mx.swapaxes(x, -1, -2))
    count = staticmethod(lambda x: x.size)


def mlp_loss(o, x, w1, b1, w2, b2, y):
    h = o.tanh(x @ w1 + b1)
    d = h @ w2 + b2 - y
    return o.total(d * d) / o.count(d)


def softmax_xent(o, logits, onehot):
    return -o.total(onehot * o.log_softmax(logits)) / logits.shape[0]


def layer_norm(o, x, gamma, beta, c):
    mu = o.mean(x, -1)
    var = o.mean((x - mu) * (x - mu), -1)
    y = (x - mu) / o.sqrt(var + 1e-5) * gamma + beta
    return o.total(y * c)


def attention(o, q, k, v, c):
    s = (q @ o.swap(k)) / np.sqrt(q.shape[-1])
    return o.total((o.softmax(s) @ v) * c)


FUNCS = {
    # name: (function, input shapes, which inputs are differentiable)
    "mlp_loss": (mlp_loss, [(4, 3), (3, 5), (5,), (5, 2), (2,), (4, 2)], [0, 1, 2, 3, 4]),
    "softmax_xent": (softmax_xent, [(4, 6), (4, 6)], [0]),
    "layer_norm": (layer_norm, [(3, 5), (5,), (5,), (3, 5)], [0, 1, 2]),
    "attention": (attention, [(2, 3, 4), (2, 5, 4), (2, 5, 4), (2, 3, 4)], [0, 1, 2]),
}


def inputs_for(name, shapes):
    xs = [arr(s) for s in shapes]
    if name == "softmax_xent":
        xs[1] = np.eye(6)[rng.integers(0, 6, size=4)]
    return xs


def enc(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "data": a.flatten().tolist()}


cases = []
for name, (fn, shapes, diff) in FUNCS.items():
    xs = inputs_for(name, shapes)
    # torch.autograd
    tx = [torch.tensor(x, dtype=torch.float64, requires_grad=(i in diff)) for i, x in enumerate(xs)]
    tv = fn(T, *tx)
    tg = torch.autograd.grad(tv, [tx[i] for i in diff])
    # mx.grad over the differentiable inputs
    mxs = [mx.array(x, dtype=mx.float64) for x in xs]

    def mf(*d, _fn=fn, _diff=diff, _mxs=mxs):
        args = list(_mxs)
        for i, v in zip(_diff, d):
            args[i] = v
        return _fn(M, *args)

    mv, mg = mx.value_and_grad(mf, argnums=list(range(len(diff))))(*[mxs[i] for i in diff])
    mg = list(mg) if isinstance(mg, (tuple, list)) else [mg]  # one argnum: a bare array
    # mx.jvp along fixed tangents of the differentiable inputs
    tangents = [arr(xs[i].shape) for i in diff]
    _, jt = mx.jvp(mf, [mxs[i] for i in diff], [mx.array(t, dtype=mx.float64) for t in tangents])
    # mx.vmap of mx.grad: a batch of 3 values of the first input, the rest shared
    batch = np.stack([xs[diff[0]] * s for s in (1.0, 0.9, 1.1)])

    def first_only(a, _mf=mf, _diff=diff, _mxs=mxs):
        return _mf(a, *[_mxs[i] for i in _diff[1:]])

    vg = mx.vmap(mx.grad(first_only))(mx.array(batch, dtype=mx.float64))
    mx.eval(mv, *mg, *jt, vg)
    cases.append({
        "name": name,
        "inputs": [enc(x) for x in xs],
        "diff": diff,
        "torch": {"value": float(tv.detach()), "grads": [enc(g.numpy()) for g in tg]},
        "mlx": {
            "value": float(np.array(mv)),
            "grads": [enc(np.array(g)) for g in mg],
            "jvp": {"tangents": [enc(t) for t in tangents], "out": float(np.array(jt[0]))},
            "vmap_grad": {"batch": enc(batch), "out": enc(np.array(vg))},
        },
    })

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "mlx": mx.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} composite cases to {OUT}")
