#!/usr/bin/env bash
# Sourced by the project's scripts: makes `cargo` available (installing rustup's minimal profile on a machine
# without Rust) and adds the rust-src component that evcxr's type inference reads.
if ! command -v cargo >/dev/null 2>&1; then
  if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  else
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
fi
rustup component add rust-src >/dev/null 2>&1 || rustup component add rust-src
