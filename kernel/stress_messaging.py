"""Drives the prunelab kernel's ZeroMQ sockets the way JupyterLab's server does when a page opens, reconnects
and nudges, many times over, and checks that the kernel keeps answering.

Each round, on a kernel started through jupyter_client:
  - overlapping shell and control DEALERs that share one identity (the server reuses its session's identity
    for every channel it opens), each sending `kernel_info_request` and closing at once, before the reply
    (a client that timed out, or a page that reloaded);
  - a nudge: `kernel_info_request` on shell and control while an iopub SUB connects, repeated until iopub
    answers, as jupyter_server's `nudge` does;
  - a slow cell sent from one connection that then disconnects mid-request, while a new connection asks
    `kernel_info_request`: it must be answered while the cell still runs;
  - half-open peers: a raw TCP connection that sends a partial ZMTP greeting and goes away;
  - malformed requests on shell and control (no delimiter, a wrong signature, too few parts, a header that
    is not JSON), which a kernel must log and skip, as ipykernel does, not stop reading the socket for;
  - a handover: a new connection with the identity of one still open, which then closes.
After each round a fresh client must get `kernel_info_reply` within WAIT seconds; at the end a cell must run
and print its result. A kernel that stops reading a socket (the hang seen in JupyterLab) fails the first
check after it. Liveness, not speed: WAIT is generous and the times are printed, not asserted.

Usage: stress_messaging.py [ROUNDS]   (the kernelspec must be findable, e.g. through JUPYTER_PATH)
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import zmq
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

WAIT = 20.0
KERNEL_PID = None


def fail(message):
    """Ends the run with `message`; first prints every thread's stack of the kernel process (through gdb,
    where it is installed), which is what tells a hang's cause."""
    print(message, flush=True)
    if KERNEL_PID and shutil.which("gdb"):
        print(f"threads of the kernel process {KERNEL_PID}:", flush=True)
        subprocess.run(["gdb", "-p", str(KERNEL_PID), "-batch", "-nx", "-ex", "set pagination off",
                        "-ex", "thread apply all bt 40"], stdout=sys.stdout, stderr=subprocess.DEVNULL,
                       timeout=300, check=False)
    sys.exit(1)


def dealer(ctx, url, identity):
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(url)
    return sock


def ask_info(session, sock):
    msg = session.msg("kernel_info_request", {})
    session.send(sock, msg)
    return msg["header"]["msg_id"]


def wait_reply(session, sock, msg_id, timeout):
    """Waits for the reply to `msg_id` on `sock`; returns seconds taken, or None on timeout."""
    start = time.monotonic()
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return None
        if not dict(poller.poll(left * 1000)):
            continue
        _, msg = session.recv(sock, mode=zmq.NOBLOCK)
        if msg and msg["parent_header"].get("msg_id") == msg_id:
            return time.monotonic() - start


def url(info, channel):
    return f"{info['transport']}://{info['ip']}:{info[channel + '_port']}"


def fresh_client_answers(ctx, session, info, what):
    """A new connection with a new identity asks kernel_info on shell; fails the run if it gets no reply."""
    sock = dealer(ctx, url(info, "shell"), uuid.uuid4().hex.encode())
    try:
        took = wait_reply(session, sock, ask_info(session, sock), WAIT)
    finally:
        sock.close()
    if took is None:
        fail(f"FAIL the kernel did not answer kernel_info within {WAIT:.0f} s after {what}")
    return took


def churn(ctx, session, info, identity, count):
    """Overlapping shell/control connections sharing `identity`, each closing before its reply."""
    socks = []
    for i in range(count):
        for channel in ("shell", "control"):
            sock = dealer(ctx, url(info, channel), identity)
            ask_info(session, sock)
            socks.append(sock)
        if i % 2:
            socks.pop(0).close()
    for sock in socks:
        sock.close()


def nudge(ctx, session, info, identity):
    """jupyter_server's nudge: kernel_info on shell and control until iopub delivers a message."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(url(info, "iopub"))
    shell = dealer(ctx, url(info, "shell"), identity)
    control = dealer(ctx, url(info, "control"), identity)
    start = time.monotonic()
    try:
        while time.monotonic() - start < WAIT:
            ask_info(session, shell)
            ask_info(session, control)
            if sub.poll(200):
                return time.monotonic() - start
        fail(f"FAIL nudge: iopub said nothing within {WAIT:.0f} s")
    finally:
        for sock in (sub, shell, control):
            sock.close()


def slow_cell_then_reconnect(ctx, session, info, identity):
    """Sends a cell that runs for a few seconds, disconnects, reconnects and asks kernel_info: returns the
    seconds until the reply, which must come while the cell runs."""
    shell = dealer(ctx, url(info, "shell"), identity)
    msg = session.msg("execute_request", {"code": "std::thread::sleep(std::time::Duration::from_secs(4));",
                                          "silent": False, "store_history": True, "user_expressions": {},
                                          "allow_stdin": False, "stop_on_error": True})
    session.send(shell, msg)
    time.sleep(0.3)
    shell.close()
    # A new connection, as a client that dropped its socket makes one. (Under the identity just closed, the
    # old connection's late end can still remove the new one's registration: see vendor/PATCHES.md, zeromq.)
    again = dealer(ctx, url(info, "shell"), uuid.uuid4().hex.encode())
    try:
        took = wait_reply(session, again, ask_info(session, again), WAIT)
        # The slow cell's reply went to the closed connection's identity. Cells run in order, so the reply
        # to a second cell sent from here says the slow one has finished and rounds do not overlap.
        after = session.msg("execute_request", {"code": "1", "silent": True, "store_history": False,
                                                "user_expressions": {}, "allow_stdin": False,
                                                "stop_on_error": False})
        session.send(again, after)
        if wait_reply(session, again, after["header"]["msg_id"], 60) is None:
            fail("FAIL a cell sent after the slow one got no reply within 60 s")
    finally:
        again.close()
    if took is None:
        fail(f"FAIL no kernel_info reply within {WAIT:.0f} s while a cell ran")
    return took


def half_open(info):
    """A TCP peer that sends part of a ZMTP greeting and disconnects."""
    for channel in ("shell", "control", "iopub", "hb"):
        with socket.create_connection((info["ip"], info[channel + "_port"]), timeout=5) as raw:
            raw.sendall(b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03")


def malformed(ctx, session, info):
    """Requests that are not valid Jupyter messages, on shell and control."""
    good = session.serialize(session.msg("kernel_info_request", {}))
    bad = [
        [b"no delimiter", b"{}"],
        [b"<IDS|MSG>", b"0" * 64] + good[2:],
        [b"<IDS|MSG>", good[1], good[2]],
        [b"<IDS|MSG>", b"", b"not json", b"{}", b"{}", b"{}"],
    ]
    for channel in ("shell", "control"):
        sock = dealer(ctx, url(info, channel), uuid.uuid4().hex.encode())
        for frames in bad:
            sock.send_multipart(frames)
        time.sleep(0.05)
        sock.close()


def handover(ctx, session, info, identity):
    """A second connection with the identity of an open one; the first then closes; the second is answered."""
    old = dealer(ctx, url(info, "shell"), identity)
    took = wait_reply(session, old, ask_info(session, old), WAIT)
    new = dealer(ctx, url(info, "shell"), identity)
    time.sleep(0.05)
    old.close()
    try:
        answered = wait_reply(session, new, ask_info(session, new), WAIT)
    finally:
        new.close()
    if took is None or answered is None:
        fail(f"FAIL handover of identity {identity!r}: no kernel_info reply within {WAIT:.0f} s")
    return answered


def main(rounds):
    global KERNEL_PID
    manager, client = start_new_kernel(kernel_name="prunelab", startup_timeout=600)
    KERNEL_PID = getattr(getattr(manager.provisioner, "process", None), "pid", None)
    info = manager.get_connection_info()
    session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
    ctx = zmq.Context()
    worst = {"after churn": 0.0, "nudge": 0.0, "while a cell runs": 0.0, "handover": 0.0}
    try:
        for r in range(rounds):
            identity = uuid.uuid4().hex.encode()
            churn(ctx, session, info, identity, 8)
            worst["after churn"] = max(worst["after churn"],
                                       fresh_client_answers(ctx, session, info, f"round {r + 1}'s churn"))
            worst["nudge"] = max(worst["nudge"], nudge(ctx, session, info, identity))
            if r % 5 == 0:
                worst["while a cell runs"] = max(worst["while a cell runs"],
                                                 slow_cell_then_reconnect(ctx, session, info, identity))
            half_open(info)
            fresh_client_answers(ctx, session, info, f"round {r + 1}'s half-open peers")
            malformed(ctx, session, info)
            fresh_client_answers(ctx, session, info, f"round {r + 1}'s malformed requests")
            worst["handover"] = max(worst["handover"], handover(ctx, session, info, identity))
        reply = client.execute_interactive("let answer = 6 * 7; answer", timeout=120,
                                           output_hook=lambda m: outputs.append(m))
        text = "".join(m["content"].get("data", {}).get("text/plain", "") for m in outputs)
        if reply["content"]["status"] != "ok" or text.strip() != "42":
            fail(f"FAIL the last cell did not print 42 (status {reply['content']['status']}, {text!r})")
        for what, seconds in worst.items():
            print(f"slowest kernel_info reply, {what:<18} {seconds:6.3f} s")
        print(f"ok   {rounds} rounds of connect, nudge, disconnect mid-request and reconnect; "
              "the kernel answered every time and ran a cell after")
    finally:
        ctx.destroy(linger=0)
        client.stop_channels()
        manager.shutdown_kernel(now=True)


outputs = []

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
