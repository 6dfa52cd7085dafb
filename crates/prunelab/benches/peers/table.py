"""Prints the comparison table from the JSON lines written by run.sh: per workload and thread count,
prunelab against the best peer whose outputs agree with prunelab's, then every peer's time and check.

Usage: table.py RESULTS.jsonl [--missing FILE]

--missing: a file saying why a peer's rows are absent (run.sh writes one when DeepSparse could not run);
its lines are printed above and below the table, so that absent rows never pass unnoticed.
"""
import json
import re
import sys

LAYERS = [784, 1000, 1000, 500, 200, 10]
WEIGHTS = sum(a * b for a, b in zip(LAYERS, LAYERS[1:]))
# Outputs that differ from prunelab's logits by more than this (relative to their scale) are wrong.
AGREE = 1e-3

# prunelab workload -> (description, FLOPs per sample or None, target ratio against the best peer,
#                       [(peer workload, peer name)])
DENSE_10K = [("c-dense", "PyTorch dense"), ("c-onednn", "PyTorch oneDNN"), ("c-ort", "ONNX Runtime"),
             ("c-deepsparse-dense", "DeepSparse 1.8 dense")]
DENSE_1 = [("c1-dense", "PyTorch dense"), ("c1-onednn", "PyTorch oneDNN"), ("c1-ort", "ONNX Runtime"),
           ("c1-deepsparse-dense", "DeepSparse 1.8 dense")]
def TRAIN_PEERS(tag):  # noqa: N802 - a table entry, like the constants around it
    return [(f"{tag}-masked", "PyTorch + prune masks"), (f"{tag}-csr", "torch.sparse CSR"),
            (f"prunelab:{tag}-prunelab-masked", "prunelab dense + masks"), ("prunelab:t-dense", "prunelab unpruned")]


WORKLOADS = {
    "a": ("iris: 1000 SGD epochs + 1000-threshold AP sweep", None, 100.0, [("a", "scikit-learn + numpy loop")]),
    "b": ("784-1000-1000-500-200-10 training, batch 100, Adam", 6 * WEIGHTS, 2.0, [("b", "PyTorch")]),
    # Pruned training: every layer keeps 10% (2%) of its weights; prunelab's own dense runs (masked, and the
    # unpruned network) count as peers, so the ratio is against the fastest of them all.
    "t90": ("training, 90% pruned, batch 100, Adam, in order", 6 * WEIGHTS // 10, 5.0, TRAIN_PEERS("t90")),
    "t98": ("training, 98% pruned, batch 100, Adam, in order", 6 * WEIGHTS // 50, 8.0, TRAIN_PEERS("t98")),
    "c-dense": ("inference, batch 10,000, dense", 2 * WEIGHTS, 1.0, DENSE_10K),
    # Every layer keeps exactly 10% of its weights (each layer's count is a multiple of 10).
    "c-sparse90": ("inference, batch 10,000, 90% pruned", 2 * WEIGHTS // 10, 1.5,
                   [("c-deepsparse-sparse90", "DeepSparse 1.8 sparse"), ("c-torch-csr90", "torch.sparse CSR"),
                    ("c-scipy-csr90", "scipy.sparse CSR"), ("c-masked90", "PyTorch + prune masks")] + DENSE_10K),
    "c1-dense": ("inference, batch 1, dense (latency)", 2 * WEIGHTS, 1.0, DENSE_1),
    "c1-sparse90": ("inference, batch 1, 90% pruned (latency)", 2 * WEIGHTS // 10, 1.0,
                    [("c1-deepsparse-sparse90", "DeepSparse 1.8 sparse")] + DENSE_1),
}


def measured_peak(get, threads):
    """The f32 FMA peak prunelab_side.rs measured with this many threads, if it ran the `peak` workload."""
    r = get.get(("prunelab", threads, "peak"))
    return (r["gflops"], f"measured: {threads} thread(s) of independent FMA chains") if r else None


def nominal_peak(threads):
    """Cores x FMA units x f32 lanes x 2 x clock from /proc/cpuinfo; only when the peak was not measured."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return 0.0, "unknown"
    flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split())
    mhz = float(re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M).group(1))
    lanes, units = (16, 2) if "avx512f" in flags else (8, 2) if "fma" in flags else (4, 1)
    return threads * units * lanes * 2 * mhz / 1000.0, f"nominal, {mhz / 1000:.2f} GHz from /proc/cpuinfo"


def show(r):
    """A time as the row reads best: per sample for big batches, else per call."""
    s = r["seconds"]
    return f"{s * 1e3:.1f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def main(path, missing=None):
    absent = []
    if missing:
        try:
            absent = [l.strip() for l in open(missing) if l.strip()]
        except FileNotFoundError:
            pass
    for line in absent:
        print(f"NOTE: {line}")
    rows = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    get = {(r["side"], r["threads"], r["workload"]): r for r in rows}
    threads = sorted({r["threads"] for r in rows})
    print(f"\n{'workload':<52} {'thr':>3} {'prunelab':>10} {'best peer':>10} {'ratio':>7} {'target':>8} "
          f"{'GFLOP/s':>8} {'%peak':>6}  best peer")
    notes = []
    for t in threads:
        peak, how = measured_peak(get, t) or nominal_peak(t)
        for name, (desc, flops, target, peers) in WORKLOADS.items():
            ours = get.get(("prunelab", t, name))
            if ours is None:
                continue
            valid, wrong = [], []
            for peer, label in peers:
                # "prunelab:NAME": one of prunelab's own runs as the yardstick (its dense path, say).
                side, peer = ("prunelab", peer[9:]) if peer.startswith("prunelab:") else ("peer", peer)
                r = get.get((side, t, peer))
                if r is None:
                    continue
                d = r.get("maxdiff")
                (wrong if d is not None and d > AGREE else valid).append((r, label))
                check = "outputs not checked" if d is None else f"outputs within {d:.1e}" if d <= AGREE \
                    else f"WRONG outputs (off by {d:.2f} of their scale): not counted"
                notes.append(f"  {t} thr, {desc}: {label:<22} {show(r):>10}  "
                             f"prunelab {r['seconds'] / ours['seconds']:.2f}x; {check}")
            if not valid:
                continue
            best, label = min(valid, key=lambda v: v[0]["seconds"])
            ratio = best["seconds"] / ours["seconds"]
            gf = flops * ours["samples"] / ours["seconds"] / 1e9 if flops else None
            ok = "yes" if ratio >= target else "NO"
            print(f"{desc:<52} {t:>3} {show(ours):>10} {show(best):>10} {ratio:>6.2f}x {target:>4.1f}x{ok:>4} "
                  + (f"{gf:8.1f} {100 * gf / peak:5.0f}%" if gf else f"{'-':>8} {'-':>6}") + f"  {label}")
        spread = get.get(("prunelab", t, "c-sparse90-spread"))
        if spread:
            shifts = [get.get(("prunelab", t, f"c-sparse90-shift{k}")) for k in (16, 32, 48)]
            print(f"{'':<52} {t:>3}  prunelab sparse over {spread['runs']} runs: {spread['min'] * 1e3:.1f}-"
                  f"{spread['max'] * 1e3:.1f} ms ({(spread['max'] / spread['min'] - 1) * 100:.1f}% spread); heap "
                  "shifted 16/32/48 B: " + "/".join(f"{s['seconds'] * 1e3:.1f}" for s in shifts if s) + " ms")
            for key, what in (("fma", "FMA loop (registers only)"), ("stream", "256 MB read six times (memory only)")):
                if f"{key}_min" in spread:
                    lo, hi = spread[f"{key}_min"], spread[f"{key}_max"]
                    print(f"{'':<52} {t:>3}  {what} between those runs: {lo * 1e3:.1f}-{hi * 1e3:.1f} ms "
                          f"({(hi / lo - 1) * 100:.1f}% spread: the machine's noise)")
        print(f"{'':<52} {t:>3}  peak: {peak:.0f} GFLOP/s ({how})")
    print("\nEvery peer (ratio = peer time / prunelab time):")
    print("\n".join(notes))
    print("\nRatio: the best peer whose outputs agree with prunelab's logits (within 1e-3 of their scale) against "
          "prunelab. GFLOP/s counts the FLOPs done: 6 per weight and sample for training, 2 for inference, and for "
          "the sparse rows 2 (training: 6) per kept weight only; %peak against the measured FMA peak. Training rows "
          "check the weights after the epoch (relative to the largest weight), not logits.")
    for line in absent:
        print(f"NOTE: {line}")


if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--missing"):
    sys.exit(__doc__)
main(sys.argv[1], sys.argv[3] if len(sys.argv) == 4 else None)
