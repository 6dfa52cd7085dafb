"""Opens a notebook in real JupyterLab, in headless Chromium driven by Selenium, again and again, each time
right after a fresh server start, and checks that the prunelab kernel reaches "Idle" and runs a cell. First,
committed notebooks opened untrusted must show every image output (loaded, with alt text, animations as GIFs).

Opens cycle through three conditions: a warm build slot; a cold one (the kernel's build folders are removed
first, so the kernel compiles the prelude's crates into a new slot before it can run a cell); and busy CPUs
(one spinning process per core during the open). Each open must show "Rust (prunelab) | Idle" in the status
bar and the cell's output "42"; the times are printed, not asserted (liveness, not speed). On a failure it
saves a screenshot and the server's log (with the kernel's) under ARTIFACTS and exits non-zero.

Usage: lab_check.py [OPENS] [ARTIFACTS]
  (the kernelspec must be findable through JUPYTER_PATH; Chromium and ChromeDriver at /usr/bin;
   the kernel's cache is $XDG_CACHE_HOME/prunelab, or ~/.cache/prunelab)
"""
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

IDLE_WITHIN = 600.0  # a cold slot compiles the prelude's crates first
OUTPUT_WITHIN = 300.0
CELL = "let answer = 6 * 7;\nanswer"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(path):
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "check", "metadata": {},
                   "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"display_name": "Rust (prunelab)", "language": "rust", "name": "prunelab"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


def spin():
    while True:
        pass


def start_server(root, port, token, log):
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
           "--ServerApp.disable_check_xsrf=True", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the Jupyter server did not start (see {log.name})")


def browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def status_text(driver):
    """The kernel's name and state in JupyterLab's status bar, e.g. "Rust (prunelab) | Idle"."""
    for item in driver.find_elements(By.CSS_SELECTOR, ".jp-StatusBar-TextItem"):
        text = item.text.strip()
        if "|" in text and "prunelab" in text:
            return text
    return ""


def wait_for(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(what)


def close(driver, server):
    """Quits the browser (if it started) and stops the Jupyter server, killing it after 30 s."""
    if driver is not None:
        driver.quit()
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()


def open_once(index, condition, root, cache, artifacts):
    port, token = free_port(), os.urandom(16).hex()
    log_path = artifacts / f"open-{index:02d}-server.log"
    if condition == "cold slot":
        shutil.rmtree(cache / "kernels", ignore_errors=True)
    spinners = []
    if condition == "busy CPUs":
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(os.cpu_count() or 2)]
        for p in spinners:
            p.start()
    with open(log_path, "w") as log, tempfile.TemporaryDirectory() as profile:
        server = start_server(root, port, token, log)
        driver = None
        start = time.time()
        try:
            driver = browser(profile)
            driver.get(f"http://127.0.0.1:{port}/lab/tree/check.ipynb?token={token}")
            wait_for("the kernel reaching Idle", lambda: status_text(driver).endswith("| Idle"), IDLE_WITHIN)
            idle = time.time() - start
            editor = wait_for("the cell's editor", lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Cell .cm-content"), 30)[0]
            editor.click()
            editor.send_keys(Keys.SHIFT, Keys.ENTER)
            wait_for("the cell's output 42", lambda: any(
                o.text.strip() == "42" for o in driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")),
                OUTPUT_WITHIN)
            result = time.time() - start
            print(f"open {index:2d} ({condition:<10}): Idle after {idle:6.1f} s, cell output after {result:6.1f} s",
                  flush=True)
            return True
        except Exception as error:  # noqa: BLE001 - any failure of the open is reported the same way
            shot = artifacts / f"open-{index:02d}.png"
            if driver is not None:
                driver.save_screenshot(str(shot))
            print(f"FAIL open {index:2d} ({condition}): {type(error).__name__}: {error}; status bar: "
                  f"{status_text(driver) if driver else '?'!r}; screenshot {shot}, server log {log_path}",
                  flush=True)
            return False
        finally:
            close(driver, server)
            for p in spinners:
                p.kill()


def stored_images_show(root, artifacts):
    """Opens committed notebooks (copied, so untrusted, as after a clone) and checks that every image output
    shows: an `<img>` that loaded, with alt text, and an animation as the GIF itself (not its PNG fallback)."""
    repo_notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    names = ["01-iris-threshold-sweep.ipynb", "03-structured-pruning.ipynb"]
    port, token = free_port(), os.urandom(16).hex()
    log_path = artifacts / "stored-images-server.log"
    with open(log_path, "w") as log, tempfile.TemporaryDirectory() as profile:
        server = start_server(root, port, token, log)
        driver = None
        try:
            driver = browser(profile)
            for name in names:
                nb = json.loads((repo_notebooks / name).read_text())
                outputs = [o for c in nb["cells"] for o in c.get("outputs", [])
                           if any(k.startswith("image/") for k in o.get("data", {}))]
                gifs = sum("image/gif" in o["data"] for o in outputs)
                shutil.copy(repo_notebooks / name, Path(root) / name)
                # A workspace of its own per notebook: the first opens below do not restore these tabs, and no
                # tab of the notebook before (restored with a shared workspace, partly rendered) can be the panel
                # read here while this one opens.
                workspace = f"stored-images-{Path(name).stem}"
                driver.get(f"http://127.0.0.1:{port}/lab/workspaces/{workspace}/tree/{name}?token={token}")

                def images():
                    found = driver.execute_script(
                        "const panels = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden)');"
                        "const tab = document.querySelector('.lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel');"
                        "const panel = panels.length === 1 && tab !== null && tab.textContent === arguments[0]"
                        " ? panels[0] : null;"
                        "return panel === null ? [] : [...panel.querySelectorAll('.jp-OutputArea-output img')].map("
                        "i => [i.complete && i.naturalWidth > 0, i.alt, i.getAttribute('src').slice(0, 15)])", name)
                    return found if len(found) == len(outputs) and all(ok for ok, _, _ in found) else None

                try:
                    found = wait_for(f"{len(outputs)} loaded images in {name}", images, 120)
                except TimeoutError:
                    shot = artifacts / f"stored-{name}.png"
                    driver.save_screenshot(str(shot))
                    print(f"FAIL {name}: not every image output showed a loaded <img> (screenshot {shot})")
                    return False
                without_alt = [src for _, alt, src in found if not alt.strip()]
                shown_gifs = sum(src.startswith("data:image/gif") for _, _, src in found)
                if len(found) != len(outputs) or without_alt or shown_gifs != gifs:
                    print(f"FAIL {name}: {len(found)} images for {len(outputs)} image outputs, "
                          f"{len(without_alt)} without alt text, {shown_gifs} of {gifs} animations as GIF")
                    return False
                print(f"ok   {name} in JupyterLab, untrusted: {len(found)} image outputs shown with alt text, "
                      f"{gifs} animation(s) as GIF", flush=True)
            return True
        finally:
            close(driver, server)


def main(opens, artifacts):
    artifacts.mkdir(parents=True, exist_ok=True)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "prunelab"
    conditions = ["warm slot", "cold slot", "warm slot", "busy CPUs"]
    failed = 0
    with tempfile.TemporaryDirectory() as images_root:
        if not stored_images_show(images_root, artifacts):
            sys.exit(1)
    with tempfile.TemporaryDirectory() as root:
        notebook(Path(root) / "check.ipynb")
        for i in range(opens):
            # A fresh copy each time: JupyterLab would otherwise open the saved output.
            notebook(Path(root) / "check.ipynb")
            if not open_once(i + 1, conditions[i % len(conditions)], root, cache, artifacts):
                failed += 1
    print(f"{opens - failed} of {opens} first opens reached Idle and ran a cell")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20,
         Path(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="lab-check-")))
