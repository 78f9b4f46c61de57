#!/usr/bin/env bash
# Regenerates ARCHITECTURE.md's table of primitives from their definitions
# (`Prim::TABLE` in crates/psionic-array/src/prim/mod.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
PSIONIC_BLESS=1 cargo test -p psionic-array --lib -- tests::structure::architecture_lists_every_primitive_where_it_is_defined
