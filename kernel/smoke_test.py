"""Executes a notebook through the installed prunelab kernel with nbclient and checks its outputs.

Usage: smoke_test.py NOTEBOOK  (the kernelspec must be findable, e.g. through JUPYTER_PATH)
"""
import sys
import time

import nbformat
from nbclient import NotebookClient


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
    client = NotebookClient(nb, kernel_name="prunelab", timeout=600, allow_errors=True)
    start = time.time()
    client.execute()
    print(f"executed {path} in {time.time() - start:.1f} s")
    cells = [c for c in nb.cells if c.cell_type == "code"]
    by_tag = {}
    for c in cells:
        for tag in c.metadata.get("tags", []):
            by_tag[tag] = c
    failures = []

    def expect(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    mimes, text = outputs_of(by_tag["sum"])
    expect(text.strip() == "10.0", f"array sum prints 10.0 (got {text.strip()!r})")
    mimes, text = outputs_of(by_tag["weights"])
    expect(text.strip() == "12", f"n_weights prints 12 (got {text.strip()!r})")
    mimes, _ = outputs_of(by_tag["chart"])
    expect("image/png" in mimes, f"chart cell has an image/png output (got {sorted(mimes)})")
    mimes, _ = outputs_of(by_tag["report"])
    expect("text/html" in mimes, f"report cell has a text/html output (got {sorted(mimes)})")
    mimes, text = outputs_of(by_tag["compile-error"])
    expect("error" in mimes and "mismatched types" in text, "a compile error is reported with the compiler's message")
    mimes, text = outputs_of(by_tag["survives"])
    expect(text.strip() == "14", f"variables from before the error survive (got {text.strip()!r})")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")


if __name__ == "__main__":
    main(sys.argv[1])
