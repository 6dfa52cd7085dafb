#!/usr/bin/env bash
# The kernel as JupyterLab meets it: the messaging stress test (connect, nudge, disconnect mid-request,
# malformed requests, reconnect; kernel/stress_messaging.py), then OPENS first opens of a notebook in real
# JupyterLab in headless Chromium, each after a fresh server start, with warm and cold build slots and busy
# CPUs (kernel/lab_check.py). Installs Debian's chromium and chromium-driver where they are missing.
# Usage: kernel/lab.sh [OPENS] [ROUNDS]   (defaults 20 and 50)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
opens=${1:-20}
rounds=${2:-50}
start=$(date +%s)

. kernel/ensure-rust.sh
# shellcheck disable=SC1091
. kernel/build.sh
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
venv=target/lab-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -c kernel/constraints.txt jupyterlab selenium pyzmq jupyter_client

prefix=$(mktemp -d)
artifacts=$(mktemp -d "${TMPDIR:-/tmp}/prunelab-lab.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
target/release/prunelab kernel install --prefix "$prefix"
target/release/prunelab warmup
export JUPYTER_PATH="$prefix/share/jupyter"
"$venv/bin/python" kernel/stress_messaging.py "$rounds" 2> >(grep -v 'Skipped a malformed message' >&2)
"$venv/bin/python" kernel/lab_check.py "$opens" "$artifacts"
rm -rf "$artifacts"
echo "JupyterLab check passed in $(( $(date +%s) - start )) s"
