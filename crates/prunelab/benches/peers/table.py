"""Prints the comparison table from the JSON lines written by run.sh."""
import json
import os
import re
import sys

LAYERS = [784, 1000, 1000, 500, 200, 10]
WEIGHTS = sum(a * b for a, b in zip(LAYERS, LAYERS[1:]))

# workload -> (description, peer workload, peer name, FLOPs per sample or None, target ratio)
WORKLOADS = {
    "a": ("iris: 1000 SGD epochs + 1000-threshold AP sweep (s)", "a", "scikit-learn + numpy loop", None, 100.0),
    "b": ("784-1000-1000-500-200-10 training, batch 100, Adam", "b", "PyTorch", 6 * WEIGHTS, 1.5),
    "c-dense": ("inference, batch 10,000, dense", "c-dense", "PyTorch dense", 2 * WEIGHTS, 1.0),
    # Every layer keeps exactly 10% of its weights (each layer's count is a multiple of 10).
    "c-sparse90": ("inference, batch 10,000, 90% pruned (sparse)", "c-dense", "PyTorch dense", 2 * WEIGHTS // 10, 2.0),
    "c-masked90": (None, None, None, None, None),
}


def peak_gflops(threads):
    """cores x FMA units x f32 lanes x 2 x clock, from /proc/cpuinfo (2 FMA units assumed with AVX-512)."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return None, "unknown"
    flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split())
    mhz = float(re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M).group(1))
    lanes, units = (16, 2) if "avx512f" in flags else (8, 2) if "fma" in flags else (4, 1)
    peak = threads * units * lanes * 2 * mhz / 1000.0
    return peak, f"{threads} core(s) x {units} FMA x {lanes} lanes x 2 x {mhz / 1000:.2f} GHz"


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    get = {(r["side"], r["threads"], r["workload"]): r for r in rows}
    threads = sorted({r["threads"] for r in rows})
    print(f"\n{'workload':<50} {'thr':>3} {'prunelab':>12} {'peer':>12} {'ratio':>7} {'target':>7}  "
          f"{'GFLOP/s':>8} {'peak':>6}  peer")
    for t in threads:
        peak, how = peak_gflops(t)
        for name, (desc, peer_name, peer_label, flops, target) in WORKLOADS.items():
            if desc is None or ("prunelab", t, name) not in get or ("peer", t, peer_name) not in get:
                continue
            ours, theirs = get[("prunelab", t, name)], get[("peer", t, peer_name)]
            ratio = theirs["seconds"] / ours["seconds"]
            if flops:
                rate = lambda r: f"{r['samples'] / r['seconds']:,.0f}/s"
                gf = flops * ours["samples"] / ours["seconds"] / 1e9
                # Sparse inference does a tenth of the dense work; report the dense-equivalent rate.
                gflops = f"{gf:8.1f}"
            else:
                rate = lambda r: f"{r['seconds'] * 1e3:.1f} ms"
                gflops = f"{'-':>8}"
            ok = "yes" if ratio >= target else "NO"
            print(f"{desc:<50} {t:>3} {rate(ours):>12} {rate(theirs):>12} {ratio:>6.2f}x {target:>5.1f}x{ok:>4}"
                  f" {gflops} {peak:>6.0f}  {peer_label}")
        masked = get.get(("peer", t, "c-masked90"))
        dense = get.get(("peer", t, "c-dense"))
        if masked and dense:
            print(f"{'  (PyTorch with prune masks, 90%: ' + format(masked['seconds'] * 1e3, '.0f') + ' ms vs dense ' + format(dense['seconds'] * 1e3, '.0f') + ' ms)':<50}")
        print(f"  peak for {t} thread(s): {how} = {peak:.0f} GFLOP/s")
    print("\nRates are samples per second (a: wall time); ratio = peer time / prunelab time; GFLOP/s counts the "
          "FLOPs done: 6 per weight and sample for training, 2 for inference, and for the sparse row 2 per kept "
          "weight (10%) only.")


main(sys.argv[1])
