#!/usr/bin/env bash
# Every committed notebook through the real nbconvert, to HTML and to Markdown: fails where nbconvert prints a
# warning (an output it cannot represent, such as a bare image/gif; an image without alt text) or an error.
# Uses the JupyterLab venv of kernel/lab.sh (nbconvert comes with JupyterLab), creating it where missing.
# Usage: notebooks/nbconvert_check.sh [NOTEBOOK...]   (default: notebooks/*.ipynb)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/lab-venv
if [ ! -x "$venv/bin/jupyter-nbconvert" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c kernel/constraints.txt nbconvert
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ $# -eq 0 ]; then set -- notebooks/*.ipynb; fi
failed=0
for nb in "$@"; do
  for to in html markdown; do
    log="$out/$(basename "$nb" .ipynb).$to.log"
    if ! "$venv/bin/jupyter-nbconvert" --to "$to" --output-dir "$out" "$nb" > "$log" 2>&1; then
      echo "FAIL nbconvert --to $to $nb exited with an error:"; cat "$log"; failed=1; continue
    fi
    if grep -E -i "warn|error|not able to be represented|missing" "$log"; then
      echo "FAIL nbconvert --to $to $nb printed the lines above"; failed=1
    fi
  done
done
[ "$failed" = 0 ] || exit 1
echo "nbconvert: $# notebook(s) to HTML and Markdown without a warning ($("$venv/bin/jupyter-nbconvert" --version))"
