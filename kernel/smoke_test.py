"""Executes a notebook through the installed prunelab kernel with nbclient and checks its outputs, then
presses the stop button (Jupyter's interrupt_request) on a running fit, on an idle kernel, and on a cell
that ignores it, through jupyter_client; then runs failing user code (a panic, an `Err` from `?`, a stack
overflow, a failed allocation, a network too large) and checks the messages and what survives; last, kills
the client that started a kernel running a cell and checks that the kernel and the cell's process end.

Usage: smoke_test.py NOTEBOOK  (the kernelspec must be findable, e.g. through JUPYTER_PATH)
"""
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import nbformat
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

FAILURES = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def outputs_of(cell):
    """(mime types, text) of a code cell's outputs."""
    mimes, text = set(), []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            mimes.add("stream")
            text.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            mimes.update(out["data"].keys())
            text.append(out["data"].get("text/plain", ""))
        elif out["output_type"] == "error":
            mimes.add("error")
            text.append(out.get("evalue", "") + "\n".join(out.get("traceback", [])))
    return mimes, "".join(text)


def main(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="prunelab", timeout=600, startup_timeout=600, allow_errors=True)
    start = time.time()
    client.execute()
    print(f"executed {path} in {time.time() - start:.1f} s")
    cells = [c for c in nb.cells if c.cell_type == "code"]
    by_tag = {}
    for c in cells:
        for tag in c.metadata.get("tags", []):
            by_tag[tag] = c
    expect(cells[0].execution_count == 1, f"the first cell is [1] (got {cells[0].execution_count})")

    mimes, text = outputs_of(by_tag["sum"])
    expect(text.strip() == "10.0", f"array sum prints 10.0 (got {text.strip()!r})")
    mimes, text = outputs_of(by_tag["weights"])
    expect(text.strip() == "12", f"n_weights prints 12 (got {text.strip()!r})")
    mimes, text = outputs_of(by_tag["chart"])
    expect({"image/png", "text/html", "text/plain"} <= mimes,
           f"chart cell has image/png with text/html and text/plain fallbacks (got {sorted(mimes)})")
    chart_out = next(o for o in by_tag["chart"].outputs if "image/png" in o.get("data", {}))
    alt = chart_out.get("metadata", {}).get("image/png", {}).get("alt")
    expect(alt and alt == text.strip() and f'alt="{alt}"' in chart_out["data"]["text/html"],
           f"the chart's title is its alt text in the output's metadata and its HTML (got {alt!r}, {text!r})")
    mimes, _ = outputs_of(by_tag["report"])
    expect({"text/html", "text/plain"} <= mimes, f"report cell has text/html and text/plain (got {sorted(mimes)})")
    info = nb.metadata.get("language_info")  # nbclient copies it from the kernel's kernel_info reply
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.split()
    expect(info is not None and info.get("name") == "rust" and info.get("pygments_lexer") == "rust"
           and info.get("version") == (rustc[1] if len(rustc) > 1 else None),
           f"kernel_info's language_info is rust, lexer rust, version of rustc (got {info}, rustc {rustc})")
    mimes, text = outputs_of(by_tag["compile-error"])
    expect("error" in mimes and "mismatched types" in text, "a compile error is reported with the compiler's message")
    mimes, text = outputs_of(by_tag["survives"])
    expect(text.strip() == "14", f"variables from before the error survive (got {text.strip()!r})")
    interrupts()
    failures()
    orphaned()
    if FAILURES:
        sys.exit(f"{len(FAILURES)} check(s) failed")


class Cell:
    """A cell sent with jupyter_client: its outputs as they arrive, and whether it has finished."""

    def __init__(self, client, code):
        self.client, self.msg_id = client, client.execute(code)
        self.text, self.error, self.done, self.sent = "", None, False, time.time()
        self.streamed = []  # (arrival time, text) of each stream message

    def pump(self, until, timeout):
        """Reads messages until `until(self)` holds or `timeout` seconds pass; returns whether it held."""
        deadline = time.time() + timeout
        while not until(self) and time.time() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.2)
            except Exception:  # queue.Empty
                continue
            if msg["parent_header"].get("msg_id") != self.msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                self.text += content["text"]
                self.streamed.append((time.time(), content["text"]))
            elif kind in ("execute_result", "display_data"):
                self.text += content["data"].get("text/plain", "")
            elif kind == "error":
                self.error = content["evalue"] + "\n".join(content.get("traceback", []))
            elif kind == "status" and content["execution_state"] == "idle":
                self.done = True
        return until(self)


def run(client, code, timeout=600, expect_text=None):
    """Runs a cell to the end. With `expect_text`, also waits (up to 10 s more) for that text: evcxr forwards
    the cell's stderr on its own thread, so an error's text may arrive just after the kernel went idle."""
    cell = Cell(client, code)
    cell.pump(lambda c: c.done, timeout)
    if expect_text is not None:
        cell.pump(lambda c: expect_text in c.text + (c.error or ""), 10)
    return cell


def interrupts():
    """The stop button: a long fit stops with Error::Interrupted and its model and the other variables live
    on; an idle kernel loses nothing; a cell that ignores the interrupt is killed after the grace period."""
    manager, client = start_new_kernel(kernel_name="prunelab", startup_timeout=600)
    try:
        # Pressed while the cell still compiles (a fresh kernel's first `let` waits for rust-analyzer): the
        # interrupt reaches the cell's code when it starts, and the fit stops at its first check.
        early = Cell(client, "let kept = 41;\n"
                             "let (train, _) = data::iris_binary().split(0.7, 42)?;\n"
                             "let mut model = Mlp::config(&[4, 5, 3, 1]).output_activation(Activation::Sigmoid).seed(1).build()?;\n"
                             "let before = model.clone();\n"
                             "let early = TrainParams::new(Loss::BinaryCrossEntropy, Sgd::new(0.01)).epochs(100_000_000)"
                             ".progress(Progress::Silent).fit(&mut model, &train);\n"
                             'println!("{early:?}");')
        time.sleep(0.5)
        manager.interrupt_kernel()
        early.pump(lambda c: c.done, 120)
        early.pump(lambda c: "Err(" in c.text, 10)  # the printed line can follow the idle status
        expect(early.done and early.error is None and 'Err(Interrupted { what: "training"' in early.text,
               f"a stop pressed while the cell compiles stops its fit when it starts (got {early.text!r}, {early.error!r})")
        fit = Cell(client, 'println!("training");\n'
                           "TrainParams::new(Loss::BinaryCrossEntropy, Sgd::new(0.01)).epochs(100_000_000)"
                           ".progress(Progress::Silent).fit(&mut model, &train)?;")
        started = fit.pump(lambda c: "training" in c.text, 600)
        expect(started, "the long fit started")
        time.sleep(1.0)
        pressed = time.time()
        manager.interrupt_kernel()
        fit.pump(lambda c: c.done, 30)
        stopped = time.time() - pressed
        # An error returned by `?` is printed to the cell's stderr, as evcxr does for every cell (on its own
        # thread: the text may follow the idle status by a moment).
        fit.pump(lambda c: "interrupted: training stopped" in c.text, 10)
        expect(fit.done and "interrupted: training stopped" in fit.text,
               f"the interrupted fit returns Error::Interrupted within {stopped:.2f} s (got {fit.text!r})")
        after = run(client, "(kept + 1, model.n_weights(), model != before, model.forward(&train.records)?.len())")
        expect(after.error is None and after.text.strip() == "(42, 38, true, 70)",
               f"the model keeps its trained weights and other variables survive (got {after.text.strip()!r}, {after.error!r})")
        manager.interrupt_kernel()  # idle: nothing to stop, nothing lost
        time.sleep(0.5)
        idle = run(client, "kept + 2")
        expect(idle.text.strip() == "43", f"an interrupt on an idle kernel loses nothing (got {idle.text.strip()!r})")
        stubborn = Cell(client, 'println!("sleeping"); for _ in 0..100_000 { std::thread::sleep(std::time::Duration::from_millis(50)); }')
        expect(stubborn.pump(lambda c: "sleeping" in c.text, 600), "a cell that ignores interrupts started")
        pressed = time.time()
        manager.interrupt_kernel()
        stubborn.pump(lambda c: c.done, 30)
        killed = time.time() - pressed
        expect(stubborn.done and "every variable is lost" in (stubborn.error or ""),
               f"a cell that ignores the interrupt is killed after {killed:.1f} s and says so (got {stubborn.error!r})")
        fresh = run(client, "40 + 3")
        expect(fresh.text.strip() == "43", f"the kernel runs cells again after the kill (got {fresh.text.strip()!r})")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# A client that starts a kernel, runs a cell that never ends, writes the kernel's process id into the file
# named by its argument, and dies when told.
ORPHANING_CLIENT = textwrap.dedent("""
    import os, signal, sys
    from jupyter_client.manager import start_new_kernel
    manager, client = start_new_kernel(kernel_name="prunelab", startup_timeout=600)
    client.execute('println!("sleeping"); loop { std::thread::sleep(std::time::Duration::from_millis(50)); }')
    while True:
        msg = client.get_iopub_msg(timeout=600)
        if msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]:
            break
    with open(sys.argv[1] + ".part", "w") as f:
        f.write(str(manager.provisioner.process.pid))
    os.rename(sys.argv[1] + ".part", sys.argv[1])
    sys.stdin.readline()
    os.kill(os.getpid(), signal.SIGKILL)
""")


def live_processes(group):
    """Process ids of the live (not zombie) processes of process group `group`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses; the fields follow the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            found.append(int(entry))
    return found


def orphaned():
    """A client killed (a Jupyter server's `kill -9`, an out-of-memory kill) sends no shutdown request: the
    kernel it started sees its parent go and ends, with the cell it was running, within seconds."""
    # (The kernel writes its log to the client's stdout and stderr: a file, which no one has to keep reading.)
    log = tempfile.TemporaryFile(mode="w+")
    with tempfile.TemporaryDirectory() as folder:
        said = os.path.join(folder, "kernel-pid")
        client = subprocess.Popen([sys.executable, "-c", ORPHANING_CLIENT, said], stdin=subprocess.PIPE,
                                  stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 900
        while not os.path.exists(said) and client.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        if not os.path.exists(said):
            client.kill()
            client.wait()
            log.seek(0)
            expect(False, f"a client started a kernel running a cell (got {client.poll()}, {log.read()[-2000:]!r})")
            return
        with open(said) as f:
            line = f.read().strip()
    kernel = int(line)
    # The kernel leads its process group (Jupyter starts it in a new session); the cell runs in a process of it.
    group = os.getpgid(kernel)
    at_kill = live_processes(group)
    client.stdin.write("die\n")
    client.stdin.flush()
    try:
        client.wait(timeout=60)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait()
    expect(client.returncode == -signal.SIGKILL, f"the client was killed (got {client.returncode})")
    deadline = time.time() + 15
    while live_processes(group) and time.time() < deadline:
        time.sleep(0.2)
    left = live_processes(group)
    expect(group == kernel and kernel in at_kill and len(at_kill) >= 2 and not left,
           f"the kernel and its cell's process end once the client that started them is gone "
           f"(group {group} of kernel {kernel}: {at_kill} before the client died, {left} 15 s after)")
    log.seek(0)
    text = log.read()
    expect("has ended, so the kernel ends too" in text, f"the kernel says why it ended on its log (got {text[-2000:]!r})")
    for pid in left:  # a failed check leaves nothing running
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def failures():
    """What a user's own failing code does: a panic and an `Err` from `?` keep the earlier variables; a stack
    overflow and a failed allocation end the cell's process with a message that says why and what is lost,
    and the kernel runs the next cell."""
    manager, client = start_new_kernel(kernel_name="prunelab", startup_timeout=600)
    try:
        run(client, "let kept = 41;")
        panicked = run(client, 'panic!("boom in a cell")', expect_text="boom in a cell")
        expect("boom in a cell" in panicked.text + (panicked.error or ""), f"a panic shows its message (got {panicked.text!r})")
        after = run(client, "kept + 1")
        expect(after.text.strip() == "42", f"variables survive a panic (got {after.text.strip()!r}, {after.error!r})")
        err = run(client, "let none = data::iris().select(&[])?;", expect_text="selection is empty")
        expect("selection is empty" in err.text + (err.error or ""), f"an Err from ? shows its message (got {err.text!r})")
        after = run(client, "kept + 2")
        expect(after.text.strip() == "43", f"variables survive an Err from ? (got {after.text.strip()!r}, {after.error!r})")
        # A progress bar reaches the notebook as it is redrawn, not in one piece when the fit ends.
        bar = Cell(client, "let (bar_train, _) = data::iris_binary().split(0.7, 42)?;\n"
                           "let mut bar_model = Mlp::config(&[4, 64, 64, 1]).output_activation(Activation::Sigmoid).seed(3).build()?;\n"
                           "TrainParams::new(Loss::BinaryCrossEntropy, Sgd::new(0.01)).epochs(100_000)"
                           ".progress(Progress::Bar).fit(&mut bar_model, &bar_train)?;")
        bar.pump(lambda c: c.done, 600)
        redraws = [(t, text) for t, text in bar.streamed if text.endswith("\r")]
        spread = redraws[-1][0] - redraws[0][0] if len(redraws) > 1 else 0.0
        expect(bar.error is None and len(redraws) >= 5 and spread > 0.5,
               f"a progress bar arrives redraw by redraw ({len(redraws)} redraws over {spread:.1f} s)")
        # A cell that stops early keeps the variables of earlier cells but not its own: the kernel names them.
        lost = run(client, "let bound_here = 7;\nlet none = data::iris().select(&[])?;", expect_text="not kept")
        expect("`bound_here`, `none` were bound in this cell" in lost.text,
               f"a cell that returns early names the variables it loses (got {lost.text!r})")
        deep = run(client, "fn depth(n: u64) -> u64 { let pad = std::hint::black_box([n; 64]); "
                           "if n == 0 { pad[3] } else { 1 + depth(n - 1) + pad[5] * 0 } }\ndepth(100_000_000)")
        said = deep.text + (deep.error or "")
        expect("stack overflow" in said and "Variables defined before this cell are lost" in said,
               f"a stack overflow says so and that the variables are lost (got {said[-400:]!r})")
        fresh = run(client, "40 + 4")
        expect(fresh.text.strip() == "44", f"the kernel runs cells after a stack overflow (got {fresh.text.strip()!r})")
        oom = run(client, "let big: Vec<u8> = Vec::with_capacity(1usize << 45); big.capacity()",
                  expect_text="memory allocation of")
        said = oom.text + (oom.error or "")
        expect("memory allocation of" in said and "more memory than the machine has" in said,
               f"a failed allocation says so (got {said[-400:]!r})")
        fresh = run(client, "40 + 5")
        expect(fresh.text.strip() == "45", f"the kernel runs cells after an abort (got {fresh.text.strip()!r})")
        # prunelab's own API never aborts: a network too large for the machine is an error, and nothing is lost.
        run(client, "let kept = 46;")
        huge = run(client, "let net = Mlp::config(&[1_000_000, 1_000_000, 1_000_000]).build()?;", expect_text="GB")
        said = huge.text + (huge.error or "")
        expect("needs" in said and "GB" in said, f"a network too large is Error::TooLarge (got {said!r})")
        after = run(client, "kept + 1")
        expect(after.text.strip() == "47", f"variables survive Error::TooLarge (got {after.text.strip()!r})")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main(sys.argv[1])
