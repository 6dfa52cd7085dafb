#!/usr/bin/env bash
# Side-by-side benchmark of prunelab against scikit-learn and PyTorch on the same machine, in one run:
# sets up its own Python virtual environment (torch and scikit-learn from the Python package index, several
# GB the first time), builds prunelab's side in release, runs every workload with 1 thread and with all
# cores, and prints one table: workload, threads, prunelab, peer, ratio, and GFLOP/s beside the machine's peak.
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
"$venv/bin/pip" install --quiet --disable-pip-version-check torch scikit-learn numpy scipy

cargo bench -p prunelab --bench peers --no-run
bench=$(cargo bench -p prunelab --bench peers --no-run --message-format=json 2>/dev/null \
  | "$venv/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "peers" and m.get("executable"):
        print(m["executable"])')

all=$(nproc)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for threads in 1 "$all"; do
  export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  echo "running with $threads thread(s)..." >&2
  "$bench" "$@" | sed "s/^{/{\"side\": \"prunelab\", \"threads\": $threads, /" >> "$results"
  "$venv/bin/python" "$here/peers.py" "$threads" "$@" | sed "s/^{/{\"side\": \"peer\", \"threads\": $threads, /" >> "$results"
done
"$venv/bin/python" "$here/table.py" "$results"
