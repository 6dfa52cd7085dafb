"""Trains the digits MLP of notebook 09 in PyTorch and writes it as safetensors and ONNX.

Run once, from the repository root, with the project's peer venv (torch, numpy, onnx, safetensors):

    target/peers-venv/bin/python notebooks/models/train_digits_torch.py

It reads the UCI digits exactly as prunelab's ``data::digits()`` does (crates/prunelab/data/digits.csv.gz: each
line 64 pixel values 0..16 in row-major order, then the label; pixels divided by 16 as float32), trains
``nn.Sequential(Linear(64, 64), ReLU, Linear(64, 32), ReLU, Linear(32, 10))`` on the first 1437 rows with Adam and
cross-entropy, tests on the last 360, and writes beside this script:

- digits-mlp.safetensors: ``safetensors.torch.save_file(model.state_dict(), ...)``
- digits-mlp.onnx: ``torch.onnx.export(..., dynamo=False)`` (the TorchScript exporter, opset 17)
- digits-mlp.json: what PyTorch measured (test accuracy, the first three test rows' logits, the test accuracy
  after global magnitude pruning with ``torch.nn.utils.prune`` at a few sparsities, versions), and ONNX Runtime's
  accuracy on the exported graph

Everything runs on the CPU in one thread with a fixed seed and deterministic algorithms, so a second run writes
identical files (checked with sha256sum).
"""

import copy
import gzip
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import safetensors
import safetensors.torch
import torch
from torch import nn
from torch.nn.utils import prune

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = ROOT / "crates" / "prunelab" / "data" / "digits.csv.gz"
N_TRAIN, N_TEST = 1437, 360
EPOCHS, BATCH, LR = 40, 32, 1e-3
PRUNE_SPARSITIES = [0.5, 0.8, 0.9, 0.95, 0.98]
COMMAND = "target/peers-venv/bin/python notebooks/models/train_digits_torch.py"


def load_digits():
    """(pixels float32 [1797, 64] in [0, 1], labels int64 [1797]) in file order, as prunelab reads them."""
    with gzip.open(DATA, "rt") as f:
        rows = [line.split(",") for line in f.read().splitlines()]
    assert all(len(r) == 65 for r in rows), "65 fields per line"
    pixels = np.array([[float(v) for v in r[:64]] for r in rows], dtype=np.float32) / np.float32(16.0)
    labels = np.array([int(r[64]) for r in rows], dtype=np.int64)
    return pixels, labels


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    pixels, labels = load_digits()
    assert pixels.shape == (N_TRAIN + N_TEST, 64)
    x_train, y_train = torch.from_numpy(pixels[:N_TRAIN]), torch.from_numpy(labels[:N_TRAIN])
    x_test, y_test = torch.from_numpy(pixels[N_TRAIN:]), torch.from_numpy(labels[N_TRAIN:])

    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(0)  # the order of the training rows in each epoch
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(N_TRAIN, generator=shuffle)
        total = 0.0
        for start in range(0, N_TRAIN, BATCH):
            idx = order[start : start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1:3d}  mean training loss {total / N_TRAIN:.4f}")

    model.eval()
    with torch.no_grad():
        logits = model(x_test)
    correct = int((logits.argmax(dim=1) == y_test).sum().item())
    print(f"test accuracy {correct}/{N_TEST} = {correct / N_TEST:.4f}")
    first3 = [[float(v) for v in row] for row in logits[:3].tolist()]  # float32 values, exactly, as doubles
    for row in first3:
        print([repr(v) for v in row])

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(HERE / "digits-mlp.safetensors"))

    # Global magnitude pruning without fine-tuning, for the notebook to compare with prunelab's: one threshold
    # on |w| over the three weight matrices (biases kept), each sparsity applied to a fresh copy.
    pruned_correct = []
    for sparsity in PRUNE_SPARSITIES:
        pruned = copy.deepcopy(model)
        layers = [(pruned[i], "weight") for i in (0, 2, 4)]
        prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=sparsity)
        with torch.no_grad():
            n = int((pruned(x_test).argmax(dim=1) == y_test).sum().item())
        print(f"global magnitude pruning to {sparsity}: {n}/{N_TEST} correct")
        pruned_correct.append([sparsity, n])

    example = x_test[:1]
    torch.onnx.export(
        model,
        (example,),
        str(HERE / "digits-mlp.onnx"),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,  # the dynamo exporter (default since torch 2.9) needs onnxscript, absent from this venv
    )
    onnx.checker.check_model(onnx.load(str(HERE / "digits-mlp.onnx")))
    # The exported graph run by ONNX Runtime on the same test rows.
    session = onnxruntime.InferenceSession(str(HERE / "digits-mlp.onnx"), providers=["CPUExecutionProvider"])
    (ort_logits,) = session.run(None, {"input": x_test.numpy()})
    ort_correct = int((ort_logits.argmax(axis=1) == labels[N_TRAIN:]).sum())
    ort_diff = float(np.abs(ort_logits - logits.numpy()).max())
    print(f"onnxruntime: {ort_correct}/{N_TEST} correct, largest logit difference from torch {ort_diff:.1e}")

    summary = {
        "model": "nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))",
        "data": "crates/prunelab/data/digits.csv.gz, pixels / 16; train rows 0..1437, test rows 1437..1797",
        "training": f"Adam lr {LR}, cross-entropy, {EPOCHS} epochs, batches of {BATCH} shuffled by "
        "torch.Generator().manual_seed(0); torch.manual_seed(0), 1 CPU thread, deterministic algorithms",
        "test_correct": correct,
        "test_total": N_TEST,
        "test_accuracy": correct / N_TEST,
        "test_logits_first3": first3,
        "global_magnitude_pruned_test_correct": pruned_correct,
        "onnx_exporter": "torch.onnx.export(dynamo=False), opset 17",
        "onnxruntime_test_correct": ort_correct,
        "onnxruntime_max_abs_logit_diff_from_torch": ort_diff,
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": np.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "safetensors": safetensors.__version__,
        },
        "command": COMMAND,
    }
    with open(HERE / "digits-mlp.json", "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    for name in ["digits-mlp.safetensors", "digits-mlp.onnx", "digits-mlp.json"]:
        print(f"{name}: {os.path.getsize(HERE / name)} bytes")


if __name__ == "__main__":
    main()
