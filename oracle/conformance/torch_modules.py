"""PyTorch module and optimizer behaviour as conformance fixtures, in the OpInfo manifest
format (torch_opinfo.py) with two additions:

  "state":  {name: {"t": key}}   a module's state_dict (its default initialisation
                                 replaced by fixed values), or an optimizer's initial
                                 parameters
  "steps":  [{"grads": {name: {"t": key}}}, ...]   optimizer steps: the gradients fed
                                 at each step (outputs: every parameter after each
                                 step, step-major, parameters by sorted name)

Module cases (family nn_modules): "op" is "nn.<Class>", "kwargs" the constructor's
arguments, "input" the forward input; "outputs", "cotangents" and "grads" as for OpInfo
cases, plus "state_grads": {name: {"t": key}}, the gradients of the parameters.
Optimizer cases (family optim): "op" is "optim.<Class>", "kwargs" its arguments.

Run with the pinned venv:  oracle/.venv/bin/python oracle/conformance/torch_modules.py
"""
import json, os, sys
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "conformance", "pytorch")
DTYPES = [torch.float32, torch.float64]
STEPS = 10

# (class, constructor kwargs, input shape or ("int", high, shape))
MODULES = [
    ("Linear", {"in_features": 4, "out_features": 3}, (2, 4)),
    ("Linear", {"in_features": 4, "out_features": 3, "bias": False}, (5, 4)),
    ("Bilinear", {"in1_features": 3, "in2_features": 3, "out_features": 2}, None),
    ("LayerNorm", {"normalized_shape": [5]}, (3, 5)),
    ("Conv2d", {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1}, (2, 2, 5, 5)),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 4}, ("int", 10, (2, 3))),
    ("GRU", {"input_size": 3, "hidden_size": 4, "batch_first": True}, (2, 5, 3)),
    ("MultiheadAttention", {"embed_dim": 4, "num_heads": 2, "batch_first": True}, None),
]

OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
]


class Family:
    def __init__(self, name):
        self.name, self.tensors, self.cases = name, {}, []

    def put(self, key, t):
        self.tensors[key] = t.detach().contiguous().clone()
        return {"t": key}

    def save(self):
        save_file(self.tensors, os.path.join(OUT, f"{self.name}.safetensors"))
        with open(os.path.join(OUT, f"{self.name}.json"), "w") as f:
            json.dump({"torch": torch.__version__, "family": self.name, "cases": self.cases}, f,
                      separators=(",", ":"), sort_keys=True)
        print(f"{self.name}: {len(self.cases)} cases")


def fixed(shape, dtype, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype) * 0.5


def module_case(fam, k, cls, kw, shape, dtype):
    m = getattr(torch.nn, cls)(**kw).to(dtype)
    with torch.no_grad():
        for j, (_, p) in enumerate(sorted(m.named_parameters())):
            p.copy_(fixed(p.shape, dtype, 100 * k + j))
    cid = f"nn.{cls}.{k}.{str(dtype)[6:]}"
    if cls == "Bilinear":
        xs = [fixed((2, 3), dtype, 7 + k).requires_grad_(), fixed((2, 3), dtype, 8 + k).requires_grad_()]
    elif cls == "MultiheadAttention":
        xs = [fixed((2, 3, 4), dtype, 7 + k + j).requires_grad_() for j in range(3)]
    elif shape[0] == "int":
        xs = [torch.randint(0, shape[1], shape[2], generator=torch.Generator().manual_seed(k))]
    else:
        xs = [fixed(shape, dtype, 7 + k).requires_grad_()]
    out = m(*xs)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, torch.Tensor)]
    entry = {"id": cid, "op": f"nn.{cls}", "variant": "", "family": fam.name, "dtype": str(dtype)[6:],
             "input": fam.put(f"{cid}.in.0", xs[0]),
             "args": [fam.put(f"{cid}.in.{j}", x) for j, x in enumerate(xs[1:], 1)],
             "kwargs": kw,
             "state": {n: fam.put(f"{cid}.state.{n}", v) for n, v in sorted(m.state_dict().items())},
             "outputs": [fam.put(f"{cid}.out.{j}", o) for j, o in enumerate(outs)]}
    gen = torch.Generator().manual_seed(1)
    cots = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(dtype) for o in outs]
    params = sorted(m.named_parameters())
    diff = [j for j, x in enumerate(xs) if x.requires_grad]
    gs = torch.autograd.grad(outs, [xs[j] for j in diff] + [p for _, p in params], cots, allow_unused=True)
    entry["cotangents"] = [fam.put(f"{cid}.cot.{j}", c) for j, c in enumerate(cots)]
    entry["grads"] = {str(j): fam.put(f"{cid}.grad.{j}", g) for j, g in zip(diff, gs)}
    entry["state_grads"] = {n: fam.put(f"{cid}.pgrad.{n}", g) for (n, _), g in zip(params, gs[len(diff):])}
    fam.cases.append(entry)


def optimizer_case(fam, k, cls, kw, dtype):
    cid = f"optim.{cls}.{k}.{str(dtype)[6:]}"
    names = ["b", "w"]
    params = {"w": fixed((3, 2), dtype, 500 + k), "b": fixed((2,), dtype, 600 + k)}
    entry = {"id": cid, "op": f"optim.{cls}", "variant": "", "family": fam.name, "dtype": str(dtype)[6:],
             "input": None, "args": [], "kwargs": kw,
             "state": {n: fam.put(f"{cid}.state.{n}", params[n]) for n in names}, "steps": [], "outputs": []}
    ps = [params[n].clone().requires_grad_() for n in names]
    opt = getattr(torch.optim, cls)(ps, **kw)
    for s in range(STEPS):
        grads = {n: fixed(p.shape, dtype, 1000 * k + 10 * s + j) for j, (n, p) in enumerate(zip(names, ps))}
        for n, p in zip(names, ps):
            p.grad = grads[n].clone()
        opt.step()
        entry["steps"].append({"grads": {n: fam.put(f"{cid}.step{s}.grad.{n}", grads[n]) for n in names}})
        entry["outputs"] += [fam.put(f"{cid}.step{s}.{n}", p) for n, p in zip(names, ps)]
    fam.cases.append(entry)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    mods, opts = Family("nn_modules"), Family("optim")
    for dtype in DTYPES:
        for k, (cls, kw, shape) in enumerate(MODULES):
            module_case(mods, k, cls, kw, shape, dtype)
        for k, (cls, kw) in enumerate(OPTIMIZERS):
            optimizer_case(opts, k, cls, kw, dtype)
    mods.save()
    opts.save()


if __name__ == "__main__":
    sys.exit(main())
