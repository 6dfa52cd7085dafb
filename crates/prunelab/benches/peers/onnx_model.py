"""The benchmark network as an ONNX graph built straight from prunelab's exported weights (MatMul by the
transposed weight, ReLU between layers, logits out), so ONNX Runtime and DeepSparse run exactly the weights
prunelab runs. Shared, with the inputs, the output check and the timing, by peers.py and deepsparse_side.py (each in its own
virtual environment)."""
import pathlib
import time

import numpy as np

SIZES = [784, 1000, 1000, 500, 200, 10]
EXPORT = pathlib.Path(__file__).resolve().parents[4] / "target" / "peers"


def exported(name):
    """A file prunelab_side.rs wrote (weights or logits), or None when it has not run."""
    path = EXPORT / name
    return np.fromfile(path, dtype="<f4") if path.exists() else None


def layer_weights(flat):
    """The flat export cut into one (outputs, inputs) matrix per layer."""
    out, at = [], 0
    for i, o in zip(SIZES, SIZES[1:]):
        out.append(flat[at:at + i * o].reshape(o, i))
        at += i * o
    return out


def check(logits, want):
    """Largest difference from prunelab's logits for the same inputs, relative to their scale."""
    if want is None:
        return None
    want = want.reshape(-1, SIZES[-1])
    logits = logits[:want.shape[0]]
    return float(np.abs(logits - want).max() / max(1e-12, np.abs(want).max()))


def inputs(rows, cols, seed):
    """The same pseudo-random matrix as prunelab_side.rs (a 64-bit LCG, top 24 bits)."""
    mask = (1 << 64) - 1
    a, c = 6364136223846793005, 1442695040888963407
    state = (seed * a + c) & mask
    out = np.empty(rows * cols, dtype=np.float32)
    for i in range(rows * cols):
        state = (state * a + c) & mask
        out[i] = (state >> 40) / float(1 << 24)
    return out.reshape(rows, cols)


def median_time(reps, f):
    """The median of `reps` timed calls of `f`, after one untimed warm-up call."""
    f()  # warm-up
    runs = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[len(runs) // 2]


def onnx_file(weights_name, path):
    """Writes the network with the exported weights `weights_name` to `path` (opset 13) and returns it, or
    None when the weights were not exported."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    flat = exported(weights_name)
    if flat is None:
        return None
    nodes, inits, h = [], [], "x"
    layers = layer_weights(flat)
    for k, w in enumerate(layers):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w.T), name=f"w{k}"))
        z = f"z{k}" if k < len(layers) - 1 else "logits"
        nodes.append(helper.make_node("MatMul", [h, f"w{k}"], [z]))
        if k < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [z], [f"h{k}"]))
            h = f"h{k}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", SIZES[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", SIZES[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
