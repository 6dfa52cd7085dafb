#!/usr/bin/env bash
# Side-by-side benchmark of prunelab against scikit-learn, PyTorch (default and oneDNN), torch.sparse,
# scipy.sparse, ONNX Runtime and DeepSparse 1.8 on the same machine, in one run: sets up two Python virtual
# environments (torch, scikit-learn, scipy, onnx, onnxruntime from the Python package index, several GB the
# first time; DeepSparse 1.8 in its own, with Python 3.10 where pyenv or the system has it), builds prunelab's
# side in release, runs every workload with 1 thread and with all cores, and prints one table: per workload
# prunelab against the best peer, every peer's time and output check, and GFLOP/s beside the measured peak.
#
#   crates/prunelab/benches/peers/run.sh            # all workloads
#   crates/prunelab/benches/peers/run.sh a c        # some of them
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
. kernel/ensure-rust.sh

venv=target/peers-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Pinned versions (requirements.txt): the README quotes the table these gave.
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here"/requirements.txt
# DeepSparse 1.8 installs on Python 3.8-3.11 (3.10 preferred). A candidate counts only if it runs and says
# so: pyenv's shim `python3.10` is on the PATH even where that version is not selected, and fails when run.
deepsparse_python() {
  local c
  for want in 3.10 3.11 3.9 3.8; do
    for c in "$(command -v "python$want" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python \
      /usr/bin/python"$want" /usr/local/bin/python"$want" python3; do
      if [ -n "$c" ] && "$c" -c "import sys, venv; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" \
        >/dev/null 2>&1; then
        echo "$c"
        return 0
      fi
    done
  done
  return 1
}
ds=target/deepsparse-venv
ds_status=target/peers/deepsparse-status.txt  # why there are no DeepSparse rows, if there are none
mkdir -p target/peers
rm -f "$ds_status"
if [ ! -x "$ds/bin/python" ]; then
  if py=$(deepsparse_python); then
    echo "DeepSparse's venv: $py ($("$py" --version 2>&1))" >&2
    "$py" -m venv "$ds" || echo "no DeepSparse rows: $py could not make a virtual environment" > "$ds_status"
  else
    echo "no DeepSparse rows: no Python 3.8-3.11 that runs (pyenv install 3.10 gives one)" > "$ds_status"
  fi
fi
if [ -x "$ds/bin/python" ] && ! "$ds/bin/pip" install --quiet --disable-pip-version-check \
  -r "$here"/requirements-deepsparse.txt; then
  echo "no DeepSparse rows: deepsparse could not be installed into $ds ($("$ds/bin/python" --version 2>&1))" > "$ds_status"
fi
if [ -f "$ds_status" ]; then
  cat "$ds_status" >&2
fi

cargo bench -p prunelab --bench peers --no-run
bench=$(cargo bench -p prunelab --bench peers --no-run --message-format=json 2>/dev/null \
  | "$venv/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "peers" and m.get("executable"):
        print(m["executable"])')

all=$(nproc)
results=target/peers/results.jsonl  # kept: table.py can print the table again from it
: > "$results"
for threads in 1 "$all"; do
  export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  echo "running with $threads thread(s)..." >&2
  "$bench" "$@" | sed "s/^{/{\"side\": \"prunelab\", \"threads\": $threads, /" >> "$results"
  "$venv/bin/python" "$here/peers.py" "$threads" "$@" | sed "s/^{/{\"side\": \"peer\", \"threads\": $threads, /" >> "$results"
  if [ ! -f "$ds_status" ] && { [ $# -eq 0 ] || [[ " $* " == *" c "* ]]; }; then
    "$ds/bin/python" "$here/deepsparse_side.py" "$threads" 2> >(grep -v '^DeepSparse, Copyright' >&2) \
      | sed "s/^{/{\"side\": \"peer\", \"threads\": $threads, /" >> "$results" \
      || echo "no DeepSparse rows for $threads thread(s): deepsparse_side.py failed" >> "$ds_status"
  fi
done
"$venv/bin/python" "$here/table.py" "$results" ${ds_status:+--missing "$ds_status"}
