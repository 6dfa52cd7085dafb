"""Checks prunelab's ONNX exports with the real onnx package and ONNX Runtime.

For every ``*.onnx`` entry of DIR/forward.json ({file: {"inputs", "outputs", "zero_weights"}}, written by
``cargo run --release -p prunelab --example export_safetensors -- DIR``):

* ``onnx.checker.check_model(full_check=True)`` accepts the model (opset, types, shapes inferred);
* ONNX Runtime (CPU) runs it on the inputs and gives prunelab's outputs within rtol 1e-5, atol 1e-6;
* the weight initializers hold exactly as many zeros as prunelab's weights (a pruned weight stays an exact
  zero in the file).

Prints one ``ok`` line per file; exits 1 with ``FAIL file: reason`` otherwise.

Usage: check_onnx.py DIR
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def check(path, record):
    """Checks one exported model against its forward.json record; returns a summary line."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith(".weight")]
    zeros = int(sum((w == 0).sum() for w in weights))
    if zeros != record["zero_weights"]:
        raise ValueError(f"{zeros} zero weights in the file, prunelab has {record['zero_weights']}")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.asarray(record["inputs"], dtype=np.float32)
    (got,) = session.run(["output"], {"input": x})
    want = np.asarray(record["outputs"], dtype=np.float32)
    if got.shape != want.shape:
        raise ValueError(f"output shape {got.shape}, prunelab's {want.shape}")
    if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
        worst = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
        raise ValueError(f"output {list(worst)}: ONNX Runtime {got[worst]}, prunelab {want[worst]}")
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return (f"ok {path.name}: opset {opset}, {len(model.graph.node)} nodes, {zeros} zero weights kept exact, "
            f"ONNX Runtime {ort.__version__} matches prunelab (max |diff| {np.abs(got - want).max():.2e})")


def main(root):
    """Checks every ONNX file named in root/forward.json."""
    records = json.loads((root / "forward.json").read_text())
    names = sorted(n for n in records if n.endswith(".onnx"))
    if not names:
        raise SystemExit(f"FAIL {root}/forward.json names no ONNX file")
    failed = False
    for name in names:
        try:
            print(check(root / name, records[name]), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            failed = True
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: check_onnx.py DIR")
    main(Path(sys.argv[1]))
