#!/usr/bin/env bash
# Real-client check: installs the kernelspec into a temporary prefix and executes kernel/smoke.ipynb through
# Jupyter's own client tools (nbclient, nbformat) and the real kernel; prints its wall time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)

. kernel/ensure-rust.sh
# shellcheck disable=SC1091
. kernel/build.sh
venv=target/smoke-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -c kernel/constraints.txt nbclient nbformat

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
target/release/prunelab kernel install --prefix "$prefix"
# As kernel/setup.sh does: compiles the prelude's crates into a kernel build folder once (minutes on a new
# machine, seconds after), so the kernels below start in seconds.
target/release/prunelab warmup
JUPYTER_PATH="$prefix/share/jupyter" "$venv/bin/python" kernel/smoke_test.py kernel/smoke.ipynb
echo "kernel smoke check passed in $(( $(date +%s) - start )) s"
