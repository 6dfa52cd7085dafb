"""DeepSparse 1.8's side of the inference comparison, in its own virtual environment (DeepSparse 1.8 needs
Python <= 3.11 and its own pinned packages; run.sh makes target/deepsparse-venv). Runs the dense and the 90%
pruned network from prunelab's exported weights at batch 10,000 and batch 1, and checks each output against
prunelab's logits. Prints one JSON object per workload, like peers.py.

Usage: deepsparse_side.py THREADS
"""
import json
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from onnx_model import EXPORT, check, exported, inputs, median_time, onnx_file  # noqa: E402

THREADS = int(sys.argv[1])


def main():
    from deepsparse import compile_model

    x = inputs(10_000, 784, 2)
    x1 = inputs(1, 784, 3)
    for tag, weights, logits in [("dense", "c-weights-dense.f32", "c-logits-dense.f32"),
                                 ("sparse90", "c-weights-sparse90.f32", "c-logits-sparse90.f32")]:
        path = onnx_file(weights, EXPORT / f"c-{tag}.onnx")
        if path is None:
            print(f"no exported weights {weights}: run prunelab's side first", file=sys.stderr)
            continue
        want = exported(logits)
        engine = compile_model(str(path), batch_size=10_000, num_cores=THREADS)
        diff = check(engine.run([x])[0], want)
        seconds = median_time(5, lambda: engine.run([x]))
        print(json.dumps({"workload": f"c-deepsparse-{tag}", "seconds": round(seconds, 6), "samples": 10_000,
                          "maxdiff": diff}), flush=True)
        one = compile_model(str(path), batch_size=1, num_cores=THREADS)
        # Batch 1 is checked against prunelab's logits for the same sample, computed here from the weights.
        import numpy as np
        from onnx_model import layer_weights
        h = x1
        for k, w in enumerate(layer_weights(exported(weights))):
            h = h @ w.T
            if k < 4:
                h = np.maximum(h, 0)
        got = one.run([x1])[0]
        diff1 = float(np.abs(got - h).max() / max(1e-12, np.abs(h).max()))
        seconds = median_time(400, lambda: one.run([x1]))
        print(json.dumps({"workload": f"c1-deepsparse-{tag}", "seconds": round(seconds, 6), "samples": 1,
                          "maxdiff": diff1}), flush=True)


main()
