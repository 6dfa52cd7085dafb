#!/usr/bin/env python3
"""Reference ONNX graphs of PyTorch ``nn.Sequential`` MLPs for prunelab's ``Mlp::from_onnx`` tests.

Usage: make_onnx_fixtures.py OUTDIR

Writes, with the ``onnx`` package and numpy (no torch needed), the graphs that ``torch.onnx.export``
writes for these modules: graph input ``input`` of shape ["batch", ...] (symbolic batch dimension),
graph output ``output``, weights as initializers, nodes and tensors named as torch names them
(``/0/Gemm``, ``/0/Gemm_output_0``, ``0.weight``, ...):

* ``gemm.onnx`` (opset 17): Sequential(Linear(4, 8), ReLU, Linear(8, 6), Tanh, Linear(6, 3)), the
  classic export: ``Gemm(alpha=1, beta=1, transB=1)``, Relu, Gemm, Tanh, Gemm.
* ``matmul_add.onnx`` (opset 18): Sequential(Linear(5, 7), Sigmoid, Linear(7, 4), Softmax(dim=-1)) as
  newer exporters write Linear: ``MatMul`` by a transposed (in, out) weight initializer named
  ``onnx::MatMul_N``, then ``Add`` of the bias.
* ``flatten_gelu.onnx`` (opset 17): Sequential(Flatten, Linear(6, 5), GELU, Linear(5, 2, bias=False))
  on inputs of shape (batch, 1, 2, 3): ``Flatten(axis=1)``, Gemm, GELU spelled out as below opset 20
  (``Div`` by sqrt(2), ``Erf``, ``Add`` 1, ``Mul`` by the input, ``Mul`` by 0.5, constants as ``Constant``
  nodes), then a two-input Gemm (no bias).
* ``gelu20.onnx`` (opset 20): Sequential(Linear(3, 4), GELU, Linear(4, 2)) with the ``Gelu`` op.
* ``unsupported.onnx`` (opset 17): Sequential(Linear(4, 4), LayerNorm(4), Linear(4, 2)); prunelab must
  refuse it, naming the ``LayerNormalization`` node.
* ``expected.json``: per supported file, six input rows (``inputs``, flattened to two dimensions, with
  ``input_shape`` where the graph input has more), the ``outputs`` of a float64 forward pass with correctly
  rounded sums (``make_fixtures.forward``: the same on every CPU; ONNX Runtime must agree within 1e-5), the
  layer widths (``sizes``) and one activation per Linear layer (``activations``); for
  ``unsupported.onnx``, ``error_mentions``: what prunelab's error must name.

Weights are float32, uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch initialises Linear, drawn from
``numpy.random.default_rng(seed)``; every model passes ``onnx.checker.check_model(full_check=True)``.
Everything is deterministic: the same command writes byte-identical files on every run.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from make_fixtures import forward

PRODUCER = "prunelab make_onnx_fixtures.py"
# IR versions of the ONNX releases that introduced each opset (torch 2.x writes IR 8 for opsets 17/18).
IR_VERSION = {17: 8, 18: 8, 20: 9}


def torch_linear(rng, fan_in, fan_out, bias=True):
    """Weight (out, in) and bias (out,) in float32, uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch initialises."""
    bound = 1.0 / math.sqrt(fan_in)
    w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, size=fan_out).astype(np.float32) if bias else None
    return w, b


class Graph:
    """Collects nodes and initializers of a torch-style exported graph."""

    def __init__(self):
        self.nodes = []
        self.initializers = []

    def init(self, name, array):
        """Adds the initializer `name` holding `array`; returns its name."""
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, module, inputs, name=None, output=None, **attrs):
        """Adds node ``/{module}/{name or op}`` with output ``/{module}/{name}_output_0`` (or `output`);
        returns the output's name."""
        node_name = f"/{module}/{name or op}"
        out = output or f"{node_name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=node_name, **attrs))
        return out

    def constant(self, module, name, value):
        """Adds a scalar float ``Constant`` node ``/{module}/{name}``, as torch writes literals."""
        tensor = numpy_helper.from_array(np.array(value, dtype=np.float32), "value")
        return self.node("Constant", module, [], name=name, value=tensor)

    def gemm(self, module, x, w, b, output=None):
        """torch's export of Linear: ``Gemm(x, {module}.weight[, {module}.bias], transB=1)``."""
        inputs = [x, self.init(f"{module}.weight", w)]
        if b is not None:
            inputs.append(self.init(f"{module}.bias", b))
        return self.node("Gemm", module, inputs, output=output, alpha=1.0, beta=1.0, transB=1)

    def model(self, name, input_shape, n_out, opset):
        """The finished model: input ``input`` (["batch", *input_shape]), output ``output`` (["batch", n_out])."""
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n_out])],
            initializer=self.initializers,
        )
        model = helper.make_model(
            graph,
            producer_name=PRODUCER,
            producer_version="1",
            opset_imports=[helper.make_opsetid("", opset)],
            ir_version=IR_VERSION[opset],
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def gemm_model():
    """Sequential(Linear(4, 8), ReLU, Linear(8, 6), Tanh, Linear(6, 3)), seed 10, opset 17."""
    rng = np.random.default_rng(10)
    g = Graph()
    h = g.gemm(0, "input", *torch_linear(rng, 4, 8))
    h = g.node("Relu", 1, [h])
    h = g.gemm(2, h, *torch_linear(rng, 8, 6))
    h = g.node("Tanh", 3, [h])
    g.gemm(4, h, *torch_linear(rng, 6, 3), output="output")
    return g.model("main_graph", [4], 3, 17), [4, 8, 6, 3], ["relu", "tanh", "identity"]


def matmul_add_model():
    """Sequential(Linear(5, 7), Sigmoid, Linear(7, 4), Softmax(dim=-1)) as MatMul + Add, seed 11, opset 18."""
    rng = np.random.default_rng(11)
    g = Graph()
    h = "input"
    for module, (fan_in, fan_out), matmul_id, act, act_output in (
        (0, (5, 7), 12, "Sigmoid", None),
        (2, (7, 4), 13, "Softmax", "output"),
    ):
        w, b = torch_linear(rng, fan_in, fan_out)
        h = g.node("MatMul", module, [h, g.init(f"onnx::MatMul_{matmul_id}", np.ascontiguousarray(w.T))])
        h = g.node("Add", module, [g.init(f"{module}.bias", b), h])
        attrs = {"axis": -1} if act == "Softmax" else {}
        h = g.node(act, module + 1, [h], output=act_output, **attrs)
    return g.model("main_graph", [5], 4, 18), [5, 7, 4], ["sigmoid", "softmax"]


def flatten_gelu_model():
    """Sequential(Flatten, Linear(6, 5), GELU, Linear(5, 2, bias=False)) on (batch, 1, 2, 3), seed 12, opset 17."""
    rng = np.random.default_rng(12)
    g = Graph()
    h = g.node("Flatten", 0, ["input"], axis=1)
    z = g.gemm(1, h, *torch_linear(rng, 6, 5))
    # torch's GELU below opset 20: z * (erf(z / sqrt(2)) + 1) * 0.5, each literal a Constant node.
    h = g.node("Div", 2, [z, g.constant(2, "Constant", math.sqrt(2.0))])
    h = g.node("Erf", 2, [h])
    h = g.node("Add", 2, [h, g.constant(2, "Constant_1", 1.0)])
    h = g.node("Mul", 2, [z, h])
    h = g.node("Mul", 2, [h, g.constant(2, "Constant_2", 0.5)], name="Mul_1")
    g.gemm(3, h, *torch_linear(rng, 5, 2, bias=False), output="output")
    return g.model("main_graph", [1, 2, 3], 2, 17), [6, 5, 2], ["gelu", "identity"]


def gelu20_model():
    """Sequential(Linear(3, 4), GELU, Linear(4, 2)) with the opset-20 Gelu op, seed 13."""
    rng = np.random.default_rng(13)
    g = Graph()
    h = g.gemm(0, "input", *torch_linear(rng, 3, 4))
    h = g.node("Gelu", 1, [h], approximate="none")
    g.gemm(2, h, *torch_linear(rng, 4, 2), output="output")
    return g.model("main_graph", [3], 2, 20), [3, 4, 2], ["gelu", "identity"]


def unsupported_model():
    """Sequential(Linear(4, 4), LayerNorm(4), Linear(4, 2)), seed 14, opset 17; returns the model and the
    LayerNormalization node's name."""
    rng = np.random.default_rng(14)
    g = Graph()
    h = g.gemm(0, "input", *torch_linear(rng, 4, 4))
    scale = g.init("1.weight", np.ones(4, dtype=np.float32))
    shift = g.init("1.bias", np.zeros(4, dtype=np.float32))
    h = g.node("LayerNormalization", 1, [h, scale, shift], axis=-1, epsilon=1e-5)
    g.gemm(2, h, *torch_linear(rng, 4, 2), output="output")
    return g.model("main_graph", [4], 2, 17), "/1/LayerNormalization"


def run_ort(path, x):
    """Output of the model at `path` for float32 input `x`, by ONNX Runtime on the CPU with one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (out,) = session.run(["output"], {"input": x})
    return out


def layers_of(model):
    """The Linear layers of a fixture model, in order, as [(index, W (out, in), b (out,))] in float64: a Gemm
    (transB = 1) with its weight and optional bias, or a MatMul of a weight stored (in, out) and the Add of
    its bias."""
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        if node.op_type == "Gemm":
            w = inits[node.input[1]]
            b = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0])
            layers.append((len(layers), w, b))
        elif node.op_type == "MatMul":
            w = inits[node.input[1]].T
            layers.append((len(layers), w, np.zeros(w.shape[0])))
        elif node.op_type == "Add" and layers and any(i in inits for i in node.input):
            bias = next(inits[i] for i in node.input if i in inits)
            index, w, _ = layers[-1]
            layers[-1] = (index, w, bias)
    return layers


def main(argv):
    """Write the fixtures into the directory argv[1] (created if missing)."""
    if len(argv) != 2:
        raise SystemExit("usage: make_onnx_fixtures.py OUTDIR")
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)

    expected = {}
    for name, make, seed in (
        ("gemm.onnx", gemm_model, 20),
        ("matmul_add.onnx", matmul_add_model, 21),
        ("flatten_gelu.onnx", flatten_gelu_model, 22),
        ("gelu20.onnx", gelu20_model, 23),
    ):
        model, sizes, activations = make()
        path = out / name
        onnx.save(model, str(path))
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
        x = np.random.default_rng(seed).uniform(-2.0, 2.0, size=(6, *dims)).astype(np.float32)
        # The stored outputs are a float64 forward pass with correctly rounded sums (the same on every CPU);
        # ONNX Runtime, whose float32 kernels differ by CPU in the last bits, must agree with it.
        want = forward(layers_of(model), activations, x.reshape(6, -1).astype(np.float64))
        got = run_ort(path, x).astype(np.float64)
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            raise SystemExit(f"{name}: ONNX Runtime {got.tolist()} differs from the reference {want.tolist()}")
        record = {
            "activations": activations,
            "inputs": x.reshape(6, -1).astype(np.float64).tolist(),
            "outputs": want.tolist(),
            "sizes": sizes,
        }
        if len(dims) > 1:
            record["input_shape"] = list(x.shape)
        expected[name] = record

    model, node_name = unsupported_model()
    onnx.save(model, str(out / "unsupported.onnx"))
    expected["unsupported.onnx"] = {"error_mentions": ["LayerNormalization", node_name]}

    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv)
