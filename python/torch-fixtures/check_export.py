#!/usr/bin/env python3
"""Check prunelab's safetensors exports with the real ``safetensors`` library and numpy.

Usage: check_export.py DIR

DIR holds what prunelab exported: ``dense.safetensors``, ``masked.safetensors``,
``compacted.safetensors`` and ``forward.json`` ({file: {"inputs": [[...]], "outputs": [[...]]}}).
For each file it checks that

* every tensor is float32 and named as PyTorch's ``state_dict()`` of an ``nn.Sequential`` names it:
  ``{i}.weight`` (out, in) or ``{i}.weight_orig`` + ``{i}.weight_mask``, and optionally ``{i}.bias`` (out,)
  or ``{i}.bias_orig`` + ``{i}.bias_mask``, never a plain tensor beside its ``_orig``/``_mask`` pair;
* masks hold only 0.0 and 1.0, and the effective weights (orig * mask) are exactly zero where the mask is 0;
* the metadata has ``format`` = ``pt``, ``prunelab.activations`` with one known name per Linear layer,
  and a ``prunelab.version``;
* consecutive Linear layers chain (out of one = in of the next) and their module indices leave room
  for the activation modules between them;
* a float64 numpy forward pass over the inputs of forward.json equals prunelab's outputs
  (rtol 1e-5, atol 1e-6).

``masked.safetensors`` must have at least one masked weight. Prints one ``ok`` line per file; exits 1
with the reasons if any check fails.
"""

import json
import sys
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file

from make_fixtures import ACTIVATIONS, TENSOR_NAME, effective_layers, forward, n_remaining

FILES = ("dense.safetensors", "masked.safetensors", "compacted.safetensors")
RTOL, ATOL = 1e-5, 1e-6


class CheckError(Exception):
    """A convention or value that an export breaks."""


def check_names(tensors):
    """Check tensor names, dtypes and shapes; return the sorted module indices of the Linear layers."""
    by_index = {}
    for name, t in tensors.items():
        m = TENSOR_NAME.match(name)
        if m is None:
            raise CheckError(f"tensor {name!r} is not named {{i}}.weight/bias[_orig|_mask]")
        if t.dtype != np.float32:
            raise CheckError(f"tensor {name} is {t.dtype}, not float32")
        if not np.all(np.isfinite(t)):
            raise CheckError(f"tensor {name} has non-finite values")
        by_index.setdefault(int(m.group(1)), set()).add(m.group(2) + (m.group(3) or ""))
    for i, kinds in sorted(by_index.items()):
        for param in ("weight", "bias"):
            pair = {param + "_orig", param + "_mask"}
            present = kinds & ({param} | pair)
            if param in present and present & pair:
                raise CheckError(f"layer {i}: plain {i}.{param} beside {sorted(f'{i}.{k}' for k in present & pair)}")
            if present & pair and present != pair:
                raise CheckError(f"layer {i}: {sorted(f'{i}.{k}' for k in present)} without its pair")
        if not kinds & {"weight", "weight_orig"}:
            raise CheckError(f"layer {i}: bias without a weight")
        w = tensors.get(f"{i}.weight", tensors.get(f"{i}.weight_orig"))
        if w.ndim != 2:
            raise CheckError(f"layer {i}: weight has shape {w.shape}, not (out, in)")
        mask = tensors.get(f"{i}.weight_mask")
        if mask is not None and mask.shape != w.shape:
            raise CheckError(f"{i}.weight_mask has shape {mask.shape}, {i}.weight_orig {w.shape}")
        for name in (f"{i}.bias", f"{i}.bias_orig", f"{i}.bias_mask"):
            if name in tensors and tensors[name].shape != (w.shape[0],):
                raise CheckError(f"{name} has shape {tensors[name].shape}, not ({w.shape[0]},)")
    return sorted(by_index)


def check_masks(tensors):
    """Check that masks are 0.0/1.0 and that effective tensors vanish where the mask is 0."""
    for name, mask in tensors.items():
        if not name.endswith("_mask"):
            continue
        bad = ~np.isin(mask, (0.0, 1.0))
        if bad.any():
            where = tuple(int(k) for k in np.argwhere(bad)[0])
            raise CheckError(f"{name}{list(where)} = {float(mask[where])}, masks hold only 0.0 and 1.0")
        orig = tensors[name[: -len("_mask")] + "_orig"]
        effective = orig * mask
        if np.any(effective[mask == 0.0] != 0.0):
            raise CheckError(f"{name}: effective tensor is non-zero where the mask is 0")


def check_metadata(path, n_layers):
    """Check the file's metadata; return its activation names, one per Linear layer."""
    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != "pt":
        raise CheckError(f"metadata format is {metadata.get('format')!r}, not 'pt'")
    if not metadata.get("prunelab.version"):
        raise CheckError("metadata has no prunelab.version")
    if "prunelab.activations" not in metadata:
        raise CheckError("metadata has no prunelab.activations")
    activations = metadata["prunelab.activations"].split(",")
    unknown = [a for a in activations if a not in ACTIVATIONS]
    if unknown:
        raise CheckError(f"unknown activations {unknown} in prunelab.activations (known: {', '.join(ACTIVATIONS)})")
    if len(activations) != n_layers:
        raise CheckError(f"prunelab.activations names {len(activations)} activations for {n_layers} Linear layers")
    return activations


def check_chain(layers, activations):
    """Check that layer shapes chain and that module indices leave one slot per non-identity activation."""
    for (i, w, _), (j, v, _), act in zip(layers, layers[1:], activations):
        if w.shape[0] != v.shape[1]:
            raise CheckError(f"layer {i} has {w.shape[0]} outputs but layer {j} takes {v.shape[1]} inputs")
        allowed = (2,) if act != "identity" else (1, 2)
        if j - i not in allowed:
            raise CheckError(
                f"Linear layers {i} and {j} with activation {act} between them: expected index {i + allowed[0]}"
            )


def check_forward(layers, activations, record):
    """Compare a float64 forward pass with prunelab's recorded inputs/outputs; return the max |difference|."""
    try:
        x = np.array(record["inputs"], dtype=np.float64)
        y = np.array(record["outputs"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckError(f"forward.json entry is not {{'inputs': [[...]], 'outputs': [[...]]}}: {e!r}") from None
    n_in, n_out = layers[0][1].shape[1], layers[-1][1].shape[0]
    if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] == 0:
        raise CheckError(f"forward.json inputs have shape {x.shape}, expected (n, {n_in})")
    if y.shape != (x.shape[0], n_out):
        raise CheckError(f"forward.json outputs have shape {y.shape}, expected {(x.shape[0], n_out)}")
    ours = forward(layers, activations, x)
    close = np.isclose(y, ours, rtol=RTOL, atol=ATOL)
    if not close.all():
        r, c = (int(k) for k in np.argwhere(~close)[0])
        raise CheckError(
            f"output [{r}][{c}]: prunelab {float(y[r, c])!r}, numpy {float(ours[r, c])!r} "
            f"({int((~close).sum())} of {y.size} outside rtol {RTOL}, atol {ATOL})"
        )
    return float(np.abs(y - ours).max())


def check_file(path, record):
    """Run every check on one exported file; return its `ok` line."""
    try:
        tensors = load_file(str(path))
    except SafetensorError as e:
        raise CheckError(f"not a readable safetensors file: {e}") from None
    if not tensors:
        raise CheckError("no tensors")
    indices = check_names(tensors)
    check_masks(tensors)
    activations = check_metadata(path, len(indices))
    layers = effective_layers(tensors)
    check_chain(layers, activations)
    masked = [i for i in indices if f"{i}.weight_mask" in tensors]
    if path.name == "masked.safetensors" and not masked:
        raise CheckError("no layer has a weight mask")
    diff = check_forward(layers, activations, record)
    widths = "-".join(str(n) for n in [layers[0][1].shape[1]] + [w.shape[0] for _, w, _ in layers])
    n_weights = sum(w.size for _, w, _ in layers)
    return (
        f"ok {path.name}: layers {widths} at indices {indices}, activations {','.join(activations)}, "
        f"masked layers {masked}, {n_remaining(tensors)}/{n_weights} weights remaining, "
        f"{len(record['inputs'])} rows, max |diff| {diff:.2e}"
    )


def main(argv):
    """Check every export in argv[1]; exit 1 if any check fails."""
    if len(argv) != 2:
        raise SystemExit("usage: check_export.py DIR")
    root = Path(argv[1])
    try:
        records = json.loads((root / "forward.json").read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"FAIL forward.json: {e}") from None
    failures = 0
    for name in FILES:
        path = root / name
        try:
            if not path.is_file():
                raise CheckError(f"missing in {root}")
            if name not in records:
                raise CheckError("no entry in forward.json")
            print(check_file(path, records[name]))
        except CheckError as e:
            print(f"FAIL {name}: {e}", file=sys.stderr)
            failures += 1
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv)
