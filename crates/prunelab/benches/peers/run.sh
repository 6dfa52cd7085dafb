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
ds=target/deepsparse-venv
if [ ! -x "$ds/bin/python" ]; then
  py=$(command -v python3.10 || ls "$HOME"/.pyenv/versions/3.10*/bin/python 2>/dev/null | head -n1 || true)
  "${py:-python3}" -m venv "$ds"
fi
"$ds/bin/pip" install --quiet --disable-pip-version-check -r "$here"/requirements-deepsparse.txt || echo "DeepSparse could not be installed: no DeepSparse rows" >&2

cargo bench -p prunelab --bench peers --no-run
bench=$(cargo bench -p prunelab --bench peers --no-run --message-format=json 2>/dev/null \
  | "$venv/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "peers" and m.get("executable"):
        print(m["executable"])')

all=$(nproc)
mkdir -p target/peers
results=target/peers/results.jsonl  # kept: table.py can print the table again from it
: > "$results"
for threads in 1 "$all"; do
  export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  echo "running with $threads thread(s)..." >&2
  "$bench" "$@" | sed "s/^{/{\"side\": \"prunelab\", \"threads\": $threads, /" >> "$results"
  "$venv/bin/python" "$here/peers.py" "$threads" "$@" | sed "s/^{/{\"side\": \"peer\", \"threads\": $threads, /" >> "$results"
  if [ -x "$ds/bin/python" ] && { [ $# -eq 0 ] || [[ " $* " == *" c "* ]]; }; then
    "$ds/bin/python" "$here/deepsparse_side.py" "$threads" 2> >(grep -v '^DeepSparse, Copyright' >&2) \
      | sed "s/^{/{\"side\": \"peer\", \"threads\": $threads, /" >> "$results" || echo "DeepSparse run failed" >&2
  fi
done
"$venv/bin/python" "$here/table.py" "$results"
