"""The PyTorch twin of `psionic bench`: the same workloads (names, shapes, dtypes, steps),
timed the same way (warm-up, then the median and quartiles of repeated runs) at each
thread count. Prints a table; --json writes the results in psionic bench's format.

    oracle/.venv/bin/python oracle/bench/torch_bench.py [--filter NAME] [--threads 1,2] [--json FILE]
"""
import argparse
import json
import math
import pathlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from models.gpt import GPT  # noqa: E402
from bench.timing import timed  # noqa: E402


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(dtype)


def matmul(m, k, n, dtype=torch.float32):
    a, b = randn(m, k, dtype=dtype), randn(k, n, dtype=dtype)
    return lambda: a @ b


def elementwise(fn, *shapes):
    xs = [randn(*s) for s in shapes]
    return lambda: fn(*xs)


def eager_adds():
    a, b = randn(16), randn(16)

    def run():
        for _ in range(1000):
            a + b
    return run


def backward_16():
    x, y = randn(16).requires_grad_(), randn(16).requires_grad_()
    return lambda: (x * y).sum().backward()


def conv_block():
    torch.manual_seed(0)
    c1, b1 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
    c2, b2 = nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
    x = randn(32, 64, 32, 32).requires_grad_()

    def run():
        h = F.relu(b1(c1(x)))
        F.relu(b2(c2(h)) + x).sum().backward()
    return run


def train_step(loss, opt, step=None):
    step = step or opt.step

    def run():
        loss().backward()
        step()
        opt.zero_grad()
    return run


def compiled_train_step(parts):
    """A training step with torch.compile: the loss (its forward, and through
    AOTAutograd its backward) and the optimizer's step compiled, as PyTorch's guides
    compile a training loop; compiled afresh for each thread count."""
    torch._dynamo.reset()
    loss, opt = parts()
    return train_step(torch.compile(loss), opt, torch.compile(opt.step))


def autocast_train_step(parts):
    """A training step with its forward pass under torch.autocast (CPU, bfloat16)."""
    loss, opt = parts()

    def cast_loss():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return loss()
    return train_step(cast_loss, opt)


def mlp_parts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = randn(128, 784), torch.arange(128) % 10
    return lambda: F.cross_entropy(model(x), y), opt


def sdpa_causal():
    q, k, v = (randn(16, 4, 128, 32).requires_grad_() for _ in range(3))
    return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()


def gpt_parts():
    torch.manual_seed(0)
    model = GPT(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=128)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = (torch.arange(16 * 129) % 65).reshape(16, 129)
    x, y = idx[:, :128].contiguous(), idx[:, 1:].contiguous()
    return lambda: model.loss(x, y), opt


def cnn_parts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64 * 8 * 8, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = randn(64, 3, 32, 32), torch.arange(64) % 10
    return lambda: F.cross_entropy(model(x), y), opt


def dataloader_epoch():
    ds = torch.utils.data.TensorDataset(randn(60_000, 784), torch.arange(60_000) % 10)
    loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0))

    def run():
        for _ in loader:
            pass
    return run


def chain10(a):
    h = (a * 1.5 + 0.25) * a
    h = (h.abs().sqrt() - 1.0) * 0.5
    return -(h + a) + 2.0


def silu_mul(x, y, z):
    return x * torch.sigmoid(x) * y + z


def gelu_tanh(a):
    inner = ((a * a * a) * 0.044715 + a) * math.sqrt(2.0 / math.pi)
    return (a * 0.5) * (torch.tanh(inner) + 1.0)


def softmax_prims(x):
    e = (x - x.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def layer_norm_prims(x, w, b):
    c = x - x.mean(-1, keepdim=True)
    var = (c * c).mean(-1, keepdim=True)
    return c * torch.rsqrt(var + 1e-5) * w + b


def compiled(fn, *shapes):
    """`fn` through torch.compile (default Inductor backend); compiled afresh for each
    thread count, since Inductor fixes its kernels' thread count when it compiles."""
    torch._dynamo.reset()
    return elementwise(torch.compile(fn), *shapes)


def pair(name, reps, fn, *shapes):
    """A compile workload's eager and compiled rows, as psionic's bench/compiled.rs."""
    return [(f"{name}_eager", reps, lambda: elementwise(fn, *shapes)),
            (f"{name}_compiled", reps, lambda: compiled(fn, *shapes))]


M = 1 << 22
WORKLOADS = [
    ("matmul_f32_256", 200, lambda: matmul(256, 256, 256)),
    ("matmul_f32_1024", 20, lambda: matmul(1024, 1024, 1024)),
    ("matmul_f32_2048", 6, lambda: matmul(2048, 2048, 2048)),
    ("matmul_f32_4096x512x4096", 6, lambda: matmul(4096, 512, 4096)),
    ("matmul_bf16_1024", 6, lambda: matmul(1024, 1024, 1024, torch.bfloat16)),
    ("matmul_f16_1024", 6, lambda: matmul(1024, 1024, 1024, torch.float16)),
    ("mul_add_4m", 30, lambda: elementwise(lambda a, b, c: a * b + c, (M,), (M,), (M,))),
    ("gelu_4m", 30, lambda: elementwise(F.gelu, (M,))),
    ("sum_rows_4096", 30, lambda: elementwise(lambda a: a.sum(1), (4096, 4096))),
    ("softmax_rows_4096", 20, lambda: elementwise(lambda a: a.softmax(-1), (4096, 4096))),
    ("layer_norm_64x512x768", 10,
     lambda: elementwise(lambda x, w, b: F.layer_norm(x, (768,), w, b, 1e-5), (64, 512, 768), (768,), (768,))),
    ("eager_add_16_x1000", 30, eager_adds),
    ("backward_16", 500, backward_16),
    ("conv_block_fwd_bwd", 5, conv_block),
    ("sdpa_causal_fwd_bwd", 20, sdpa_causal),
    ("dataloader_shuffle_epoch", 5, dataloader_epoch),
    ("train_mlp_784_512_512_10", 20, lambda: train_step(*mlp_parts())),
    ("train_mlp_784_512_512_10_compiled", 20, lambda: compiled_train_step(mlp_parts)),
    ("train_gpt_demo_b16_t128", 5, lambda: train_step(*gpt_parts())),
    ("train_gpt_demo_b16_t128_compiled", 5, lambda: compiled_train_step(gpt_parts)),
    ("train_cnn_32x32_b64", 5, lambda: train_step(*cnn_parts())),
    ("train_cnn_32x32_b64_compiled", 5, lambda: compiled_train_step(cnn_parts)),
    ("train_gpt_demo_b16_t128_autocast_bf16", 5, lambda: autocast_train_step(gpt_parts)),
    *pair("chain10_4m", 30, chain10, (M,)),
    *pair("silu_mul_4m", 30, silu_mul, (M,), (M,), (M,)),
    *pair("gelu_tanh_prims_4m", 30, gelu_tanh, (M,)),
    *pair("softmax_prims_4096", 20, softmax_prims, (4096, 4096)),
    *pair("layer_norm_prims_64x512x768", 10, layer_norm_prims, (64, 512, 768), (768,), (768,)),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter")
    ap.add_argument("--exact", action="store_true", help="match --filter against whole names only")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json")
    ap.add_argument("--reps-scale", type=float, default=1.0)
    a = ap.parse_args()
    torch.set_num_interop_threads(1)
    results = []
    print(f"{'workload':<28} {'threads':>7} {'median':>14} {'interquartile range':>24}")
    for name, reps, make in WORKLOADS:
        if a.filter and (a.filter != name if a.exact else a.filter not in name):
            continue
        for threads in [int(t) for t in a.threads.split(",")]:
            torch.set_num_threads(threads)
            n = max(3, round(reps * a.reps_scale))
            med, q1, q3 = timed(n, max(1, n // 10), make())
            print(f"{name:<28} {threads:>7} {med:>12.1f}us {q1:>11.1f} - {q3:>8.1f}us", flush=True)
            results.append({"workload": name, "threads": threads, "median_us": med, "q1_us": q1, "q3_us": q3,
                            "reps": n})
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"impl": "pytorch", "version": torch.__version__,
                                                    "results": results}, indent=1))


if __name__ == "__main__":
    main()
