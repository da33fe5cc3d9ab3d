"""Side-by-side with ART (benchmark, not CI): Knockoff extraction of the digits CNN.

Both tools steal the digits CNN aisec trained with seed 7 (crates/ml/tests/fixtures/onnx/
digits-cnn) through a black box that answers probabilities (or labels only), querying every
input of the adversary's pool once: the 1,438 digits that are not in aisec's test split. Both
train the same substitute (MLP 64-128-64-10, Adam, learning rate 2e-3, batch 64, 67 epochs ≈
1,500 steps). Fidelity is agreement with the victim on aisec's 359 test digits and on 2,000
uniform random inputs; ART's thieved classifier is a torch model, so its fidelity is taken
with the same NumPy victim. Also run: each tool's reverse-sigmoid output perturbation (β = 1,
γ = 0.1) in front of the victim.

    bash bench/art.sh extraction     # creates /tmp/aisec-art-venv, builds aisec, runs this
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from art_side_by_side import AISEC, MODEL, forward  # noqa: E402

EPOCHS = 67


def test_split():
    path = "/tmp/aisec-bench-test.npy"
    subprocess.run([AISEC, "attack", "evasion", "--model", MODEL, "--dataset", "digits", "--attack", "fgsm", "--eps", "1e-9",
                    "--save-adv", path, "--format", "json"], check=True, capture_output=True)
    # ε = 1e-9 moves zero pixels to 1e-9 in float32; the pixels are sixteenths.
    return (np.round(np.load(path).reshape(-1, 64) * 16.0) / 16.0).astype(np.float32)


def pool(test_x):
    from sklearn.datasets import load_digits

    x = (load_digits().data / 16.0).astype(np.float32)
    test_rows = {row.tobytes() for row in test_x}
    return x[[row.tobytes() not in test_rows for row in x]]


def run_aisec(extra):
    start = time.time()
    out = subprocess.run([AISEC, "attack", "extract", "--model", MODEL, "--dataset", "digits", "--attack", "knockoff",
                          "--transfer-eps", "0", "--format", "json"] + extra, check=True, capture_output=True, text=True)
    wall = time.time() - start
    report = json.loads(out.stdout)
    run = report["defended"] if "--defend" in extra else report
    m = run["metrics"]
    return m["fidelity"], m["fidelity_uniform"], m["queries_total"], wall


def run_art(weights, x_pool, test_x, uniform, labels_only, reverse_sigmoid):
    import torch
    from torch import nn
    from art.attacks.extraction import KnockoffNets
    from art.defences.postprocessor import ReverseSigmoid
    from art.estimators.classification import PyTorchClassifier
    from art.estimators.classification.blackbox import BlackBoxClassifierNeuralNetwork

    torch.manual_seed(7)
    calls = {"n": 0}

    def predict(x):
        calls["n"] += len(x)
        return forward(weights, np.asarray(x))

    post = [ReverseSigmoid(beta=1.0, gamma=0.1)] if reverse_sigmoid else None
    victim = BlackBoxClassifierNeuralNetwork(predict, input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0),
                                             postprocessing_defences=post)
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    thief = PyTorchClassifier(net, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(net.parameters(), lr=2e-3),
                              input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")
    attack = KnockoffNets(victim, batch_size_fit=64, batch_size_query=64, nb_epochs=EPOCHS, nb_stolen=len(x_pool),
                          sampling_strategy="random", use_probability=not labels_only, verbose=False)
    start = time.time()
    stolen = attack.extract(x_pool, thieved_classifier=thief)
    wall = time.time() - start

    def agree(x):
        return float(np.mean(np.argmax(stolen.predict(x), axis=1) == np.argmax(forward(weights, x), axis=1)))

    return agree(test_x), agree(uniform), calls["n"], wall


def main():
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    weights = load_file(os.path.join(MODEL, "model.safetensors"))
    test_x = test_split()
    x_pool = pool(test_x)
    uniform = np.random.default_rng(7).uniform(0.0, 1.0, size=(2000, 64)).astype(np.float32)
    rows = []
    for name, labels_only, rs, aisec_args in [
        ("probabilities", False, False, []),
        ("labels only", True, False, ["--outputs", "label"]),
        ("reverse sigmoid", False, True, ["--defend", "reverse-sigmoid"]),
    ]:
        art = run_art(weights, x_pool, test_x, uniform, labels_only, rs)
        ours = run_aisec(aisec_args)
        rows.append((name, art, ours))
    print(f"pool {len(x_pool)} digits, test {len(test_x)}")
    print(f"{'Knockoff (random)':<18} {'ART fid':>8} {'ART unif':>9} {'ART q':>6} {'ART s':>6} {'aisec fid':>10} {'aisec unif':>11} {'aisec q':>8} {'aisec s':>8}")
    for name, (af, au, aq, aw), (sf, su, sq, sw) in rows:
        print(f"{name:<18} {af:>8.3f} {au:>9.3f} {aq:>6.0f} {aw:>6.1f} {sf:>10.3f} {su:>11.3f} {sq:>8.0f} {sw:>8.1f}")


if __name__ == "__main__":
    sys.exit(main())
