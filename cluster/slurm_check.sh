#!/usr/bin/env bash
# The sweep machinery through a real Slurm: starts a single-node cluster on this machine (cluster/slurm-local.sh),
# submits the job array that `prunelab sweep slurm` writes for a small spec (4 shards and a dependent merge),
# waits for it, and checks that the merged table equals one local process's, number for number (the odd shards
# run the portable kernels, the even ones the widest the CPU has). Then submits
# the same script again: every shard must find its cells done and skip them, and the merge must agree again.
#
#   bash cluster/slurm_check.sh [PRUNELAB_BINARY] [SPEC]
#
# Needs Debian's slurm-wlm and munge and root (.ci/run installs them). Prints the grid size, the wall time of
# one process and of the array, and the merged table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(realpath "${1:-target/release/prunelab}")
spec=${2:-sweeps/digits-weight-vs-unit.toml}
shards=4
work=$(mktemp -d "${TMPDIR:-/tmp}/prunelab-slurm.XXXXXX")
cluster="$work/cluster"
trap 'bash cluster/slurm-local.sh stop "$cluster" || true' EXIT

bash cluster/slurm-local.sh start "$cluster"
export SLURM_CONF="$cluster/slurm.conf"

"$bin" sweep plan "$spec" --shards "$shards"

# One process, every cell.
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
"$bin" sweep run "$spec" --out "$work/local" >"$work/local.log"
"$bin" sweep merge "$work/local" >/dev/null
t_local=$(( $(ms) - t0 ))

# The job array, as a user submits it.
"$bin" sweep slurm "$spec" --array "$shards" --out "$work/slurm" --cpus-per-task 1 --mem 1G \
  --time 00:10:00 --write "$work/submit.sh"
# A partition of mixed nodes: the odd shards compute with the portable kernels, the even ones with the
# widest this CPU has; the merged table must still equal one process's byte for byte.
grep -q '^exec .* sweep run ' "$work/submit.sh" || { echo "no shard command in the submit script" >&2; exit 1; }
sed -i 's/^exec .* sweep run /if [ $(( SLURM_ARRAY_TASK_ID % 2 )) = 1 ]; then export PRUNELAB_SIMD=portable; fi\n&/' \
  "$work/submit.sh"
submit_and_wait() {
  local t0 out merge state
  t0=$(ms)
  out=$(bash "$work/submit.sh")
  echo "$out"
  merge=$(echo "$out" | sed -n 's/.*merge as job \([0-9]*\).*/\1/p')
  [ -n "$merge" ] || { echo "no merge job id in the submit script's output" >&2; exit 1; }
  for _ in $(seq 1 600); do
    if ! squeue -h -j "$merge" 2>/dev/null | grep -q .; then break; fi
    sleep 0.5
  done
  state=$(scontrol show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  if [ "$state" != COMPLETED ] || [ ! -f "$work/slurm/merged.csv" ]; then
    echo "the merge job $merge ended in state '${state:-unknown}'; logs:" >&2
    tail -n 30 "$work"/slurm/logs/*.out >&2 || true
    squeue >&2 || true
    exit 1
  fi
  T_ARRAY=$(( $(ms) - t0 ))
}
submit_and_wait
t_array=$T_ARRAY

# Same numbers: the merged tables and every cell's rows (wall times aside) are identical text.
cmp "$work/local/merged.csv" "$work/slurm/merged.csv" || {
  diff "$work/local/merged.csv" "$work/slurm/merged.csv" | head -20 >&2
  echo "the array's merged table differs from one process's" >&2; exit 1; }
cut -d, -f1-5 "$work/local/cells.csv" > "$work/local.cells"
cut -d, -f1-5 "$work/slurm/cells.csv" > "$work/slurm.cells"
cmp "$work/local.cells" "$work/slurm.cells" || { echo "cell results differ" >&2; exit 1; }
n_files=$(ls "$work"/slurm/shard-*-of-$shards.jsonl | wc -l)
[ "$n_files" = "$shards" ] || { echo "expected $shards shard files, found $n_files" >&2; exit 1; }
grep -h "^shard" "$work"/slurm/logs/shard-*.out
grep -h "kernels:" "$work"/slurm/logs/shard-*.out | sed 's/.*: \(shard [0-9]*\/[0-9]*\).*\(kernels: [a-z0-9]*\).*/\1: \2/'
grep -q "kernels: portable" "$work"/slurm/logs/shard-1.out || {
  echo "shard 1 did not run the portable kernels" >&2; exit 1; }

# Submitted again (a re-queued study): every shard skips its done cells; the merge agrees again.
cp "$work/slurm/merged.csv" "$work/merged-first.csv"
submit_and_wait
for f in "$work"/slurm/logs/shard-*.out; do
  tail -n 1 "$f" | grep -q "ran 0 cell(s)" || { echo "a resubmitted shard ran cells again: $f" >&2; tail -n 3 "$f" >&2; exit 1; }
done
cmp "$work/merged-first.csv" "$work/slurm/merged.csv"

cells=$(tail -n +2 "$work/slurm/cells.csv" | cut -d, -f1-3 | sort -u | wc -l)
echo
cat "$work/slurm/logs/merge.out"
echo
echo "grid: $cells cells, $shards shards on a $(nproc)-CPU local Slurm node"
secs() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }
echo "one process: $(secs "$t_local") s; Slurm job array (submit to merged table): $(secs "$t_array") s;" \
  "resubmitted, all done: $(secs "$T_ARRAY") s"
echo "the Slurm check passed: the array's merged table equals one process's, and a resubmission skips every cell"
rm -rf "$work/local" "$work/slurm"
