#!/usr/bin/env bash
# The core crate's module graph from cargo-modules (its "uses" edges between modules, as rust-analyzer
# resolves them), and the cycles in it: `bash tools/module-graph.sh` prints each cycle with its edges and
# exits 1 while there is one. cargo-modules 0.27.0 (the newest for Rust 1.95) is installed into
# target/tools the first time (a few minutes of compiling).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tool=target/tools/bin/cargo-modules
if [ ! -x "$tool" ]; then
  cargo install --locked cargo-modules@0.27.0 --root target/tools
fi
"$tool" modules dependencies -p "${1:-prunelab}" --lib --no-externs --no-fns --no-sysroot --no-traits \
  --no-types --no-owns | python3 tools/module_cycles.py
