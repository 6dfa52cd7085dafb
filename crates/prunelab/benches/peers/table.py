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
    "c1-dense": ("inference, batch 1, dense (latency)", "c1-dense", "PyTorch dense", 2 * WEIGHTS, 1.0),
    "c1-sparse90": ("inference, batch 1, 90% pruned (sparse)", "c1-dense", "PyTorch dense", 2 * WEIGHTS // 10, 1.0),
    "c-masked90": (None, None, None, None, None),
}

# Further peer rows for the sparse workload, each against prunelab's sparse row.
SPARSE_PEERS = [("c-onednn", "PyTorch oneDNN dense"), ("c-masked90", "PyTorch + prune masks"),
                ("c-torch-csr90", "torch.sparse CSR"), ("c-scipy-csr90", "scipy.sparse CSR")]


def measured_peak(get, threads):
    """The f32 FMA peak prunelab_side.rs measured with this many threads, if it ran the `peak` workload."""
    r = get.get(("prunelab", threads, "peak"))
    return (r["gflops"], f"measured: {threads} thread(s) of independent FMA chains") if r else None


def peak_gflops(threads):
    """Nominal: cores x FMA units x f32 lanes x 2 x clock, from /proc/cpuinfo (2 FMA units assumed with
    AVX-512); used only when the peak was not measured."""
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
        peak, how = measured_peak(get, t) or peak_gflops(t)
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
        ours = get.get(("prunelab", t, "c-sparse90"))
        for peer, label in SPARSE_PEERS:
            theirs = get.get(("peer", t, peer))
            if ours and theirs:
                diff = theirs.get("maxdiff")
                agree = f"outputs within {diff:.1e} of prunelab's" if diff is not None else "outputs not checked"
                print(f"  batch 10,000 at 90%: {label:<24} {theirs['seconds'] * 1e3:8.1f} ms; prunelab sparse "
                      f"{ours['seconds'] * 1e3:.1f} ms = {theirs['seconds'] / ours['seconds']:.2f}x faster; {agree}")
        spread = get.get(("prunelab", t, "c-sparse90-spread"))
        if spread:
            print(f"  prunelab sparse over {spread['runs']} runs: {spread['min'] * 1e3:.1f}-{spread['max'] * 1e3:.1f} ms "
                  f"({(spread['max'] / spread['min'] - 1) * 100:.1f}% spread); heap shifted by 16/32/48 bytes: " +
                  ", ".join(f"{get[('prunelab', t, f'c-sparse90-shift{k}')]['seconds'] * 1e3:.1f}"
                            for k in (16, 32, 48) if ("prunelab", t, f"c-sparse90-shift{k}") in get) + " ms")
        print(f"  peak for {t} thread(s): {how} = {peak:.0f} GFLOP/s")
    print("\nRates are samples per second (a: wall time); ratio = peer time / prunelab time; GFLOP/s counts the "
          "FLOPs done: 6 per weight and sample for training, 2 for inference, and for the sparse row 2 per kept "
          "weight (10%) only.")


main(sys.argv[1])
