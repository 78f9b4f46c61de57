#!/usr/bin/env bash
# Regenerates the conformance table in README.md from a fresh run of the suite
# (between the conformance markers). A test checks that the README matches the results.
set -euo pipefail
cd "$(dirname "$0")/.."
table="$(cargo run --quiet --release -p psionic -- conformance)"
python3 - "$table" <<'PY'
import re, sys
table = sys.argv[1].rstrip("\n") + "\n"
readme = open("README.md").read()
begin, end = "<!-- conformance:begin -->\n", "<!-- conformance:end -->"
a, b = readme.index(begin) + len(begin), readme.index(end)
open("README.md", "w").write(readme[:a] + table + readme[b:])
PY
echo "README.md conformance table updated"
