"""Side-by-side with ART (benchmark, not CI): Square and HopSkipJump on the same digits CNN.

Both tools attack the digits CNN aisec trained with seed 7
(crates/ml/tests/fixtures/onnx/digits-cnn). ART reaches it through its BlackBoxClassifierNeuralNetwork
around a NumPy forward pass of the same weights, so neither side has an advantage in model
speed beyond its own implementation. FGSM/PGD need ART's PyTorch or TensorFlow wrappers, whose
PyPI wheels are multi-gigabyte; they are left out of this script.

    bash bench/art_blackbox.sh     # creates /tmp/aisec-art-venv, builds aisec, runs this

Prints, for each attack: robust accuracy, mean queries per input and wall time of both tools,
and aisec's time ratio. Settings: L∞ ε=0.2 Square with 5000 queries per input; L2 HopSkipJump
with a 2000-query budget per input, on the first N digits test inputs.
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


def main():
    from art.attacks.evasion import HopSkipJump, SquareAttack
    from art.estimators.classification.blackbox import BlackBoxClassifierNeuralNetwork

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

    rows = []
    for name, art_attack, aisec_args in [
        ("Square L∞ ε=0.2", SquareAttack(clf, norm=np.inf, eps=0.2, max_iter=5000, p_init=0.3, nb_restarts=1, verbose=False), ["--attack", "square", "--eps", "0.2", "--steps", "5000"]),
        ("HopSkipJump L2", HopSkipJump(clf, norm=2, max_iter=20, max_eval=1000, init_eval=100, verbose=False), ["--attack", "hsj", "--steps", "2000"]),
    ]:
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
