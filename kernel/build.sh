#!/usr/bin/env bash
# Sourced by the kernel and notebook scripts. First `cargo fetch --locked`: every crate of the workspace's
# Cargo.lock, for every platform, into the cargo home (needs the network only for crates not there yet). The
# kernel compiles notebook cells offline against exactly these versions (each kernel build folder starts from a
# copy of Cargo.lock), and evcxr's `cargo metadata` reads the crates of other platforms too, which a build alone
# would not download. Then builds target/release/prunelab with exactly the units of the README's test command
# (`cargo test --workspace --release`). Building it with `cargo build -p ...` instead resolves other features
# (serde's `alloc`, for one) and compiles evcxr and its rust-analyzer crates a second time; this way the tests,
# the kernel, the smoke check and the notebooks share one build.
cargo fetch --locked
cargo test --workspace --release --no-run
test -x target/release/prunelab
