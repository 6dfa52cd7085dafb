"""A teaching lab for real: JupyterHub (with its configurable-http-proxy) spawning single-user servers as
separate Unix accounts, each running a notebook cell in its own prunelab kernel, through the Hub.

Starts the Hub from HUB_CONFIG, then for each user: starts the user's server through the Hub's REST API,
creates a prunelab kernel through the Hub's proxy (/user/NAME/api/kernels), and runs cells over the kernel's
websocket (/user/NAME/api/kernels/ID/channels), as JupyterLab does. Checks each cell's result and reports,
per user: time from the kernel's creation to its first result, the first `let`, a chart, the resident memory
of all the user's processes (server, kernel, cell process) and the disk the user's cache takes.

Usage: hub_check.py HUB_CONFIG HUB_URL TOKEN USER [USER ...]   (run as root; the Hub is started here)
"""
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
import websocket

CELLS = [
    ("1 + 1", "2"),
    ("let (train, test) = data::iris_binary().split(0.7, 42)?;", None),
    ("Mlp::config(&[4, 5, 3, 1]).seed(1).build()?.plot()?", "image/png"),
    ("train.n_samples() + test.n_samples()", "100"),
]


def api(hub, token, method, path, **kw):
    r = requests.request(method, f"{hub}/hub/api{path}", headers={"Authorization": f"token {token}"}, timeout=60, **kw)
    return r


def start_server(hub, token, user):
    r = api(hub, token, "POST", f"/users/{user}/server")
    if r.status_code not in (201, 202, 400):  # 400: already running
        raise RuntimeError(f"starting {user}'s server: {r.status_code} {r.text}")
    deadline = time.time() + 180
    while time.time() < deadline:
        model = api(hub, token, "GET", f"/users/{user}").json()
        server = model.get("servers", {}).get("")
        if server and server.get("ready"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{user}'s server did not become ready in 180 s")


def execute(ws, code):
    """Sends `code` as an execute_request; returns (status, mime types, the result's text/plain, error)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "check", "session": uuid.uuid4().hex,
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    mimes, text, error, status, idle = set(), "", None, None, False  # text: the cell's result
    deadline = time.time() + 600
    while time.time() < deadline and not (status and idle):
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("execute_result", "display_data"):
            mimes.update(content["data"])
            text += content["data"].get("text/plain", "")
        elif kind == "error":
            error = content.get("evalue")
        elif kind == "execute_reply":
            status = content["status"]
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    return status, mimes, text.strip(), error


def user_resident_mb(user):
    out = subprocess.run(["ps", "-u", user, "-o", "rss="], capture_output=True, text=True).stdout.split()
    return sum(int(x) for x in out) / 1024


def user_cache_mb(user):
    out = subprocess.run(["du", "-sm", f"/home/{user}/.cache"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def one_user(hub, token, user):
    start = time.time()
    start_server(hub, token, user)
    server_ready = time.time() - start
    base = f"{hub}/user/{user}/api"
    headers = {"Authorization": f"token {token}"}
    t0 = time.time()
    r = requests.post(f"{base}/kernels", headers=headers, json={"name": "prunelab"}, timeout=60)
    r.raise_for_status()
    kernel = r.json()["id"]
    ws = websocket.create_connection(f"{hub.replace('http', 'ws')}/user/{user}/api/kernels/{kernel}/channels",
                                     header=[f"Authorization: token {token}"], timeout=600)
    times, failures = [], []
    try:
        for code, expected in CELLS:
            c0 = time.time()
            status, mimes, text, error = execute(ws, code)
            times.append(time.time() - c0)
            ok = status == "ok" and (expected is None or expected == text or expected in mimes)
            if not ok:
                failures.append(f"{user}: {code!r} gave status {status}, {sorted(mimes)}, {text!r}, {error!r}")
            if len(times) == 1:
                first_result = time.time() - t0
    finally:
        ws.close()
    return {"user": user, "server": server_ready, "first_result": first_result, "let": times[1],
            "chart": times[2], "resident": user_resident_mb(user), "disk": user_cache_mb(user),
            "failures": failures}


def main(config, hub, token, users):
    log = open("hub.log", "w")
    hub_proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", config], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{hub}/hub/api", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("the Hub did not answer within 120 s (see hub.log)")
        with ThreadPoolExecutor(len(users)) as pool:
            results = list(pool.map(lambda u: one_user(hub, token, u), users))
        print("| user | server ready | kernel to first result | first `let` | chart | resident (all the user's processes: "
              "server, kernel, cell process) | disk (~/.cache) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in results:
            print(f"| {r['user']} | {r['server']:.1f} s | {r['first_result']:.2f} s | {r['let']:.2f} s | "
                  f"{r['chart']:.2f} s | {r['resident']:.0f} MB | {r['disk']} MB |")
        failures = [f for r in results for f in r["failures"]]
        for f in failures:
            print("FAIL", f)
        for user in users:
            api(hub, token, "DELETE", f"/users/{user}/server")
        if failures:
            sys.exit(f"{len(failures)} cell(s) failed")
        print(f"ok   {len(users)} users ran prunelab cells in their own kernels through JupyterHub")
    finally:
        hub_proc.terminate()
        try:
            hub_proc.wait(30)
        except subprocess.TimeoutExpired:
            hub_proc.kill()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
