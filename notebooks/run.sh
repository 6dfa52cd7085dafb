#!/usr/bin/env bash
# Executes every notebook in notebooks/ on a fresh prunelab kernel session (outputs written back into the
# .ipynb files), then renders them: an HTML site in target/site and, in target/blog, the posts and images
# of a Jekyll site (_posts/, assets/notebooks/). Prints each notebook's wall time. kernel/build.sh fetches the
# crates of Cargo.lock first (the network is needed only for crates not yet in the cargo home); cells then
# compile offline against exactly those versions.
#
#   notebooks/run.sh               # run and render
#   notebooks/run.sh --check       # re-execute and compare with the stored outputs instead of rewriting them
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
. kernel/ensure-rust.sh

# shellcheck disable=SC1091
. kernel/build.sh
# MNIST for notebook 04: the project's shared copy when this checkout has one (machines without internet),
# unless the caller named a folder; otherwise data::mnist() downloads it into its cache.
if [ -z "${PRUNELAB_MNIST_DIR:-}" ] && [ -f ../shared/data/mnist/train-images-idx3-ubyte.gz ]; then
  PRUNELAB_MNIST_DIR="$(cd ../shared/data/mnist && pwd)"
  export PRUNELAB_MNIST_DIR
fi
if [ "${1:-}" = "--check" ]; then
  target/release/prunelab check notebooks/*.ipynb
else
  target/release/prunelab run notebooks/*.ipynb
fi
rm -rf target/site target/blog
target/release/prunelab render notebooks/*.ipynb --out target/site --to html
target/release/prunelab render notebooks/*.ipynb --out target/blog --to jekyll
echo "site: target/site/index.html   Jekyll posts and images: target/blog/_posts, target/blog/assets"
