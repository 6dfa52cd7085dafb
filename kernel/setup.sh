#!/usr/bin/env bash
# Sets up the "Rust (prunelab)" Jupyter kernel on a fresh machine: the rust-src component (evcxr's type
# inference reads the standard library's sources), every crate of Cargo.lock for every platform (`cargo fetch
# --locked`, in kernel/build.sh), a release build of the `prunelab` binary, the kernelspec, and a warm-up that
# fills evcxr's build cache so the first cell runs in seconds. This is the step that needs the network; after
# it the kernel works offline, with exactly the versions in Cargo.lock.
#
#   kernel/setup.sh                 # kernelspec for the current user
#   kernel/setup.sh --prefix DIR    # kernelspec under DIR/share/jupyter (e.g. a virtual environment)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

. kernel/ensure-rust.sh
# shellcheck disable=SC1091
. kernel/build.sh
target/release/prunelab kernel install "$@"
target/release/prunelab warmup
