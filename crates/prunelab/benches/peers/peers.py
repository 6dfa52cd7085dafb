"""The peers' side of the comparison: scikit-learn and PyTorch running prunelab's workloads with the same
shapes, batch sizes, epochs and thread count. Prints one JSON object per workload, like prunelab_side.rs.

Usage: peers.py THREADS   (set OMP/MKL/OpenBLAS thread variables before starting Python; run.sh does)
"""
import json
import sys
import time

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from onnx_model import (EXPORT, check as check_logits, exported, inputs, layer_weights,  # noqa: E402
                        median_time, onnx_file)

THREADS = int(sys.argv[1])

import torch  # noqa: E402

torch.set_num_threads(THREADS)
torch.manual_seed(0)


def report(name, seconds, samples):
    print(json.dumps({"workload": name, "seconds": round(seconds, 6), "samples": samples}), flush=True)


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


def workload_t():
    """One epoch of the 90%- and 98%-pruned network in sample order, as prunelab_side.rs trained it: PyTorch
    with prune masks (custom_from_mask), and with each layer a torch.sparse CSR matrix whose kept values are
    the parameters. Both start from prunelab's pruned weights; their weights after the epoch are compared
    with prunelab's (largest difference relative to the largest weight)."""
    import torch.nn.utils.prune as prune

    n = 2000
    x = torch.from_numpy(inputs(n, 784, 1))
    y = torch.tensor([(i * 7 + i // 3) % 10 for i in range(n)])
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(model, params):
        opt = torch.optim.Adam(params, lr=1e-3)
        for i in range(0, n, 100):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[i:i + 100]), y[i:i + 100]).backward()
            opt.step()

    def off(trained, want):
        want = np.concatenate([w.ravel() for w in want])
        got = np.concatenate([w.ravel() for w in trained])
        return float(np.abs(got - want).max() / np.abs(want).max())

    for tag in ("t90", "t98"):
        init, mask, want = (exported(f"{tag}-{k}.f32") for k in ("init", "mask", "trained"))
        if init is None:
            print(f"{tag}: prunelab_side.rs has not written its networks: no {tag} rows", file=sys.stderr)
            continue
        init, mask, want = layer_weights(init), layer_weights(mask), layer_weights(want)

        def masked():
            model = network_with(init).train()
            linears = [m for m in model if isinstance(m, torch.nn.Linear)]
            for m, k in zip(linears, mask):
                prune.custom_from_mask(m, name="weight", mask=torch.from_numpy(k != 0))
            return model, linears

        times, trained = [], None
        for _ in range(3):
            model, linears = masked()
            start = time.perf_counter()
            epoch(model, model.parameters())
            times.append(time.perf_counter() - start)
            # `weight` is recomputed at the next forward pass: after the last step it is one step behind.
            trained = [(m.weight_orig * m.weight_mask).detach().numpy() for m in linears]
        report_checked(f"{tag}-masked", sorted(times)[1], n, off(trained, want))

        structure = [torch.from_numpy(w).to_sparse_csr() for w in init]

        class CsrMlp(torch.nn.Module):
            """Each layer a CSR matrix of fixed structure; its kept values are the parameters."""

            def __init__(self):
                super().__init__()
                self.values = torch.nn.ParameterList([torch.nn.Parameter(c.values().clone()) for c in structure])

            def weights(self):
                return [torch.sparse_csr_tensor(c.crow_indices(), c.col_indices(), v, c.shape)
                        for c, v in zip(structure, self.values)]

            def forward(self, inp):
                h = inp.T
                ws = self.weights()
                for i, w in enumerate(ws):
                    h = torch.sparse.mm(w, h)
                    if i < len(ws) - 1:
                        h = torch.relu(h)
                return h.T

        times = []
        for _ in range(3):
            model = CsrMlp()
            start = time.perf_counter()
            epoch(model, model.parameters())
            times.append(time.perf_counter() - start)
            trained = [w.detach().to_dense().numpy() for w in model.weights()]
        report_checked(f"{tag}-csr", sorted(times)[1], n, off(trained, want))


def network_with(weights):
    model = big_network().eval()
    with torch.no_grad():
        for m, w in zip([m for m in model if isinstance(m, torch.nn.Linear)], weights):
            m.weight.copy_(torch.from_numpy(w))
    return model


def check(name, logits, want):
    """Largest difference from prunelab's logits for the same inputs, relative to their scale."""
    return check_logits(logits, want)


def report_checked(name, seconds, samples, diff):
    rec = {"workload": name, "seconds": round(seconds, 6), "samples": samples}
    if diff is not None:
        rec["maxdiff"] = diff
    print(json.dumps(rec), flush=True)


def workload_c():
    x_np = inputs(10_000, 784, 2)
    x = torch.from_numpy(x_np)
    head = x[:256]
    dense_w, sparse_w = exported("c-weights-dense.f32"), exported("c-weights-sparse90.f32")
    want_dense, want_sparse = exported("c-logits-dense.f32"), exported("c-logits-sparse90.f32")
    model = network_with(layer_weights(dense_w)) if dense_w is not None else big_network().eval()
    with torch.inference_mode():
        diff = check("c-dense", model(head).numpy(), want_dense)
        report_checked("c-dense", median_time(5, lambda: model(x)), 10_000, diff)
        # oneDNN (mkldnn) layout: PyTorch's fastest CPU path for dense layers.
        try:
            from torch.utils import mkldnn as mkldnn_utils
            fast = mkldnn_utils.to_mkldnn(model)
            xm = x.to_mkldnn()
            diff = check("c-onednn", fast(head.to_mkldnn()).to_dense().numpy(), want_dense)
            report_checked("c-onednn", median_time(5, lambda: fast(xm)), 10_000, diff)
        except Exception as e:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
            print(f"oneDNN path unavailable: {e}", file=sys.stderr)
    ort_session("dense", "c-weights-dense.f32", want_dense, x_np, "c-ort")
    if sparse_w is None:
        import torch.nn.utils.prune as prune
        for m in model:
            if isinstance(m, torch.nn.Linear):
                prune.l1_unstructured(m, name="weight", amount=0.9)
        with torch.inference_mode():
            report("c-masked90", median_time(5, lambda: model(x)), 10_000)
        return
    pruned = layer_weights(sparse_w)
    masked = network_with(pruned)
    import torch.nn.utils.prune as prune
    for m, w in zip([m for m in masked if isinstance(m, torch.nn.Linear)], pruned):
        prune.custom_from_mask(m, name="weight", mask=torch.from_numpy(w != 0))
    with torch.inference_mode():
        diff = check("c-masked90", masked(head).numpy(), want_sparse)
        report_checked("c-masked90", median_time(5, lambda: masked(x)), 10_000, diff)
        # torch.sparse CSR weights: h <- relu(W h) with h feature-major.
        csr = [torch.from_numpy(w).to_sparse_csr() for w in pruned]

        def torch_csr(inp):
            h = inp.T.contiguous()
            for i, w in enumerate(csr):
                h = w @ h
                if i < len(csr) - 1:
                    h = torch.relu(h)
            return h.T

        diff = check("c-torch-csr90", torch_csr(head).numpy(), want_sparse)
        report_checked("c-torch-csr90", median_time(5, lambda: torch_csr(x)), 10_000, diff)
    try:
        import scipy.sparse as sp
        mats = [sp.csr_matrix(w) for w in pruned]

        def scipy_csr(inp):
            h = inp.T
            for i, w in enumerate(mats):
                h = w @ h
                if i < len(mats) - 1:
                    np.maximum(h, 0, out=h)
            return h.T

        diff = check("c-scipy-csr90", scipy_csr(x_np[:256]), want_sparse)
        report_checked("c-scipy-csr90", median_time(3, lambda: scipy_csr(x_np)), 10_000, diff)
    except ImportError:
        print("scipy not installed: no scipy.sparse row", file=sys.stderr)


def ort_session(tag, weights, want, x_np, name):
    """ONNX Runtime (CPU, all graph optimisations) on the exported weights: batch 10,000 timed and checked."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: no ONNX Runtime row", file=sys.stderr)
        return None
    path = onnx_file(weights, EXPORT / f"c-{tag}.onnx")
    if path is None:
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    if x_np is not None:
        diff = check(name, sess.run(None, {"x": x_np[:256]})[0], want)
        report_checked(name, median_time(5, lambda: sess.run(None, {"x": x_np})), len(x_np), diff)
    return sess


def workload_c1():
    x = torch.from_numpy(inputs(1, 784, 3))
    dense_w = exported("c-weights-dense.f32")
    model = network_with(layer_weights(dense_w)) if dense_w is not None else big_network().eval()
    with torch.inference_mode():
        want = model(x).numpy()
        report("c1-dense", median_time(400, lambda: model(x)), 1)
        try:
            from torch.utils import mkldnn as mkldnn_utils
            fast = mkldnn_utils.to_mkldnn(model)
            xm = x.to_mkldnn()
            report_checked("c1-onednn", median_time(400, lambda: fast(xm)), 1,
                           check("c1-onednn", fast(xm).to_dense().numpy(), want))
        except Exception as e:  # noqa: BLE001
            print(f"oneDNN path unavailable: {e}", file=sys.stderr)
    sess = ort_session("dense", "c-weights-dense.f32", None, None, "c1-ort")
    if sess is not None:
        x1 = x.numpy()
        report_checked("c1-ort", median_time(400, lambda: sess.run(None, {"x": x1})), 1,
                       check("c1-ort", sess.run(None, {"x": x1})[0], want))


only = sys.argv[2:] or ["a", "b", "t", "c", "c1"]
for name in only:
    if name == "peak":
        continue
    {"a": workload_a, "b": workload_b, "t": workload_t, "c": workload_c, "c1": workload_c1}[name]()
