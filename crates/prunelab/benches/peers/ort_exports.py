"""ONNX Runtime on prunelab's exports, beside prunelab's own times.

Reads DIR as `cargo run --release -p prunelab --example export_timings -- DIR` wrote it (dense, masked-90
and compacted as .onnx and .safetensors, and timings.json), runs each ONNX file in ONNX Runtime on the same
inputs (notebook 07's formula) and loads each safetensors file into a PyTorch Sequential (the masked one
through `torch.nn.utils.prune`, as its `weight_orig` and `weight_mask` ask), checks both against prunelab's
first rows of outputs, and prints one table: file sizes, and the median time of prunelab and of ONNX Runtime
at batch 10,000 and at batch 1.

    target/peers-venv/bin/python crates/prunelab/benches/peers/ort_exports.py DIR [THREADS]

THREADS (default: the count timings.json was made with) sets ONNX Runtime's intra-op threads.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def median_ms(reps, f):
    f()
    t = []
    for _ in range(reps):
        s = time.perf_counter()
        f()
        t.append((time.perf_counter() - s) * 1e3)
    t.sort()
    return t[reps // 2]


def torch_outputs(path, x):
    """The outputs of PyTorch's Sequential loaded from prunelab's safetensors file at `path`."""
    import safetensors.torch
    import torch
    from torch.nn.utils import prune

    state = safetensors.torch.load_file(str(path))
    names = sorted({k.split(".")[0] for k in state}, key=int)
    shapes = [state.get(f"{i}.weight", state.get(f"{i}.weight_orig")).shape for i in names]
    layers = []
    for i, (out, inp) in enumerate(shapes):
        layers.append(torch.nn.Linear(inp, out, bias=f"{names[i]}.bias" in state))
        layers.append(torch.nn.ReLU() if i < len(shapes) - 1 else torch.nn.Softmax(dim=1))
    model = torch.nn.Sequential(*layers)
    for i in names:
        if f"{i}.weight_mask" in state:
            prune.identity(model[int(i)], "weight")
    model.load_state_dict(state)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    ours = json.loads((folder / "timings.json").read_text())
    threads = int(sys.argv[2]) if len(sys.argv) == 3 else ours["threads"]
    i, j = np.meshgrid(np.arange(10_000), np.arange(784), indexing="ij")
    x = (((i * 31 + j * 17) % 101).astype(np.float32) / np.float32(100.0)).astype(np.float32)
    one = x[:1]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    print(f"ONNX Runtime {ort.__version__}, {threads} thread(s); prunelab with {ours['threads']}")
    print(
        f"{'network':<10} {'ONNX bytes':>11} {'st bytes':>10} | {'batch 10,000 (ms)':>26} | {'batch 1 (µs)':>26}"
    )
    print(f"{'':<10} {'':>11} {'':>10} | {'prunelab':>8} {'ORT':>8} {'ratio':>8} | {'prunelab':>8} {'ORT':>8} {'ratio':>8}")
    for name in ("dense", "masked-90", "compacted"):
        mine = ours[name]
        session = ort.InferenceSession(str(folder / f"{name}.onnx"), opts, providers=["CPUExecutionProvider"])
        (first,) = session.run(None, {"input": x[:4]})
        diff = float(np.abs(first - np.array(mine["first_rows"], dtype=np.float32)).max())
        if diff > 1e-6:
            sys.exit(f"{name}: ONNX Runtime's outputs differ from prunelab's by {diff}")
        torch_diff = float(np.abs(torch_outputs(folder / f"{name}.safetensors", x[:4]) -
                                  np.array(mine["first_rows"], dtype=np.float32)).max())
        if torch_diff > 1e-6:
            sys.exit(f"{name}: PyTorch's outputs from the safetensors file differ from prunelab's by {torch_diff}")
        big = median_ms(9, lambda: session.run(None, {"input": x}))
        single = median_ms(301, lambda: session.run(None, {"input": one})) * 1e3
        print(
            f"{name:<10} {mine['onnx_bytes']:>11} {mine['safetensors_bytes']:>10} | "
            f"{mine['batch_10000_ms']:>8.1f} {big:>8.1f} {big / mine['batch_10000_ms']:>7.2f}x | "
            f"{mine['batch_1_us']:>8.0f} {single:>8.0f} {single / mine['batch_1_us']:>7.2f}x"
        )
    print("ratio: ONNX Runtime's time over prunelab's (above 1: prunelab is faster); ONNX Runtime's outputs and "
          "PyTorch's from the safetensors files agree with prunelab's within 1e-6")


if __name__ == "__main__":
    main()
