"""Measures the prunelab kernel's latency through jupyter_client: kernel start to first result, and the
median wall time of a small cell and of a chart cell.

Usage: latency.py [REPEATS]   (the kernelspec must be findable, e.g. through JUPYTER_PATH)
"""
import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel


def run(client, code):
    """Executes `code`, returns (seconds, mime types of its outputs); fails on an error reply."""
    start = time.perf_counter()
    msg_id = client.execute(code)
    mimes = set()
    while True:
        msg = client.get_iopub_msg(timeout=600)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind in ("execute_result", "display_data"):
            mimes.update(msg["content"]["data"].keys())
        elif kind == "error":
            raise RuntimeError(f"cell failed: {code!r}: {msg['content'].get('evalue')}")
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    return time.perf_counter() - start, mimes


def main(repeats):
    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="prunelab", startup_timeout=600)
    try:
        first, _ = run(client, "1 + 1")
        print(f"kernel start to first result: {time.perf_counter() - start:.2f} s (first cell {first:.2f} s)")
        run(client, "let model = Mlp::config(&[4, 5, 3, 1]).output_activation(Activation::Sigmoid).build()?;")
        small = [run(client, "model.n_weights() + 1")[0] for _ in range(repeats)]
        print(f"small cell, median of {repeats}: {statistics.median(small):.3f} s")
        charts = []
        for _ in range(repeats):
            seconds, mimes = run(client, "model.plot()?")
            assert "image/png" in mimes, mimes
            charts.append(seconds)
        print(f"chart cell, median of {repeats}: {statistics.median(charts):.3f} s")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
