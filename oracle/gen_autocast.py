"""Writes ../fixtures/autocast.json: PyTorch's CPU autocast policy, probed op by op.

For each op, its result under torch.autocast("cpu", dtype=torch.bfloat16) from float32
inputs and from bfloat16 inputs: the result's dtype (which list the op is on: bfloat16
from float32 inputs for the lower-precision list, float32 from bfloat16 inputs for the
float32 list, the inputs' own dtype otherwise) and, from float32 inputs, its values.
Inputs are a formula both sides compute (`t` below), so no inputs are stored.

Run with the pinned venv:  oracle/.venv/bin/python oracle/gen_autocast.py
"""
import json, os
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "autocast.json")


def t(*s, dt=torch.float32, k=0):
    """sin(0.37 i + k) * 1.5 over the flat index i, computed in f64 and rounded once."""
    n = 1
    for d in s:
        n *= d
    return (torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + k) * 1.5).reshape(s).to(dt)


def pos_def(d):
    a = t(3, 3, dt=torch.float64)
    return (a @ a.T + torch.eye(3, dtype=torch.float64)).to(d)


CLASSES = torch.tensor([0, 1, 2, 4])
PROBES = {
    # The lower-precision list.
    "matmul": lambda d: torch.matmul(t(4, 8, dt=d), t(8, 3, dt=d, k=1)),
    "mm": lambda d: torch.mm(t(4, 8, dt=d), t(8, 3, dt=d, k=1)),
    "bmm": lambda d: torch.bmm(t(2, 4, 8, dt=d), t(2, 8, 3, dt=d, k=1)),
    "addmm": lambda d: torch.addmm(t(4, 3, dt=d, k=2), t(4, 8, dt=d), t(8, 3, dt=d, k=1)),
    "baddbmm": lambda d: torch.baddbmm(t(2, 4, 3, dt=d, k=2), t(2, 4, 8, dt=d), t(2, 8, 3, dt=d, k=1)),
    "linear": lambda d: F.linear(t(4, 8, dt=d), t(3, 8, dt=d, k=1), t(3, dt=d, k=2)),
    "conv1d": lambda d: F.conv1d(t(1, 2, 9, dt=d), t(3, 2, 3, dt=d, k=1), t(3, dt=d, k=2)),
    "conv2d": lambda d: F.conv2d(t(1, 2, 5, 5, dt=d), t(3, 2, 3, 3, dt=d, k=1), t(3, dt=d, k=2)),
    "conv_transpose2d": lambda d: F.conv_transpose2d(t(1, 2, 5, 5, dt=d), t(2, 3, 3, 3, dt=d, k=1)),
    "prelu": lambda d: F.prelu(t(2, 3, 4, dt=d), t(3, dt=d, k=1)),
    "scaled_dot_product_attention": lambda d: F.scaled_dot_product_attention(
        t(1, 2, 4, 8, dt=d), t(1, 2, 4, 8, dt=d, k=1), t(1, 2, 4, 8, dt=d, k=2)),
    # The float32 list.
    "mse_loss": lambda d: F.mse_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1)),
    "l1_loss": lambda d: F.l1_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1)),
    "smooth_l1_loss": lambda d: F.smooth_l1_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1)),
    "huber_loss": lambda d: F.huber_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1)),
    "nll_loss": lambda d: F.nll_loss(t(4, 5, dt=d), CLASSES),
    "cross_entropy": lambda d: F.cross_entropy(t(4, 5, dt=d), CLASSES),
    "binary_cross_entropy": lambda d: F.binary_cross_entropy(torch.sigmoid(t(4, 3, dt=d)),
                                                             torch.sigmoid(t(4, 3, dt=d, k=1))),
    "binary_cross_entropy_with_logits": lambda d: F.binary_cross_entropy_with_logits(
        t(4, 3, dt=d), torch.sigmoid(t(4, 3, dt=d, k=1))),
    "kl_div": lambda d: F.kl_div(t(4, 3, dt=d), t(4, 3, dt=d, k=1).abs(), reduction="batchmean"),
    "soft_margin_loss": lambda d: F.soft_margin_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1).sign()),
    "margin_ranking_loss": lambda d: F.margin_ranking_loss(t(4, dt=d), t(4, dt=d, k=1), t(4, dt=d, k=2).sign()),
    "hinge_embedding_loss": lambda d: F.hinge_embedding_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1).sign()),
    "poisson_nll_loss": lambda d: F.poisson_nll_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1).abs()),
    "cosine_embedding_loss": lambda d: F.cosine_embedding_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1),
                                                               t(4, dt=d, k=2).sign()),
    "triplet_margin_loss": lambda d: F.triplet_margin_loss(t(4, 3, dt=d), t(4, 3, dt=d, k=1), t(4, 3, dt=d, k=2)),
    "multi_margin_loss": lambda d: F.multi_margin_loss(t(4, 5, dt=d), CLASSES),
    "prod": lambda d: torch.prod(t(4, 3, dt=d)),
    "trace": lambda d: torch.trace(t(4, 4, dt=d)),
    "inverse": lambda d: torch.linalg.inv(pos_def(d)),
    "cholesky": lambda d: torch.linalg.cholesky(pos_def(d)),
    "quantile": lambda d: torch.quantile(t(10, dt=d), torch.tensor(0.3, dtype=d)),
    "avg_pool3d": lambda d: F.avg_pool3d(t(1, 1, 4, 4, 4, dt=d), 2),
    "max_pool3d": lambda d: F.max_pool3d(t(1, 1, 4, 4, 4, dt=d), 2),
    "adaptive_avg_pool3d": lambda d: F.adaptive_avg_pool3d(t(1, 1, 4, 4, 4, dt=d), 2),
    "reflection_pad1d": lambda d: F.pad(t(1, 2, 5, dt=d), (2, 2), mode="reflect"),
    "replication_pad2d": lambda d: F.pad(t(1, 2, 5, 5, dt=d), (1, 1, 1, 1), mode="replicate"),
    "grid_sample": lambda d: F.grid_sample(t(1, 1, 4, 4, dt=d), t(1, 3, 3, 2, dt=d, k=1).tanh(), align_corners=False),
    "linalg_solve": lambda d: torch.linalg.solve(pos_def(d), t(3, 2, dt=d, k=1)),
    "linalg_lstsq": lambda d: torch.linalg.lstsq(pos_def(d), t(3, 2, dt=d, k=1)).solution,
    "qr": lambda d: torch.linalg.qr(pos_def(d))[1],
    "svdvals": lambda d: torch.linalg.svdvals(t(3, 4, dt=d)),
    "eigvalsh": lambda d: torch.linalg.eigvalsh(pos_def(d)),
    # On neither list: they run in their inputs' dtype, or, made of listed ops (einsum,
    # tensordot, matrix_power), in those ops' dtypes.
    "matrix_exp": lambda d: torch.linalg.matrix_exp(t(3, 3, dt=d) * 0.3),
    "matrix_power": lambda d: torch.linalg.matrix_power(t(3, 3, dt=d), 3),
    "einsum": lambda d: torch.einsum("ij,jk->ik", t(3, 4, dt=d), t(4, 2, dt=d, k=1)),
    "tensordot": lambda d: torch.tensordot(t(3, 4, dt=d), t(4, 2, dt=d, k=1), 1),
    "adaptive_avg_pool2d": lambda d: F.adaptive_avg_pool2d(t(1, 1, 5, 5, dt=d), 3),
    "interpolate_bicubic": lambda d: F.interpolate(t(1, 1, 4, 4, dt=d), size=6, mode="bicubic"),
    "add": lambda d: t(4, dt=d) + t(4, dt=d, k=1),
    "exp": lambda d: torch.exp(t(4, dt=d)),
    "softmax": lambda d: torch.softmax(t(4, 5, dt=d), -1),
    "log_softmax": lambda d: torch.log_softmax(t(4, 5, dt=d), -1),
    "layer_norm": lambda d: F.layer_norm(t(4, 5, dt=d), (5,)),
    "gelu": lambda d: F.gelu(t(4, dt=d)),
    "sum": lambda d: t(4, 3, dt=d).sum(),
    "mean": lambda d: t(4, 3, dt=d).mean(),
    "cumsum": lambda d: torch.cumsum(t(4, dt=d), 0),
    "max_pool2d": lambda d: F.max_pool2d(t(1, 1, 4, 4, dt=d), 2),
    "mv": lambda d: torch.mv(t(4, 8, dt=d), t(8, dt=d, k=1)),
    "cat_mixed": lambda d: torch.cat([t(2, dt=d), t(2, dt=torch.bfloat16)]),
}

NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float64: "float64"}
cases = []
for name, f in PROBES.items():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out32, out16 = f(torch.float32), f(torch.bfloat16)
    cases.append({"op": name, "from_float32": NAMES[out32.dtype], "from_bfloat16": NAMES[out16.dtype],
                  "shape": list(out32.shape), "values": out32.double().flatten().tolist()})
with open(OUT, "w") as fh:
    json.dump({"torch": torch.__version__, "dtype": "bfloat16", "cases": cases}, fh, indent=1)
print(f"wrote {len(cases)} autocast probes to {OUT}")

# GradScaler: a parameter stepped by SGD from given gradients (as if already scaled), some
# of them non-finite; growth every 3 clean steps. Records the scale, the growth tracker,
# whether the step ran and the parameter after each step, and the state_dict at the end.
w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
opt = torch.optim.SGD([w], lr=0.1)
scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
GRADS = [[512.0, -1024.0, 3.0], [100.0, 7.0, -9.0], [float("inf"), 1.0, 1.0], [64.0, 32.0, 16.0],
         [1.0, float("nan"), 2.0], [2048.0, 4096.0, -8192.0], [5.0, 6.0, 7.0], [8.0, 9.0, 10.0],
         [300.0, -200.0, 100.0], [3.0, 2.0, 1.0]]
steps = []
for g in GRADS:
    scaled = scaler.scale(torch.tensor(1.5)).item()
    w.grad = torch.tensor(g)
    before = w.detach().clone()
    scaler.step(opt)
    stepped = not torch.equal(before, w.detach())
    scaler.update()
    steps.append({"grad": [v if v == v and abs(v) != float("inf") else str(v) for v in g],
                  "scale": scaler.get_scale(), "growth_tracker": scaler._get_growth_tracker(),
                  "stepped": stepped, "param": w.detach().double().tolist(),
                  "scaled_loss": scaled})
    opt.zero_grad()
with open(OUT) as fh:
    data = json.load(fh)
data["grad_scaler"] = {"init_scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 3,
                       "lr": 0.1, "param": [1.0, -2.0, 0.5], "steps": steps,
                       "state_dict": {k: (v if not torch.is_tensor(v) else v.item())
                                      for k, v in scaler.state_dict().items()}}
with open(OUT, "w") as fh:
    json.dump(data, fh, indent=1)
print(f"wrote {len(steps)} GradScaler steps")
