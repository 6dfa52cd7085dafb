#!/usr/bin/env bash
# prunelab's PyTorch (safetensors) interchange, checked with the real safetensors library and numpy:
#   1. creates the virtual environment target/torch-venv if missing and installs requirements.txt into it;
#   2. regenerates the reference fixtures (make_fixtures.py) into a temporary folder and fails unless they
#      are byte-identical to the committed crates/prunelab/tests/data/torch/ (the committed files are what
#      the script makes: after changing make_fixtures.py, rerun it into that folder and commit the result),
#      and likewise the ONNX fixtures (make_onnx_fixtures.py) against crates/prunelab/tests/data/onnx/;
#   3. with DIR, checks prunelab's exports in DIR (dense/masked/compacted.safetensors and forward.json)
#      with check_export.py, and its ONNX files (*.onnx named in forward.json) with the onnx checker and
#      ONNX Runtime (check_onnx.py).
# Usage: python/torch-fixtures/check.sh [DIR]
set -euo pipefail
if [ $# -gt 1 ]; then
  echo "usage: $0 [DIR]" >&2
  exit 2
fi
export_dir=""
if [ $# -eq 1 ]; then
  export_dir=$(cd "$1" && pwd)
fi
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=python/torch-fixtures
committed=crates/prunelab/tests/data/torch
committed_onnx=crates/prunelab/tests/data/onnx

venv=target/torch-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

fresh=$(mktemp -d "${TMPDIR:-/tmp}/prunelab-fixtures.XXXXXX")
trap 'rm -rf "$fresh"' EXIT
# Each generator and the folder its committed output is in.
for pair in "make_fixtures.py:$committed" "make_onnx_fixtures.py:$committed_onnx"; do
  script=${pair%%:*}
  folder=${pair#*:}
  rm -rf "$fresh/out" && mkdir "$fresh/out"
  "$venv/bin/python" "$here/$script" "$fresh/out"
  if ! diff -r "$fresh/out" "$folder"; then
    echo "FAIL: $folder differs from what $here/$script writes;" \
      "regenerate with: $venv/bin/python $here/$script $folder" >&2
    exit 1
  fi
  echo "ok fixtures: $folder is what $script writes ($(cd "$folder" && echo *))"
done

if [ -n "$export_dir" ]; then
  "$venv/bin/python" "$here/check_export.py" "$export_dir"
  "$venv/bin/python" "$here/check_onnx.py" "$export_dir"
fi
