#!/usr/bin/env bash
# The module graphs of the workspace's crates from cargo-modules (its "uses" edges between modules, as
# rust-analyzer resolves them: a module's `use` items, and what each item's signature and body name; an
# `impl` block counts toward the module of its self type), and the cycles in them. `bash
# tools/module-graph.sh` checks every crate, prints each cycle with its edges, and exits 1 while there is
# one; `bash tools/module-graph.sh CRATE [--lib|--bin NAME]` checks one. cargo-modules 0.27.0 (the newest
# for Rust 1.95) is installed into target/tools the first time (a few minutes of compiling).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tool=target/tools/bin/cargo-modules
if [ ! -x "$tool" ]; then
  cargo install --locked --quiet cargo-modules@0.27.0 --root target/tools
fi
check() {
  echo "== $1"
  "$tool" modules dependencies -p "$@" --no-externs --no-fns --no-sysroot --no-traits --no-types \
    --no-owns 2>/dev/null | python3 tools/module_cycles.py
}
if [ $# -gt 0 ]; then
  check "$@"
  exit
fi
status=0
check prunelab --lib || status=1
check prunelab-plot --lib || status=1
check prunelab-prelude --lib || status=1
check prunelab-cli --bin prunelab || status=1
exit $status
