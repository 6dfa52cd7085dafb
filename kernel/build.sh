#!/usr/bin/env bash
# Sourced by the kernel and notebook scripts: builds target/release/prunelab with exactly the units of the
# README's test command (`cargo test --workspace --release`). Building it with `cargo build -p ...` instead
# resolves other features (serde's `alloc`, for one) and compiles evcxr and its rust-analyzer crates a second
# time; this way the tests, the kernel, the smoke check and the notebooks share one build.
cargo test --workspace --release --no-run
test -x target/release/prunelab
