"""ONNX Runtime on prunelab's exports, beside prunelab's own times.

Reads DIR as `cargo run --release -p prunelab --example export_timings -- DIR` wrote it (dense.onnx,
masked-90.onnx, compacted.onnx and timings.json), runs each ONNX file in ONNX Runtime on the same inputs
(notebook 07's formula), checks the outputs against prunelab's first rows, and prints one table: file sizes,
and the median time of prunelab and of ONNX Runtime at batch 10,000 and at batch 1.

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
        big = median_ms(9, lambda: session.run(None, {"input": x}))
        single = median_ms(301, lambda: session.run(None, {"input": one})) * 1e3
        print(
            f"{name:<10} {mine['onnx_bytes']:>11} {mine['safetensors_bytes']:>10} | "
            f"{mine['batch_10000_ms']:>8.1f} {big:>8.1f} {big / mine['batch_10000_ms']:>7.2f}x | "
            f"{mine['batch_1_us']:>8.0f} {single:>8.0f} {single / mine['batch_1_us']:>7.2f}x"
        )
    print("ratio: ONNX Runtime's time over prunelab's (above 1: prunelab is faster); outputs agree within 1e-6")


if __name__ == "__main__":
    main()
