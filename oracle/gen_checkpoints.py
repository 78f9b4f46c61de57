"""Checkpoint fixtures from the real PyTorch -> fixtures/checkpoints/.

- torch_state.pt: every dtype, a transposed (strided) tensor, two views of one storage,
  a scalar, an empty tensor, nested containers and non-tensor values; torch_state.json
  holds their expected values.
- malicious_os_system.pt: a pickle whose REDUCE calls os.system (never to be run).
- gpt_small.pt: initial weights of the GPT twin (models/gpt.py); gpt_small.json: its
  logits on fixed ids, and a 200-step AdamW training run from those weights (the batch
  offsets a seeded DataLoader drew and the loss of every step).
- psionic_written.pt: `psionic checkpoint convert` of torch_state.pt's state dict,
  loaded back here with torch.load(weights_only=True) and compared tensor by tensor
  (the result is recorded in psionic_written.json).
"""
import json
import os
import pathlib
import subprocess
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from models.gpt import GPT  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "checkpoints"
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)


def values(t):
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
            "values": t.reshape(-1).to(torch.float64).tolist()}


def state_fixture():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(3, 4, generator=g)
    sd = {
        "f32": torch.randn(2, 3, generator=g),
        "f64": torch.randn(4, generator=g, dtype=torch.float64),
        "f16": torch.randn(2, 2, generator=g).half(),
        "bf16": torch.randn(3, generator=g).bfloat16(),
        "i64": torch.arange(-3, 3),
        "i32": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "i16": torch.tensor([-7, 8], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "transposed": base.t(),
        "row1": base[1],
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.ones(2)),
    }
    obj = {"model": sd, "step": 3, "lr": 0.1, "name": "fixture", "layers": [torch.ones(1), torch.zeros(1)]}
    torch.save(obj, OUT / "torch_state.pt")
    flat = {f"model.{k}": values(v.detach()) for k, v in sd.items()}
    flat["layers.0"] = values(torch.ones(1))
    flat["layers.1"] = values(torch.zeros(1))
    (OUT / "torch_state.json").write_text(json.dumps(flat, indent=1) + "\n")
    torch.save({k: v.detach() for k, v in sd.items()}, OUT / "torch_state_dict.pt")


class Pwn:
    def __reduce__(self):
        return (os.system, ("echo psionic-was-pwned > /tmp/psionic-pwned",))


def malicious_fixture():
    torch.save({"weight": torch.ones(2), "payload": Pwn()}, OUT / "malicious_os_system.pt")


def gpt_fixture():
    text = (ROOT / "data" / "shakespeare.txt").read_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    cfg = dict(vocab_size=len(chars), block_size=32, n_layer=2, n_head=4, n_embd=64)
    torch.manual_seed(0)
    model = GPT(**cfg)
    torch.save(model.state_dict(), OUT / "gpt_small.pt")
    ids = torch.tensor([[stoi[c] for c in text[:16]], [stoi[c] for c in text[100:116]]])
    with torch.no_grad():
        logits = model(ids)

    # Training: windows of the first 20,000 characters, a seeded shuffle, AdamW with
    # clipping, 200 steps.
    tokens = torch.tensor([stoi[c] for c in text[:20000]])
    T, B, steps = cfg["block_size"], 8, 200

    class Windows(torch.utils.data.Dataset):
        def __len__(self):
            return len(tokens) - T

        def __getitem__(self, i):
            return tokens[i:i + T], tokens[i + 1:i + T + 1], i

    loader = torch.utils.data.DataLoader(Windows(), batch_size=B, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(7))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    losses, offsets = [], []
    it = iter(loader)
    for _ in range(steps):
        x, y, off = next(it)
        loss = model.loss(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        offsets.extend(off.tolist())
    fixture = {
        "config": cfg, "ids": ids.tolist(), "logits": logits.reshape(-1).tolist(),
        "train": {"chars": 20000, "batch": B, "seed": 7, "lr": 1e-3, "betas": [0.9, 0.99],
                  "weight_decay": 0.1, "clip": 1.0, "offsets": offsets, "losses": losses},
    }
    (OUT / "gpt_small.json").write_text(json.dumps(fixture) + "\n")


def psionic_written():
    src, dst = OUT / "torch_state_dict.pt", OUT / "psionic_written.pt"
    subprocess.run(["cargo", "run", "--release", "-q", "-p", "psionic", "--", "checkpoint", "convert", str(src), str(dst)],
                   check=True, cwd=ROOT)
    theirs = torch.load(src, weights_only=True)
    ours = torch.load(dst, weights_only=True)
    result = {}
    for k, v in theirs.items():
        o = ours[k]
        result[k] = bool(o.dtype == v.dtype and o.shape == v.shape and torch.equal(o, v.detach()))
    result["same_keys_in_order"] = list(ours.keys()) == list(theirs.keys())
    (OUT / "psionic_written.json").write_text(json.dumps(result, indent=1) + "\n")
    bad = [k for k, ok in result.items() if not ok]
    if bad:
        sys.exit(f"torch.load(weights_only=True) of a Psionic file differs: {bad}")


if __name__ == "__main__":
    state_fixture()
    malicious_fixture()
    gpt_fixture()
    psionic_written()
    print("checkpoint fixtures written to", OUT)
