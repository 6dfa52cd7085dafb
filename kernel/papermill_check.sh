#!/usr/bin/env bash
# papermill with the prunelab kernel: installs the kernelspec and papermill's Rust translator
# (python/prunelab-papermill) the README's way (`prunelab kernel install --papermill`) into a virtual environment
# with a pinned papermill, runs the translator's unit tests, then executes through the real papermill
#   1. a notebook whose parameters cell declares one parameter of every kind the translator writes (integers
#      of several widths, floats, strings with quotes and control characters, bools, lists, None/Option, a
#      map), and checks that each printed value is the one passed, with the declared type;
#   2. notebooks/08-sweeps-on-clusters.ipynb with `-y 'seeds: [3, 5]'`, and checks that the printed grid is the
#      one of those two seeds (36 cells, not the stored 144) and that the run merged them.
# Usage: kernel/papermill_check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)

. kernel/ensure-rust.sh
# shellcheck disable=SC1091
. kernel/build.sh
papermill_version=2.7.0
venv=target/papermill-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -c kernel/constraints.txt "papermill==$papermill_version"

prefix=$(mktemp -d)
work=$(mktemp -d "${TMPDIR:-/tmp}/prunelab-papermill.XXXXXX")
trap 'rm -rf "$prefix" "$work"' EXIT
target/release/prunelab kernel install --prefix "$prefix" --papermill --python "$venv/bin/python"
"$venv/bin/python" -m unittest discover -s python/prunelab-papermill/tests
target/release/prunelab warmup
export JUPYTER_PATH="$prefix/share/jupyter"
echo "set-up: $(( $(date +%s) - start )) s"

# papermill reads the parameters cell through the translator.
"$venv/bin/papermill" --help-notebook notebooks/08-sweeps-on-clusters.ipynb | tee "$work/help.txt"
grep -q 'seeds: Vec<u64> (default vec!\[0, 1, 2, 3, 4, 5, 6, 7\])' "$work/help.txt"

# 1. Every kind of value, through evcxr.
"$venv/bin/python" - "$work/types.ipynb" <<'EOF'
import sys
import nbformat

nb = nbformat.v4.new_notebook()
nb.metadata["kernelspec"] = {"name": "prunelab", "display_name": "Rust (prunelab)", "language": "rust"}
params = nbformat.v4.new_code_cell(
    "let seed: u64 = 0;\n"
    "let shift: i8 = 0;\n"
    "let lr: f32 = 0.001;\n"
    "let scale: f64 = 1.0;\n"
    "let name: String = String::from(\"x\");\n"
    "let label: &str = \"x\";\n"
    "let flag: bool = false;\n"
    "let seeds: Vec<u64> = vec![0];\n"
    "let names: Vec<String> = vec![];\n"
    "let limit: Option<usize> = Some(3);\n"
    "let tag: Option<String> = None;\n"
    "let widths: std::collections::BTreeMap<String, usize> = Default::default();"
)
params.metadata["tags"] = ["parameters"]
show = nbformat.v4.new_code_cell(
    'println!("seed={seed} shift={shift} lr={lr} scale={scale} name={name:?} label={label} flag={flag}");\n'
    'println!("seeds={seeds:?} names={names:?} limit={limit:?} tag={tag:?} widths={widths:?}");\n'
    'let typed: (u64, i8, f32, f64, String, &str, bool, Vec<u64>, Vec<String>, Option<usize>, Option<String>) =\n'
    "    (seed, shift, lr, scale, name.clone(), label, flag, seeds.clone(), names.clone(), limit, tag.clone());\n"
    'println!("typed: {}", typed.0 + seeds.iter().sum::<u64>());'
)
nb.cells = [params, show]
nbformat.write(nb, sys.argv[1])
EOF
cat > "$work/types.yaml" <<'EOF'
seed: 7
shift: -3
lr: 0.5
scale: 2
name: "say \"hi\"\n\\ \"); std::process::exit(1); (\""
label: lab
flag: true
seeds: [3, 5]
names: [a, b]
limit: null
tag: t
widths: {hidden: 256, out: 10}
EOF
t=$(date +%s)
"$venv/bin/papermill" "$work/types.ipynb" "$work/types-out.ipynb" -k prunelab -f "$work/types.yaml" --log-output
echo "types notebook through papermill: $(( $(date +%s) - t )) s"
"$venv/bin/python" - "$work/types-out.ipynb" <<'EOF'
import sys
import nbformat

nb = nbformat.read(sys.argv[1], as_version=4)
injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
assert len(injected) == 1, "papermill injected no parameters cell"
# The last cell's standard output (the first cell's may hold the kernel's start-up note).
text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []) if o.get("name") == "stdout")
expected = (
    'seed=7 shift=-3 lr=0.5 scale=2 name="say \\"hi\\"\\n\\\\ \\"); std::process::exit(1); (\\"" label=lab flag=true\n'
    'seeds=[3, 5] names=["a", "b"] limit=None tag=Some("t") widths={"hidden": 256, "out": 10}\n'
    "typed: 15\n"
)
assert text == expected, f"printed:\n{text}\nexpected:\n{expected}"
print("every parameter arrived with its declared type:\n" + text, end="")
EOF

# 2. Notebook 08 over two other seeds.
t=$(date +%s)
"$venv/bin/papermill" notebooks/08-sweeps-on-clusters.ipynb "$work/08-out.ipynb" -k prunelab -y 'seeds: [3, 5]' --log-output
echo "notebook 08 through papermill: $(( $(date +%s) - t )) s"
"$venv/bin/python" - notebooks/08-sweeps-on-clusters.ipynb "$work/08-out.ipynb" <<'EOF'
import sys
import nbformat

def printed(nb):
    return ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream") for c in nb.cells]

stored = nbformat.read(sys.argv[1], as_version=4)
out = nbformat.read(sys.argv[2], as_version=4)
injected = [c.source for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
assert len(injected) == 1 and injected[0].rstrip().endswith("let seeds = papermill_param(&seeds, vec![3, 5]);"), injected
before, after = "\n".join(printed(stored)), "\n".join(printed(out))
assert "144 cells = 8 seeds x 18 configurations" in before, "the stored notebook changed; update this check"
assert "36 cells = 2 seeds x 18 configurations" in after, after
assert "  seed=3 method=weights sparsity=0\n" in after and "  seed=5 method=units sparsity=0.95\n" in after, after
assert "36/36 cells" in after, after
print("notebook 08 with seeds [3, 5]: " + next(l for l in after.splitlines() if "cells =" in l))
EOF
echo "papermill check passed in $(( $(date +%s) - start )) s"
