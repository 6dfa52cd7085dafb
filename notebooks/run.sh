#!/usr/bin/env bash
# Executes every notebook in notebooks/ on a fresh prunelab kernel session (outputs written back into the
# .ipynb files), then renders them: an HTML site in target/site and Markdown with front matter for a Jekyll
# blog in target/blog. Prints each notebook's wall time.
#
#   notebooks/run.sh               # run and render
#   notebooks/run.sh --check       # re-execute and compare with the stored outputs instead of rewriting them
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
. kernel/ensure-rust.sh

# shellcheck disable=SC1091
. kernel/build.sh
if [ "${1:-}" = "--check" ]; then
  target/release/prunelab check notebooks/*.ipynb
else
  target/release/prunelab run notebooks/*.ipynb
fi
rm -rf target/site target/blog
target/release/prunelab render notebooks/*.ipynb --out target/site --to html
target/release/prunelab render notebooks/*.ipynb --out target/blog --to jekyll
echo "site: target/site/index.html   blog posts: target/blog/"
