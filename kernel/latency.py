"""Measures the prunelab kernel's latency through jupyter_client, as a user meets it.

Per kernel start (REPEATS fresh kernels): kernel start to the first result, and the first `let` of a prelude
type. On the last kernel: medians of REPEATS for a small cell, a chart cell, a `let` cell, and the iris
workload of `cargo bench -p prunelab --bench train` (4-5-3-1, SGD, 1000 epochs) timed inside a cell, to
compare with the same code in a release build. Prints medians; it is a benchmark, not a test.

Then KERNELS kernels started at once (default 3): each one's start to first result, first `let`, and resident
memory (the kernel process and its cell process together) after `let (train, test) = ...split(0.7, 42)?;`
and a chart; and the disk taken by the kernels' build folders.

Usage: latency.py [REPEATS] [KERNELS]   (the kernelspec must be findable, e.g. through JUPYTER_PATH)
Measure as a new user has it: XDG_CACHE_HOME=$(mktemp -d), then `prunelab warmup`, then this.
"""
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

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


def resident_mb(pid):
    """Resident memory of `pid` and all its descendants, in MB."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for row in Path(f"/proc/{p}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1])
        except OSError:
            pass
    return total / 1024


def kernel_pid(manager):
    return manager.provisioner.process.pid


def slots_disk_mb():
    """Disk used by the kernels' build folders (and evcxr's cache beside them), in MB."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    out = {}
    for folder in [*sorted((cache / "prunelab" / "kernels").glob("slot-*[0-9]")), cache / "evcxr"]:
        if folder.is_dir():
            du = subprocess.run(["du", "-sm", str(folder)], capture_output=True, text=True).stdout.split()
            out[folder.name] = int(du[0]) if du else 0
    return out


def several_at_once(count):
    """Starts `count` kernels together; prints each one's start, first `let` and resident memory."""
    results = [None] * count

    def one(i):
        try:
            seconds, manager, client = start_kernel()
            first_let = run(client, "let (train, test) = data::iris_binary().split(0.7, 42)?;")[0]
            chart = run(client, "Mlp::config(&[4, 5, 3, 1]).seed(1).build()?.plot()?")[0]
            results[i] = (seconds, first_let, chart, resident_mb(kernel_pid(manager)), manager, client)
        except Exception as error:  # noqa: BLE001 - reported below
            results[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{count} kernels started at once:")
    for i, r in enumerate(results):
        if isinstance(r, Exception):
            print(f"  kernel {i + 1}: failed: {r}")
            continue
        seconds, first_let, chart, rss, _, _ = r
        print(f"  kernel {i + 1}: first result {seconds:6.2f} s, first `let` {first_let:5.2f} s, "
              f"chart {chart:5.2f} s, resident {rss:6.0f} MB")
    for name, mb in slots_disk_mb().items():
        print(f"  disk: {name:<8} {mb:6d} MB")
    for r in results:
        if not isinstance(r, Exception):
            r[5].stop_channels()
            r[4].shutdown_kernel(now=True)


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
        print(f"resident memory of this kernel (with its cell process): {resident_mb(kernel_pid(manager)):.0f} MB")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
    several_at_once(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
