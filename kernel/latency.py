"""Measures the prunelab kernel's latency through jupyter_client, as a user meets it.

Per kernel start (REPEATS fresh kernels): kernel start to the first result, and the first `let` of a prelude
type. On the last kernel: medians of REPEATS for a small cell, a chart cell, a `let` cell, and the iris
workload of `cargo bench -p prunelab --bench train` (4-5-3-1, SGD, 1000 epochs) timed inside a cell, to
compare with the same code in a release build. Prints medians; it is a benchmark, not a test.

Usage: latency.py [REPEATS]   (the kernelspec must be findable, e.g. through JUPYTER_PATH)
Measure as a new user has it: XDG_CACHE_HOME=$(mktemp -d), then `prunelab warmup`, then this.
"""
import statistics
import sys
import time

from jupyter_client.manager import start_new_kernel

IRIS = """let (iris_train, _) = data::iris_binary().split(0.7, 42)?;
let iris_params = TrainParams::new(Loss::BinaryCrossEntropy, Sgd::new(0.001).momentum(0.9).nesterov(true))
    .epochs(1000).alpha(0.1).progress(Progress::Silent);"""
IRIS_FIT = """let start = std::time::Instant::now();
let mut m = Mlp::config(&[4, 5, 3, 1]).output_activation(Activation::Sigmoid).seed(42).build()?;
iris_params.fit(&mut m, &iris_train)?;
start.elapsed().as_secs_f64() * 1e3"""


def run(client, code):
    """Executes `code`; returns (seconds, mime types, text/plain). Fails on an error."""
    start = time.perf_counter()
    msg_id = client.execute(code)
    mimes, text = set(), ""
    while True:
        msg = client.get_iopub_msg(timeout=600)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind in ("execute_result", "display_data"):
            mimes.update(msg["content"]["data"].keys())
            text += msg["content"]["data"].get("text/plain", "")
        elif kind == "error":
            raise RuntimeError(f"cell failed: {code!r}: {msg['content'].get('evalue')}")
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    return time.perf_counter() - start, mimes, text


def start_kernel():
    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="prunelab", startup_timeout=600)
    run(client, "1 + 1")
    return time.perf_counter() - start, manager, client


def line(what, values, unit="s", digits=3):
    values = sorted(values)
    spread = f"  (min {values[0]:.{digits}f}, max {values[-1]:.{digits}f})" if len(values) > 1 else ""
    print(f"{what:<44} {statistics.median(values):>9.{digits}f} {unit}{spread}", flush=True)


def main(repeats):
    starts, first_lets = [], []
    for i in range(repeats):
        seconds, manager, client = start_kernel()
        starts.append(seconds)
        first_lets.append(run(client, "let model = Mlp::config(&[4, 5, 3, 1]).output_activation(Activation::Sigmoid).build()?;")[0])
        if i < repeats - 1:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    try:
        line(f"kernel start to first result (median of {repeats})", starts)
        line("first `let` of a prelude type", first_lets)
        small = [run(client, "model.n_weights() + 1")[0] for _ in range(repeats)]
        line("small cell `model.n_weights() + 1`", small)
        charts = []
        for _ in range(repeats):
            seconds, mimes, _ = run(client, "model.plot()?")
            assert "image/png" in mimes, mimes
            charts.append(seconds)
        line("chart cell `model.plot()?`", charts)
        lets = [run(client, f"let m{i} = Mlp::config(&[2, 3, 1]).build()?;")[0] for i in range(repeats)]
        line("later `let` cells", lets)
        run(client, IRIS)
        fits = [float(run(client, IRIS_FIT)[2]) for _ in range(repeats)]
        line("iris 1000-epoch fit inside a cell", fits, "ms", 2)
        print("  compare: cargo bench -p prunelab --bench train -- iris")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
