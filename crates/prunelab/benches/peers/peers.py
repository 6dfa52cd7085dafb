"""The peers' side of the comparison: scikit-learn and PyTorch running prunelab's workloads with the same
shapes, batch sizes, epochs and thread count. Prints one JSON object per workload, like prunelab_side.rs.

Usage: peers.py THREADS   (set OMP/MKL/OpenBLAS thread variables before starting Python; run.sh does)
"""
import json
import sys
import time

import numpy as np

THREADS = int(sys.argv[1])

import torch  # noqa: E402

torch.set_num_threads(THREADS)
torch.manual_seed(0)


def median_time(reps, f):
    f()  # warm-up
    runs = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[len(runs) // 2]


def report(name, seconds, samples):
    print(json.dumps({"workload": name, "seconds": round(seconds, 6), "samples": samples}), flush=True)


def inputs(rows, cols, seed):
    """The same pseudo-random matrix as prunelab_side.rs."""
    mask = (1 << 64) - 1
    a, c = 6364136223846793005, 1442695040888963407
    state = (seed * a + c) & mask
    out = np.empty(rows * cols, dtype=np.float32)
    for i in range(rows * cols):
        state = (state * a + c) & mask
        out[i] = (state >> 40) / float(1 << 24)
    return out.reshape(rows, cols)


def workload_a():
    from sklearn.datasets import load_iris
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    X, y = X[y < 2], y[y < 2]
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=0.7, random_state=42)

    def run():
        clf = MLPClassifier(hidden_layer_sizes=(5, 3), solver="sgd", alpha=0.1, batch_size=len(X_train),
                            learning_rate_init=0.001, momentum=0.9, nesterovs_momentum=True, max_iter=1000,
                            tol=0.0, n_iter_no_change=1000, shuffle=True, random_state=42)
        clf.fit(X_train, y_train)
        # The classic threshold loop: prune a copy of the weights, predict, score.
        largest = max(np.abs(w).max() for w in clf.coefs_)
        original = [w.copy() for w in clf.coefs_]
        aps = []
        for t in np.linspace(0.0, largest, 1000):
            clf.coefs_ = [np.where(np.abs(w) < t, 0.0, w) for w in original]
            aps.append(average_precision_score(y_test, clf.predict_proba(X_test)[:, 1]))
        clf.coefs_ = original
        return aps

    import warnings
    warnings.filterwarnings("ignore")
    report("a", median_time(3, run), len(X_train))


def big_network():
    sizes = [784, 1000, 1000, 500, 200, 10]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1], bias=False))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def workload_b():
    n = 2000
    x = torch.from_numpy(inputs(n, 784, 1))
    y = torch.tensor([(i * 7 + i // 3) % 10 for i in range(n)])
    model = big_network()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)

    def epoch():
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 100):
            idx = perm[i:i + 100]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()

    report("b", median_time(3, epoch), n)


def workload_c():
    x = torch.from_numpy(inputs(10_000, 784, 2))
    model = big_network().eval()
    with torch.inference_mode():
        report("c-dense", median_time(5, lambda: model(x)), 10_000)
    import torch.nn.utils.prune as prune
    for m in model:
        if isinstance(m, torch.nn.Linear):
            prune.l1_unstructured(m, name="weight", amount=0.9)
    with torch.inference_mode():
        report("c-masked90", median_time(5, lambda: model(x)), 10_000)


only = sys.argv[2:] or ["a", "b", "c"]
for name in only:
    {"a": workload_a, "b": workload_b, "c": workload_c}[name]()
