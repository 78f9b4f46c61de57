#!/usr/bin/env bash
# Regenerates every oracle fixture from the pinned upstream libraries (CPU only), then
# the conformance baselines and README tables. The same pins draw the same inputs;
# PyTorch's CPU kernels can move outputs by an ulp between hosts. Needs the package
# registries once, to build oracle/.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x oracle/.venv/bin/python ]; then
  python3 -m venv oracle/.venv
  oracle/.venv/bin/pip install -q -r oracle/requirements.txt
fi
py=oracle/.venv/bin/python
$py oracle/gen_fixtures.py                 # core ops vs torch -> fixtures/core_ops.json
$py oracle/gen_autodiff.py                 # composites vs torch.autograd and mx transforms
$py oracle/conformance/torch_opinfo.py     # OpInfo cases -> fixtures/conformance/pytorch/
$py oracle/conformance/torch_modules.py    # nn modules (fixed weights), optim steps -> same
$py oracle/conformance/mlx_harvest.py      # MLX test-family cases -> fixtures/conformance/mlx/
$py oracle/gen_checkpoints.py              # torch.save files, a hostile pickle, the GPT twin's logits and 200-step curve
$py oracle/gen_random.py                   # torch generator streams, mlx key samples -> fixtures/conformance/random.json
$py oracle/gen_autocast.py                 # torch.autocast CPU policy, op by op -> fixtures/autocast.json
PSIONIC_UPDATE_BASELINE=1 cargo test -q --release -p psionic-conformance baseline
scripts/conformance_table.sh
