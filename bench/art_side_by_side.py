"""Side-by-side with ART (benchmark, not CI): FGSM, PGD-40, Square and HopSkipJump on the same
digits CNN.

Both tools attack the digits CNN aisec trained with seed 7
(crates/ml/tests/fixtures/onnx/digits-cnn), loaded from its model.safetensors. The white-box
attacks reach it through ART's PyTorchClassifier around a torch copy of the weights (CPU); the
black-box attacks through ART's BlackBoxClassifierNeuralNetwork around a NumPy forward pass, so
neither side has an advantage in model speed beyond its own implementation.

    bash bench/art.sh side_by_side     # creates /tmp/aisec-art-venv, builds aisec, runs this

Prints, for each attack: robust accuracy, mean model evaluations (queries) per input and wall
time of both tools, and ART's time over aisec's. Settings, on the first N digits test inputs:
FGSM L∞ ε=0.2; PGD L∞ ε=0.2, 40 steps of 2.5·ε/40, one random start; Square L∞ ε=0.2 with
5000 queries per input; L2 HopSkipJump with a 2000-query budget per input. aisec's time
includes starting its process and loading the model and data.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "crates/ml/tests/fixtures/onnx/digits-cnn")
AISEC = os.path.join(ROOT, "target/release/aisec")
N = int(os.environ.get("BENCH_EXAMPLES", "100"))
# BENCH_ONLY=fgsm,pgd runs only the attacks whose names start so.
ONLY = [o.strip().lower() for o in os.environ.get("BENCH_ONLY", "").split(",") if o.strip()]


def conv3x3(x, w, b):
    n, c, h, wd = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([p[:, :, i:i + h, j:j + wd] for i in range(3) for j in range(3)], axis=2)  # n,c,9,h,w
    cols = cols.reshape(n, c * 9, h * wd)
    out = np.einsum("ok,nkp->nop", w.reshape(w.shape[0], -1), cols) + b[None, :, None]
    return out.reshape(n, w.shape[0], h, wd)


def pool2(x):
    n, c, h, w = x.shape
    return x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def forward(weights, x):
    x = x.reshape(-1, 1, 8, 8).astype(np.float32)
    x = pool2(np.maximum(conv3x3(x, weights["Cnn.conv1.weight"], weights["Cnn.conv1.bias"]), 0))
    x = pool2(np.maximum(conv3x3(x, weights["Cnn.conv2.weight"], weights["Cnn.conv2.bias"]), 0))
    x = x.reshape(x.shape[0], -1)
    x = np.maximum(x @ weights["Cnn.hidden.weight"] + weights["Cnn.hidden.bias"], 0)
    z = x @ weights["Cnn.output.weight"] + weights["Cnn.output.bias"]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def digits_test():
    """aisec's digits test inputs, in aisec's order (FGSM at ε=1e-9 leaves them unchanged in float32)."""
    path = "/tmp/aisec-bench-x.npy"
    subprocess.run([AISEC, "attack", "evasion", "--model", MODEL, "--dataset", "digits", "--attack", "fgsm", "--eps", "1e-9",
                    "--limit", str(N), "--save-adv", path, "--format", "json"], check=True, capture_output=True)
    return np.load(path).reshape(N, 64)


def run_aisec(attack, extra):
    start = time.time()
    out = subprocess.run([AISEC, "attack", "evasion", "--model", MODEL, "--dataset", "digits", "--attack", attack, "--limit", str(N), "--format", "json"] + extra,
                         check=True, capture_output=True, text=True)
    wall = time.time() - start
    m = json.loads(out.stdout)["metrics"]
    return m["robust_accuracy"], m["queries_mean"], wall


def torch_copy(weights, calls):
    """The same CNN in torch; counts the rows of every forward pass (gradients included)."""
    import torch
    from torch import nn

    c1, c2 = weights["Cnn.conv1.weight"], weights["Cnn.conv2.weight"]
    hidden, output = weights["Cnn.hidden.weight"], weights["Cnn.output.weight"]
    net = nn.Sequential(
        nn.Conv2d(c1.shape[1], c1.shape[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c2.shape[1], c2.shape[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(*hidden.shape), nn.ReLU(), nn.Linear(*output.shape),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(c1)); net[0].bias.copy_(torch.from_numpy(weights["Cnn.conv1.bias"]))
        net[3].weight.copy_(torch.from_numpy(c2)); net[3].bias.copy_(torch.from_numpy(weights["Cnn.conv2.bias"]))
        # aisec's linear layers store [in, out]; torch's [out, in].
        net[7].weight.copy_(torch.from_numpy(hidden.T.copy())); net[7].bias.copy_(torch.from_numpy(weights["Cnn.hidden.bias"]))
        net[9].weight.copy_(torch.from_numpy(output.T.copy())); net[9].bias.copy_(torch.from_numpy(weights["Cnn.output.bias"]))
    # ART's wrapper runs a Sequential's children one by one, so the count hooks the first layer.
    net[0].register_forward_pre_hook(lambda _m, inputs: calls.__setitem__("n", calls["n"] + len(inputs[0])))
    return net.eval()


def main():
    import torch
    from art.attacks.evasion import FastGradientMethod, HopSkipJump, ProjectedGradientDescent, SquareAttack
    from art.estimators.classification import PyTorchClassifier
    from art.estimators.classification.blackbox import BlackBoxClassifierNeuralNetwork

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)

    weights = load_file(os.path.join(MODEL, "model.safetensors"))
    calls = {"n": 0}

    def predict(x):
        calls["n"] += len(x)
        return forward(weights, np.asarray(x))

    x = digits_test().astype(np.float32).reshape(N, 1, 8, 8)
    # ART attacks the model's own answers; on these inputs they equal the labels but for at
    # most a couple of inputs, which both tools count as not robust.
    labels = np.argmax(forward(weights, x), axis=1)
    clf = BlackBoxClassifierNeuralNetwork(predict, input_shape=(1, 8, 8), nb_classes=10, channels_first=True, clip_values=(0.0, 1.0))
    net = torch_copy(weights, calls)
    check = net(torch.from_numpy(x)).softmax(dim=1).detach().numpy()
    assert np.abs(check - forward(weights, x)).max() < 1e-4, "the torch copy differs from the weights"
    white = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")

    rows = []
    for name, art_attack, aisec_args in [
        ("FGSM L∞ ε=0.2", FastGradientMethod(white, norm=np.inf, eps=0.2, batch_size=128), ["--attack", "fgsm", "--eps", "0.2"]),
        ("PGD-40 L∞ ε=0.2", ProjectedGradientDescent(white, norm=np.inf, eps=0.2, eps_step=2.5 * 0.2 / 40, max_iter=40, num_random_init=1, batch_size=128, verbose=False), ["--attack", "pgd", "--eps", "0.2", "--steps", "40"]),
        ("Square L∞ ε=0.2", SquareAttack(clf, norm=np.inf, eps=0.2, max_iter=5000, p_init=0.3, nb_restarts=1, verbose=False), ["--attack", "square", "--eps", "0.2", "--steps", "5000"]),
        ("HopSkipJump L2", HopSkipJump(clf, norm=2, max_iter=20, max_eval=1000, init_eval=100, verbose=False), ["--attack", "hsj", "--steps", "2000"]),
    ]:
        if ONLY and not any(name.lower().startswith(o) for o in ONLY):
            continue
        calls["n"] = 0
        start = time.time()
        adv = art_attack.generate(x, y=np.eye(10)[labels])
        art_wall = time.time() - start
        art_robust = float(np.mean(np.argmax(forward(weights, adv), axis=1) == labels))
        art_queries = calls["n"] / len(x)
        a_robust, a_queries, a_wall = run_aisec(aisec_args[1], aisec_args[2:])
        rows.append((name, art_robust, art_queries, art_wall, a_robust, a_queries, a_wall))

    print(f"{'attack':<18} {'ART robust':>10} {'ART q/input':>12} {'ART s':>8} {'aisec robust':>12} {'aisec q/input':>14} {'aisec s':>8} {'time ratio':>10}")
    for name, ar, aq, aw, sr, sq, sw in rows:
        print(f"{name:<18} {ar:>10.3f} {aq:>12.0f} {aw:>8.1f} {sr:>12.3f} {sq:>14.0f} {sw:>8.1f} {aw / max(sw, 1e-9):>9.1f}x")


if __name__ == "__main__":
    sys.exit(main())
