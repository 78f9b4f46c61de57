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
cases, plus "state_grads": {name: {"t": key}}, the gradients of the parameters, and
"buffers_after": the buffers after the forward call (BatchNorm's running statistics),
"seed" and "init_state": the state_dict of the module built right after
torch.manual_seed(seed), before the fixed values replace it (the default initialisation).
Loss modules (family losses) are module cases too.
Optimizer cases (family optim): "op" is "optim.<Class>", "kwargs" its arguments.

Run with the pinned venv:  oracle/.venv/bin/python oracle/conformance/torch_modules.py
"""
import json, os, sys
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "conformance", "pytorch")
DTYPES = [torch.float32, torch.float64]
STEPS = 10

# (class, constructor kwargs, inputs, options). Inputs: a shape (standard normal values,
# differentiated), ("int", high, shape) class indices, ("prob", shape) values in (0, 1),
# ("sign", shape) values of +-1, ("pos", shape) positive values, ("logp", shape) rows of
# log-probabilities, ("probs", shape) rows of probabilities, ("const", shape) a float
# target that is not differentiated. Options: "eval" runs the module in eval mode
# first; "call" passes keyword arguments to forward.
F = 2
MODULES = [
    ("Linear", {"in_features": 4, "out_features": 3}, [(2, 4)]),
    ("Linear", {"in_features": 4, "out_features": 3, "bias": False}, [(5, 4)]),
    ("Bilinear", {"in1_features": 3, "in2_features": 3, "out_features": 2}, [(2, 3), (2, 3)]),
    ("Identity", {}, [(2, 3)]),
    ("Flatten", {}, [(2, 3, 2, 2)]),
    ("Unflatten", {"dim": 1, "unflattened_size": [2, 3]}, [(2, 6)]),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 4}, [("int", 10, (2, 3))]),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}, [("int", 10, (2, 5))]),
    ("Conv1d", {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}, [(2, 2, 7)]),
    ("Conv2d", {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": 1}, [(2, 2, 5, 5)]),
    ("Conv2d", {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 2, "padding_mode": "reflect", "padding": 1}, [(1, 4, 5, 5)]),
    ("Conv2d", {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": "same", "padding_mode": "circular", "bias": False}, [(1, 2, 4, 4)]),
    ("Conv3d", {"in_channels": 2, "out_channels": 2, "kernel_size": 2}, [(1, 2, 3, 3, 3)]),
    ("ConvTranspose1d", {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2}, [(2, 2, 4)]),
    ("ConvTranspose2d", {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}, [(1, 2, 3, 3)]),
    ("ConvTranspose3d", {"in_channels": 2, "out_channels": 1, "kernel_size": 2}, [(1, 2, 2, 2, 2)]),
    ("MaxPool1d", {"kernel_size": 2}, [(2, 3, 6)]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(1, 2, 5, 5)]),
    ("MaxPool3d", {"kernel_size": 2}, [(1, 1, 4, 4, 4)]),
    ("AvgPool1d", {"kernel_size": 3, "stride": 1, "padding": 1}, [(2, 2, 5)]),
    ("AvgPool2d", {"kernel_size": 2, "stride": 2}, [(1, 2, 4, 4)]),
    ("AvgPool3d", {"kernel_size": 2, "padding": 1, "count_include_pad": False}, [(1, 1, 3, 3, 3)]),
    ("LPPool2d", {"norm_type": 2, "kernel_size": 2}, [(1, 2, 4, 4)]),
    ("AdaptiveAvgPool1d", {"output_size": 3}, [(2, 2, 7)]),
    ("AdaptiveAvgPool2d", {"output_size": [2, 3]}, [(1, 2, 5, 7)]),
    ("AdaptiveMaxPool2d", {"output_size": 2}, [(1, 2, 5, 5)]),
    ("BatchNorm1d", {"num_features": 3}, [(4, 3)]),
    ("BatchNorm1d", {"num_features": 3, "momentum": None}, [(4, 3, 5)]),
    ("BatchNorm2d", {"num_features": 2}, [(3, 2, 3, 3)]),
    ("BatchNorm2d", {"num_features": 2}, [(3, 2, 3, 3)], {"eval": True}),
    ("BatchNorm3d", {"num_features": 2, "affine": False}, [(2, 2, 2, 2, 2)]),
    ("LayerNorm", {"normalized_shape": [5]}, [(3, 5)]),
    ("LayerNorm", {"normalized_shape": [2, 3], "elementwise_affine": False}, [(2, 2, 3)]),
    ("GroupNorm", {"num_groups": 2, "num_channels": 4}, [(2, 4, 3)]),
    ("InstanceNorm1d", {"num_features": 3}, [(2, 3, 5)]),
    ("InstanceNorm2d", {"num_features": 2, "affine": True, "track_running_stats": True}, [(2, 2, 3, 3)]),
    ("RMSNorm", {"normalized_shape": [4]}, [(3, 4)]),
    ("LocalResponseNorm", {"size": 3}, [(2, 5, 4)]),
    ("ReLU", {}, [(3, 4)]), ("ReLU6", {}, [(3, 4)]), ("LeakyReLU", {"negative_slope": 0.2}, [(3, 4)]),
    ("ELU", {"alpha": 0.5}, [(3, 4)]), ("CELU", {}, [(3, 4)]), ("SELU", {}, [(3, 4)]),
    ("GELU", {}, [(3, 4)]), ("GELU", {"approximate": "tanh"}, [(3, 4)]), ("SiLU", {}, [(3, 4)]),
    ("Mish", {}, [(3, 4)]), ("Sigmoid", {}, [(3, 4)]), ("Tanh", {}, [(3, 4)]),
    ("Softplus", {"beta": 2.0}, [(3, 4)]), ("Softsign", {}, [(3, 4)]), ("Tanhshrink", {}, [(3, 4)]),
    ("Hardshrink", {}, [(3, 4)]), ("Softshrink", {"lambd": 0.3}, [(3, 4)]), ("Hardtanh", {}, [(3, 4)]),
    ("Hardsigmoid", {}, [(3, 4)]), ("Hardswish", {}, [(3, 4)]), ("LogSigmoid", {}, [(3, 4)]),
    ("Threshold", {"threshold": 0.1, "value": 20.0}, [(3, 4)]), ("Softmax", {"dim": 1}, [(3, 4)]),
    ("LogSoftmax", {"dim": -1}, [(3, 4)]), ("Softmin", {"dim": 0}, [(3, 4)]), ("GLU", {}, [(3, 4)]),
    ("PReLU", {}, [(3, 4)]), ("PReLU", {"num_parameters": 3}, [(2, 3, 4)]),
    ("RReLU", {}, [(3, 4)], {"eval": True}),
    ("Dropout", {"p": 0.5}, [(3, 4)], {"eval": True}),
    ("RNN", {"input_size": 3, "hidden_size": 4, "num_layers": 2}, [(5, 2, 3)]),
    ("RNN", {"input_size": 3, "hidden_size": 2, "nonlinearity": "relu", "bidirectional": True}, [(4, 3)]),
    ("LSTM", {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True, "batch_first": True}, [(2, 4, 3)]),
    ("GRU", {"input_size": 3, "hidden_size": 4, "batch_first": True}, [(2, 5, 3)]),
    ("RNNCell", {"input_size": 3, "hidden_size": 4}, [(2, 3)]),
    ("LSTMCell", {"input_size": 3, "hidden_size": 4}, [(2, 3)]),
    ("GRUCell", {"input_size": 3, "hidden_size": 4, "bias": False}, [(3,)]),
    ("MultiheadAttention", {"embed_dim": 4, "num_heads": 2, "batch_first": True}, [(2, 3, 4), (2, 3, 4), (2, 3, 4)]),
    ("MultiheadAttention", {"embed_dim": 4, "num_heads": 1, "kdim": 3, "vdim": 2, "add_bias_kv": True, "add_zero_attn": True}, [(3, 2, 4), (5, 2, 3), (5, 2, 2)], {"call": {"average_attn_weights": False}}),
    ("TransformerEncoderLayer", {"d_model": 4, "nhead": 2, "dim_feedforward": 8, "dropout": 0.0}, [(3, 2, 4)]),
    ("TransformerEncoderLayer", {"d_model": 4, "nhead": 2, "dim_feedforward": 6, "dropout": 0.0, "norm_first": True, "activation": "gelu", "batch_first": True}, [(2, 3, 4)]),
    ("TransformerDecoderLayer", {"d_model": 4, "nhead": 2, "dim_feedforward": 8, "dropout": 0.0}, [(3, 2, 4), (5, 2, 4)]),
    ("Upsample", {"scale_factor": 2.0, "mode": "bilinear"}, [(1, 2, 3, 3)]),
    ("Upsample", {"size": [5], "mode": "nearest"}, [(1, 2, 3)]),
    ("PixelShuffle", {"upscale_factor": 2}, [(1, 8, 2, 2)]),
    ("PixelUnshuffle", {"downscale_factor": 2}, [(1, 2, 4, 4)]),
    ("ZeroPad2d", {"padding": [1, 0, 2, 1]}, [(1, 2, 3, 3)]),
    ("ConstantPad1d", {"padding": 2, "value": 3.5}, [(2, 3, 4)]),
    ("ReflectionPad1d", {"padding": [2, 1]}, [(2, 3, 4)]),
    ("ReplicationPad2d", {"padding": 1}, [(1, 2, 3, 3)]),
    ("CircularPad1d", {"padding": 1}, [(2, 3, 4)]),
]

LOSSES = [
    ("MSELoss", {}, [(3, 4), (3, 4)]),
    ("L1Loss", {"reduction": "sum"}, [(3, 4), (3, 4)]),
    ("SmoothL1Loss", {"beta": 0.5}, [(3, 4), ("const", (3, 4))]),
    ("HuberLoss", {"delta": 0.7, "reduction": "none"}, [(3, 4), ("const", (3, 4))]),
    ("CrossEntropyLoss", {}, [(4, 5), ("int", 5, (4,))]),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 2}, [(4, 5, 3), ("int", 5, (4, 3))]),
    ("CrossEntropyLoss", {"reduction": "sum"}, [(4, 5), ("probs", (4, 5))]),
    ("CrossEntropyLoss", {"weight": [0.5, 1.0, 2.0], "label_smoothing": 0.2}, [(6, 3), ("int", 3, (6,))]),
    ("NLLLoss", {"weight": [1.0, 0.5, 2.0, 1.5]}, [("logp", (5, 4)), ("int", 4, (5,))]),
    ("NLLLoss", {"reduction": "none", "ignore_index": 1}, [("logp", (3, 4)), ("int", 4, (3,))]),
    ("BCELoss", {}, [("prob", (3, 4)), ("prob", (3, 4))]),
    ("BCELoss", {"weight": [1.0, 2.0, 0.5, 1.0]}, [("prob", (3, 4)), ("const01", (3, 4))]),
    ("BCEWithLogitsLoss", {}, [(3, 4), ("const01", (3, 4))]),
    ("BCEWithLogitsLoss", {"pos_weight": [2.0, 1.0, 0.5, 3.0], "reduction": "sum"}, [(3, 4), ("prob", (3, 4))]),
    ("KLDivLoss", {"reduction": "batchmean"}, [("logp", (3, 4)), ("probs", (3, 4))]),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, [("logp", (3, 4)), ("logp", (3, 4))]),
    ("PoissonNLLLoss", {}, [(3, 4), ("pos", (3, 4))]),
    ("PoissonNLLLoss", {"log_input": False, "full": True}, [("pos", (3, 4)), ("pos3", (3, 4))]),
    ("GaussianNLLLoss", {}, [(3, 4), (3, 4), ("pos", (3, 4))]),
    ("GaussianNLLLoss", {"full": True, "reduction": "sum"}, [(3, 4), (3, 4), ("pos", (3, 1))]),
    ("MarginRankingLoss", {"margin": 0.2}, [(5,), (5,), ("sign", (5,))]),
    ("HingeEmbeddingLoss", {"margin": 0.5}, [(3, 4), ("sign", (3, 4))]),
    ("MultiLabelMarginLoss", {}, [(2, 4), ("fixed", [[3, 0, -1, 1], [1, 2, 3, -1]])]),
    ("MultiLabelSoftMarginLoss", {}, [(3, 4), ("const01", (3, 4))]),
    ("MultiMarginLoss", {}, [(4, 3), ("int", 3, (4,))]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": [1.0, 2.0, 0.5]}, [(4, 3), ("int", 3, (4,))]),
    ("SoftMarginLoss", {}, [(3, 4), ("sign", (3, 4))]),
    ("CosineEmbeddingLoss", {"margin": 0.1}, [(4, 3), (4, 3), ("sign", (4,))]),
    ("TripletMarginLoss", {}, [(4, 3), (4, 3), (4, 3)]),
    ("TripletMarginLoss", {"p": 1.0, "swap": True, "margin": 0.5}, [(4, 3), (4, 3), (4, 3)]),
    ("CTCLoss", {}, [("logp", (6, 2, 4)), ("fixed", [[1, 2, 2], [3, 1, 0]]), ("fixed", [6, 5]), ("fixed", [3, 2])]),
    ("CTCLoss", {"reduction": "sum", "zero_infinity": True}, [("logp", (5, 2, 3)), ("fixed", [1, 1, 2, 2, 1, 2]), ("fixed", [5, 3]), ("fixed", [4, 2])]),
]

OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "betas": [0.8, 0.9]}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.02}),
    ("Adamax", {"lr": 0.02, "weight_decay": 0.05}),
    ("NAdam", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "betas": [0.9, 0.9]}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Rprop", {"lr": 0.01}),
    ("ASGD", {"lr": 0.05, "t0": 3.0, "lambd": 0.01}),
    ("Muon", {"lr": 0.02}),
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


def make_input(spec, dtype, seed):
    """One forward input from its spec (see MODULES) and whether it is differentiated."""
    g = torch.Generator().manual_seed(seed)
    if isinstance(spec, tuple) and spec and isinstance(spec[0], int):
        return fixed(spec, dtype, seed), True
    kind = spec[0]
    if kind == "int":
        return torch.randint(0, spec[1], spec[2], generator=g), False
    if kind == "fixed":
        return torch.tensor(spec[1]), False
    shape = spec[1]
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    val = {"prob": lambda: torch.sigmoid(x), "const": lambda: x, "const01": lambda: (x > 0).double(),
           "sign": lambda: torch.where(x > 0, 1.0, -1.0).double(), "pos": lambda: x.abs() + 0.1,
           "pos3": lambda: x.abs() * 3, "logp": lambda: torch.log_softmax(x, -1 if len(shape) < 3 else 2),
           "probs": lambda: torch.softmax(x, -1)}[kind]().to(dtype)
    return val, kind in ("prob", "pos", "logp")


def flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return []


def module_case(fam, k, cls, kw, inputs, opts, dtype):
    kw_t = {n: (torch.tensor(v, dtype=dtype) if n in ("weight", "pos_weight") and isinstance(v, list) else v)
            for n, v in kw.items()}
    seed = 1000 + k
    torch.manual_seed(seed)
    m = getattr(torch.nn, cls)(**kw_t).to(dtype)
    init = {n: v.detach().clone() for n, v in sorted(m.state_dict().items())}
    with torch.no_grad():
        for j, (_, p) in enumerate(sorted(m.named_parameters())):
            p.copy_(fixed(p.shape, dtype, 100 * k + j))
    if opts.get("eval"):
        with torch.no_grad():
            for j, (_, b) in enumerate(sorted(m.named_buffers())):
                if b.is_floating_point():
                    b.copy_(fixed(b.shape, dtype, 300 * k + j).abs() + 0.5)
        m.eval()
    cid = f"nn.{cls}.{k}.{str(dtype)[6:]}"
    made = [make_input(s, dtype, 7 + 13 * k + j) for j, s in enumerate(inputs)]
    xs = [x.requires_grad_() if d else x for x, d in made]
    state = {n: v.detach().clone() for n, v in sorted(m.state_dict().items())}
    outs = flat(m(*xs, **opts.get("call", {})))
    entry = {"id": cid, "op": f"nn.{cls}", "variant": "", "family": fam.name, "dtype": str(dtype)[6:],
             "input": fam.put(f"{cid}.in.0", xs[0]),
             "args": [fam.put(f"{cid}.in.{j}", x) for j, x in enumerate(xs[1:], 1)],
             "kwargs": kw, "eval": bool(opts.get("eval")), "call": opts.get("call", {}), "seed": seed,
             "init_state": {n: fam.put(f"{cid}.init.{n}", v) for n, v in init.items()},
             "state": {n: fam.put(f"{cid}.state.{n}", v) for n, v in state.items()},
             "buffers_after": {n: fam.put(f"{cid}.after.{n}", b) for n, b in sorted(m.named_buffers())},
             "outputs": [fam.put(f"{cid}.out.{j}", o) for j, o in enumerate(outs)]}
    gen = torch.Generator().manual_seed(1)
    douts = [o for o in outs if o.requires_grad]
    cots = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(dtype) for o in douts]
    params = sorted(m.named_parameters())
    diff = [j for j, x in enumerate(xs) if x.requires_grad]
    targets = [xs[j] for j in diff] + [p for _, p in params]
    gs = torch.autograd.grad(douts, targets, cots, allow_unused=True) if douts and targets else [None] * len(targets)
    entry["cotangents"] = [fam.put(f"{cid}.cot.{j}", c) for j, c in enumerate(cots)]
    entry["grads"] = {str(j): (fam.put(f"{cid}.grad.{j}", g) if g is not None else None) for j, g in zip(diff, gs)}
    entry["state_grads"] = {n: fam.put(f"{cid}.pgrad.{n}", g) for (n, _), g in zip(params, gs[len(diff):]) if g is not None}
    fam.cases.append(entry)


def optimizer_case(fam, k, cls, kw, dtype):
    cid = f"optim.{cls}.{k}.{str(dtype)[6:]}"
    names = ["w"] if cls == "Muon" else ["b", "w"]
    params = {"w": fixed((3, 2), dtype, 500 + k), "b": fixed((2,), dtype, 600 + k)}
    entry = {"id": cid, "op": f"optim.{cls}", "variant": "", "family": fam.name, "dtype": str(dtype)[6:],
             "input": None, "args": [], "kwargs": kw,
             "state": {n: fam.put(f"{cid}.state.{n}", params[n]) for n in names}, "steps": [], "outputs": []}
    ps = [params[n].clone().requires_grad_() for n in names]
    opt = getattr(torch.optim, cls)(ps, **{n: tuple(v) if n == "betas" else v for n, v in kw.items()})
    for s in range(STEPS):
        grads = {n: fixed(p.shape, dtype, 1000 * k + 10 * s + j) for j, (n, p) in enumerate(zip(names, ps))}
        for n, p in zip(names, ps):
            p.grad = grads[n].clone()
        opt.step()
        entry["steps"].append({"grads": {n: fam.put(f"{cid}.step{s}.grad.{n}", grads[n]) for n in names}})
        entry["outputs"] += [fam.put(f"{cid}.step{s}.{n}", p) for n, p in zip(names, ps)]
    fam.cases.append(entry)


# LBFGS (family optim): `step(closure)` on a fixed smooth non-quadratic objective,
# sum((p - c)^2 (1 + p^2 / 2)) + 0.1 sum(p)^2 over both parameters; every parameter after
# every step. kwargs["targets"] holds the c tensors.
LBFGS = [({}, 3), ({"line_search_fn": "strong_wolfe", "history_size": 5}, 3), ({"lr": 0.5, "max_iter": 4}, 4)]


def lbfgs_objective(ps, cs):
    return sum(((p - c) ** 2 * (1 + 0.5 * p ** 2)).sum() + 0.1 * p.sum() ** 2 for p, c in zip(ps, cs))


def lbfgs_case(fam, k, kw, steps, dtype):
    cid = f"optim.LBFGS.{k}.{str(dtype)[6:]}"
    names = ["b", "w"]
    params = {"w": fixed((3, 2), dtype, 700 + k), "b": fixed((2,), dtype, 800 + k)}
    targets = {"w": fixed((3, 2), dtype, 900 + k), "b": fixed((2,), dtype, 950 + k)}
    ps = [params[n].clone().requires_grad_() for n in names]
    opt = torch.optim.LBFGS(ps, **kw)

    def closure():
        opt.zero_grad()
        loss = lbfgs_objective(ps, [targets[n] for n in names])
        loss.backward()
        return loss

    entry = {"id": cid, "op": "optim.LBFGS", "variant": "", "family": fam.name, "dtype": str(dtype)[6:],
             "input": None, "args": [],
             "kwargs": dict(kw, targets=[fam.put(f"{cid}.target.{n}", targets[n]) for n in names]),
             "state": {n: fam.put(f"{cid}.state.{n}", params[n]) for n in names}, "steps": [], "outputs": []}
    for s in range(steps):
        opt.step(closure)
        entry["steps"].append({"grads": {}})
        entry["outputs"] += [fam.put(f"{cid}.step{s}.{n}", p) for n, p in zip(names, ps)]
    fam.cases.append(entry)


# Learning-rate schedulers (family optim, op "lr_scheduler.<Class>"): two parameter
# groups (lr 0.1 and 0.05) under the named optimizer; the rates (and the momentum or
# beta1 the cyclic schedules move) after construction and after each of SCHED_STEPS
# steps. Nested schedulers are [class, [[kwarg, value], ...]]; lr_lambda is a named
# recipe: ["pow", b] is `b ** epoch`, ["const", c] is `c`.
SCHED_STEPS = 24
SCHEDULERS = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}, "SGD", {}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}, "SGD", {}),
    ("ConstantLR", {"factor": 0.25, "total_iters": 4}, "SGD", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 6}, "SGD", {}),
    ("ExponentialLR", {"gamma": 0.9}, "SGD", {}),
    ("PolynomialLR", {"total_iters": 8, "power": 2.0}, "SGD", {}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}, "SGD", {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 4, "T_mult": 2, "eta_min": 0.0005}, "SGD", {}),
    ("LambdaLR", {"lr_lambda": ["pow", 0.95]}, "SGD", {}),
    ("MultiplicativeLR", {"lr_lambda": ["const", 0.97]}, "SGD", {}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 25}, "SGD", {"momentum": 0.9}),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 25, "anneal_strategy": "linear", "three_phase": True,
                    "pct_start": 0.2}, "Adam", {}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "step_size_down": 5, "mode": "triangular2"},
     "SGD", {"momentum": 0.9}),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 4, "mode": "exp_range", "gamma": 0.9,
                  "cycle_momentum": False}, "SGD", {}),
    ("ReduceLROnPlateau", {"factor": 0.5, "patience": 2, "cooldown": 1, "threshold": 0.01, "min_lr": 0.01}, "SGD", {}),
    ("ReduceLROnPlateau", {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1, "factor": 0.7},
     "SGD", {}),
    ("SequentialLR", {"schedulers": [["LinearLR", [["start_factor", 0.2], ["total_iters", 4]]],
                                     ["CosineAnnealingLR", [["T_max", 10]]]], "milestones": [4]}, "SGD", {}),
    ("SequentialLR", {"schedulers": [["ConstantLR", [["factor", 0.5], ["total_iters", 3]]],
                                     ["ExponentialLR", [["gamma", 0.9]]], ["StepLR", [["step_size", 2], ["gamma", 0.5]]]],
                      "milestones": [3, 8]}, "SGD", {}),
    ("ChainedScheduler", {"schedulers": [["ConstantLR", [["factor", 0.5], ["total_iters", 4]]],
                                         ["ExponentialLR", [["gamma", 0.9]]]]}, "SGD", {}),
]
# A metric that improves, stalls, then improves again.
PLATEAU_METRICS = [1.0, 0.9, 0.85, 0.85, 0.86, 0.84, 0.845, 0.85, 0.7, 0.69, 0.69, 0.69, 0.69, 0.5,
                   0.5, 0.5, 0.5, 0.5, 0.5, 0.49, 0.49, 0.6, 0.6, 0.6]


def build_scheduler(cls, kw, opt):
    kw = dict(kw)
    if "schedulers" in kw:
        kw["schedulers"] = [build_scheduler(c, dict(k), opt) for c, k in kw["schedulers"]]
    if "lr_lambda" in kw:
        kind, v = kw["lr_lambda"]
        kw["lr_lambda"] = (lambda e, v=v: v ** e) if kind == "pow" else (lambda e, v=v: v)
    return getattr(torch.optim.lr_scheduler, cls)(opt, **kw) if cls != "ChainedScheduler" else \
        torch.optim.lr_scheduler.ChainedScheduler(kw["schedulers"])


def scheduler_case(fam, k, cls, kw, opt_cls, opt_kw):
    cid = f"lr_scheduler.{cls}.{k}"
    w, b = torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = getattr(torch.optim, opt_cls)([{"params": [w], "lr": 0.1}, {"params": [b], "lr": 0.05}], **opt_kw)
    sched = build_scheduler(cls, kw, opt)

    def momenta():
        return [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups]

    lrs, moms = [[g["lr"] for g in opt.param_groups]], [momenta()]
    for s in range(SCHED_STEPS):
        opt.step()
        if cls == "ReduceLROnPlateau":
            sched.step(PLATEAU_METRICS[s])
        else:
            sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append(momenta())
    kwargs = dict(kw, optimizer=opt_cls, optimizer_kwargs=[[n, v] for n, v in opt_kw.items()])
    if cls == "ReduceLROnPlateau":
        kwargs["metrics"] = PLATEAU_METRICS
    fam.cases.append({"id": cid, "op": f"lr_scheduler.{cls}", "variant": "", "family": fam.name, "dtype": "float64",
                      "input": None, "args": [], "kwargs": kwargs, "state": {}, "steps": [],
                      "outputs": [fam.put(f"{cid}.lr", torch.tensor(lrs, dtype=torch.float64)),
                                  fam.put(f"{cid}.momentum", torch.tensor(moms, dtype=torch.float64))]})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    mods, losses, opts = Family("nn_modules"), Family("losses"), Family("optim")
    for dtype in DTYPES:
        for fam, table in ((mods, MODULES), (losses, LOSSES)):
            for k, (cls, kw, inputs, *rest) in enumerate(table):
                module_case(fam, k, cls, kw, inputs, rest[0] if rest else {}, dtype)
        for k, (cls, kw) in enumerate(OPTIMIZERS):
            optimizer_case(opts, k, cls, kw, dtype)
        for k, (kw, steps) in enumerate(LBFGS):
            lbfgs_case(opts, k, kw, steps, dtype)
    for k, (cls, kw, opt_cls, opt_kw) in enumerate(SCHEDULERS):
        scheduler_case(opts, k, cls, kw, opt_cls, opt_kw)
    for fam in (mods, losses, opts):
        fam.save()


if __name__ == "__main__":
    sys.exit(main())
