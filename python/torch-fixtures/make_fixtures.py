#!/usr/bin/env python3
"""Reference safetensors files of PyTorch ``nn.Sequential`` MLPs for prunelab's import tests.

Usage: make_fixtures.py OUTDIR

Writes, with the real ``safetensors`` library and numpy (no torch needed), the tensors that
``state_dict()`` of these modules holds, named as PyTorch names them:

* ``sequential.safetensors``: Sequential(Linear(4, 8), ReLU, Linear(8, 6), Tanh, Linear(6, 3));
  metadata ``{"format": "pt"}`` only, as ``safetensors.torch.save_file`` writes it.
* ``pruned.safetensors``: the same network (same values), with layers 0 and 2 pruned as
  ``torch.nn.utils.prune.l1_unstructured(amount=0.5)`` does (``{i}.weight_orig`` + ``{i}.weight_mask``)
  and the biases of units 1 and 4 of layer 2 masked (``2.bias_orig`` + ``2.bias_mask``).
* ``no_bias.safetensors``: Sequential(Linear(4, 5, bias=False), GELU, Linear(5, 2)), with prunelab's
  ``prunelab.activations`` metadata.
* ``expected.json``: per file, the activations, six input rows, the outputs that a float64 forward pass
  over the file's effective tensors gives, and ``n_remaining``, the number of weights (biases not
  counted) whose mask is non-zero (a weight without a mask counts as unmasked).

Everything is deterministic: the same command writes byte-identical files on every run. Dot products
are correctly rounded sums (``math.fsum``) and activations use Python's ``math`` functions, so the
expected outputs do not depend on the BLAS or the CPU's vector units.
"""

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

# Names of the tensors of a Linear layer (module index i) in a state_dict, plain or pruned.
TENSOR_NAME = re.compile(r"^(\d+)\.(weight|bias)(_orig|_mask)?$")


def _sigmoid(v):
    """Logistic function of a float, without overflow for large |v|."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def _softmax_row(row):
    """Softmax of one row of pre-activations (a list of floats)."""
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


# Element-wise activations by prunelab's names; softmax is handled row-wise in `activate`.
_ELEMENTWISE = {
    "identity": lambda v: v,
    "relu": lambda v: max(0.0, v),
    "sigmoid": _sigmoid,
    "tanh": math.tanh,
    "gelu": lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))),
}
ACTIVATIONS = tuple(_ELEMENTWISE) + ("softmax",)


def activate(name, z):
    """Apply activation `name` to the float64 matrix `z` (rows = samples); softmax is over each row."""
    if name == "softmax":
        return np.array([_softmax_row(row) for row in z.tolist()], dtype=np.float64)
    f = _ELEMENTWISE[name]
    return np.array([[f(v) for v in row] for row in z.tolist()], dtype=np.float64)


def linear(x, w, b):
    """``x @ w.T + b`` in float64, each output a correctly rounded sum of its products and bias."""
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.float64)
    for r in range(x.shape[0]):
        for o in range(w.shape[0]):
            out[r, o] = math.fsum(np.append(x[r] * w[o], b[o]))
    return out


def forward(layers, activations, x):
    """Float64 forward pass of `layers` ([(index, W, b)]) with one activation name per layer."""
    h = np.asarray(x, dtype=np.float64)
    for (_, w, b), act in zip(layers, activations):
        h = activate(act, linear(h, w, b))
    return h


def _effective(tensors, prefix):
    """The effective float64 tensor `prefix` (e.g. ``2.weight``): plain, or ``_orig * _mask``; None if absent."""
    if prefix in tensors:
        return tensors[prefix].astype(np.float64)
    if prefix + "_orig" in tensors:
        return tensors[prefix + "_orig"].astype(np.float64) * tensors[prefix + "_mask"].astype(np.float64)
    return None


def effective_layers(tensors):
    """The Linear layers of a state_dict, as [(module index, W (out, in), b (out,))] in float64, by index.

    A pruned tensor is ``_orig * _mask``; a layer without a bias gets zeros.
    """
    indices = sorted({int(TENSOR_NAME.match(name).group(1)) for name in tensors})
    layers = []
    for i in indices:
        w = _effective(tensors, f"{i}.weight")
        b = _effective(tensors, f"{i}.bias")
        layers.append((i, w, np.zeros(w.shape[0]) if b is None else b))
    return layers


def n_remaining(tensors):
    """Number of weights (not biases) whose mask is non-zero; an unmasked weight tensor counts whole."""
    total = 0
    for name, t in tensors.items():
        if name.endswith(".weight"):
            total += t.size
        elif name.endswith(".weight_mask"):
            total += int(np.count_nonzero(t))
    return total


def torch_linear(rng, fan_in, fan_out, bias=True):
    """Weight (out, in) and bias (out,) in float32, uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch initialises."""
    bound = 1.0 / math.sqrt(fan_in)
    w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, size=fan_out).astype(np.float32) if bias else None
    return w, b


def l1_unstructured_mask(w, amount):
    """The float32 mask ``prune.l1_unstructured(amount=amount)`` gives: zeros at the round(amount * size)
    smallest |w|, ties broken by flat index."""
    k = round(amount * w.size)
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    mask = np.ones(w.size, dtype=np.float32)
    mask[order[:k]] = 0.0
    return mask.reshape(w.shape)


def sequential_state():
    """state_dict of Sequential(Linear(4, 8), ReLU, Linear(8, 6), Tanh, Linear(6, 3)), seed 0."""
    rng = np.random.default_rng(0)
    state = {}
    for index, (fan_in, fan_out) in zip((0, 2, 4), ((4, 8), (8, 6), (6, 3))):
        state[f"{index}.weight"], state[f"{index}.bias"] = torch_linear(rng, fan_in, fan_out)
    return state


def pruned_state():
    """The sequential network with layers 0 and 2 L1-pruned by half and units 1 and 4 of layer 2's bias masked."""
    state = sequential_state()
    for index in (0, 2):
        w = state.pop(f"{index}.weight")
        state[f"{index}.weight_orig"] = w
        state[f"{index}.weight_mask"] = l1_unstructured_mask(w, 0.5)
    state["2.bias_orig"] = state.pop("2.bias")
    bias_mask = np.ones(6, dtype=np.float32)
    bias_mask[[1, 4]] = 0.0
    state["2.bias_mask"] = bias_mask
    return state


def no_bias_state():
    """state_dict of Sequential(Linear(4, 5, bias=False), GELU, Linear(5, 2)), seed 1."""
    rng = np.random.default_rng(1)
    w0, _ = torch_linear(rng, 4, 5, bias=False)
    w2, b2 = torch_linear(rng, 5, 2)
    return {"0.weight": w0, "2.weight": w2, "2.bias": b2}


def sort_metadata(path):
    """Rewrite the header of the safetensors file `path` with its ``__metadata__`` keys sorted.

    The library keeps metadata in a hash map, so with two or more keys their order (and so the file's
    bytes) changes from run to run. Only the order changes: same header length, same padding, same data.
    """
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header_text = raw[8 : 8 + n].decode("utf-8")
    json_text = header_text.rstrip(" ")
    header = json.loads(json_text)

    def dump(obj):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    if dump(header) != json_text:
        raise SystemExit(f"{path}: unexpected safetensors header layout, cannot sort its metadata safely")
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    sorted_text = dump(header) + header_text[len(json_text) :]
    path.write_bytes(raw[:8] + sorted_text.encode("utf-8") + raw[8 + n :])


def main(argv):
    """Write the fixtures into the directory argv[1] (created if missing)."""
    if len(argv) != 2:
        raise SystemExit("usage: make_fixtures.py OUTDIR")
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)

    inputs = np.random.default_rng(2).uniform(-2.0, 2.0, size=(6, 4)).astype(np.float32)
    fixtures = {
        "sequential.safetensors": (sequential_state(), {"format": "pt"}, ["relu", "tanh", "identity"]),
        "pruned.safetensors": (pruned_state(), {"format": "pt"}, ["relu", "tanh", "identity"]),
        "no_bias.safetensors": (
            no_bias_state(),
            {"format": "pt", "prunelab.activations": "gelu,identity"},
            ["gelu", "identity"],
        ),
    }
    expected = {}
    for name, (state, metadata, activations) in fixtures.items():
        path = out / name
        save_file(state, str(path), metadata=metadata)
        sort_metadata(path)
        tensors = load_file(str(path))
        outputs = forward(effective_layers(tensors), activations, inputs)
        expected[name] = {
            "activations": activations,
            "inputs": inputs.astype(np.float64).tolist(),
            "outputs": outputs.tolist(),
            "n_remaining": n_remaining(tensors),
        }
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv)
