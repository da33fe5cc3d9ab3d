"""Speed side by side with ART + PyTorch (issue 18; benchmark, not CI): FGSM, PGD-40, APGD-CE,
Square and HopSkipJump on (a) the MNIST CNN trained in PyTorch (28×28, the CI fixture
crates/ml/tests/fixtures/onnx/mnist/mnist_cnn.onnx) and (b) torchvision's ResNet-18 (11.2 M
parameters, random weights, 10 classes) at 32×32×3.

    bash bench/art.sh speed        # creates /tmp/aisec-art-venv, builds aisec, runs this

Both tools attack the same weights: ART through PyTorch (PyTorchClassifier, CPU, every core),
aisec through the ONNX file that torch.onnx.export wrote from that PyTorch model (logits
checked against PyTorch before timing). Inputs:
  mnist     the first N digits of aisec's MNIST test split (`aisec data export`), true labels;
            needs scripts/fetch-mnist.sh first.
  resnet18  N images of uniform noise in [0, 1] (seed 1), labelled with the model's own answers
            (random weights: there is no true label; clean accuracy is 1 by construction).
Settings (L∞ ε = 0.1 for MNIST and 1/255 for ResNet-18, where 8/255 fools every noise input
at the first step and leaves nothing to compare; L2 ε = 2.0 and 0.5):
  FGSM      one step of ε.
  PGD-40    40 steps of 2.5·ε/40, one random start.
  APGD-CE   40 iterations, one start (ART: eps_step 2ε, its default schedule).
  Square    L∞, 1,000 queries per input, p_init 0.3 in both.
  HSJ       L2, ART max_iter 5, init_eval 100, max_eval 1000 (its query count is measured and
            printed); aisec --queries-per-input set to ART's measured mean. An input counts as
            robust when the attack's answer is still right or its L2 distance exceeds ε.
Two times for each tool, each row:
  attack    ART's `generate` alone; aisec's `attack_seconds` (the attack alone: the clean
            predictions before it and the adversarial ones after it excluded, as `generate`
            excludes them).
  process   the whole process, measured around a child process on both sides: ART's imports
            torch and ART, builds the model, loads the inputs (.npy) and runs `generate`;
            aisec's starts, loads the ONNX file and the inputs, predicts the clean inputs,
            attacks, predicts the adversarial ones and writes its JSON report.
Robust accuracy counts inputs the model already got wrong as not robust, in both. Queries
per input: forward rows through the model, gradients included.

Environment: BENCH_N (inputs for the gradient attacks, default 1000), BENCH_QUERY_N (inputs for
Square and HSJ, default 1000 for MNIST and 100 for ResNet-18), BENCH_MODELS=mnist,resnet18,
BENCH_ONLY=fgsm,pgd,apgd,square,hsj (prefixes), BENCH_OUT (a folder for the table as JSON).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Another build (e.g. one with `--features libtorch`, wrapped to find its libtorch) through
# AISEC_BIN; its device through AISEC_DEVICE, which aisec reads.
AISEC = os.environ.get("AISEC_BIN") or os.path.join(ROOT, "target/release/aisec")
WORK = "/tmp/aisec-bench-speed"
N = int(os.environ.get("BENCH_N", "1000"))
ONLY = [o.strip().lower() for o in os.environ.get("BENCH_ONLY", "").split(",") if o.strip()]
MODELS = [m.strip() for m in os.environ.get("BENCH_MODELS", "mnist,resnet18").split(",") if m.strip()]


def counted(net, first_layer, calls):
    """The model with a count of the rows it evaluates, taking any float input: ART's
    HopSkipJump hands PyTorchClassifier float64 arrays."""
    import torch

    class Float32(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.float())

    first_layer.register_forward_pre_hook(lambda _m, inputs: calls.__setitem__("n", calls["n"] + len(inputs[0])))
    return Float32(net).eval()


MNIST_ONNX = os.path.join(ROOT, "crates/ml/tests/fixtures/onnx/mnist/mnist_cnn.onnx")


def mnist_net(calls):
    """The PyTorch MNIST CNN with the ONNX fixture's weights: (counted model, ONNX path, ε, L2 ε)."""
    import onnx
    import torch
    from onnx import numpy_helper

    sys.path.insert(0, os.path.join(ROOT, "crates/ml/tests/fixtures/onnx/mnist"))
    import make_mnist

    net = make_mnist.model()
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(MNIST_ONNX).graph.initializer}
    net.load_state_dict({k: weights[k] for k in net.state_dict()})
    return counted(net, net[0], calls), MNIST_ONNX, 0.1, 2.0


def mnist_model(calls):
    net, path, eps, eps2 = mnist_net(calls)
    out = os.path.join(WORK, "mnist")
    subprocess.run([AISEC, "data", "export", "--dataset", "mnist", "--split", "test", "--out", out], check=True, capture_output=True)
    x = np.load(os.path.join(out, "x.npy"))
    y = np.load(os.path.join(out, "y.npy"))
    return net, path, x, y, eps, eps2


def resnet_net(calls):
    """torchvision's ResNet-18 (random weights, seed 0), exported to ONNX once."""
    import torch
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(num_classes=10)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        # Spread batch-norm statistics so that logits and gradients are of order one.
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    net.eval()
    path = os.path.join(WORK, "resnet18_32.onnx")
    if not os.path.exists(path):
        torch.onnx.export(net, torch.rand(2, 3, 32, 32), path, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    return counted(net, net.conv1, calls), path, 1 / 255, 0.5


def resnet_model(calls):
    import torch

    net, path, eps, eps2 = resnet_net(calls)
    n = max(N, int(os.environ.get("BENCH_QUERY_N", "0") or 0))
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)).numpy()
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    return net, path, x, y, eps, eps2


def run_aisec(model, x_path, y_path, n, args):
    start = time.time()
    out = subprocess.run([AISEC, "--format", "json", "attack", "evasion", "--model", model, "--data", x_path, "--labels", y_path,
                          "--clip", "0,1", "--limit", str(n)] + args, capture_output=True, text=True)
    wall = time.time() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"aisec {' '.join(args)} failed: {out.stderr}")
    m = json.loads(out.stdout)["metrics"]
    return m["robust_accuracy"], m["queries_mean"], wall, m["attack_seconds"]


ATTACKS = ["FGSM", "PGD-40", "APGD-CE", "Square", "HSJ"]


def art_attack(attack, clf, eps, eps2):
    """The ART attack of a row, its budget and norm."""
    from art.attacks.evasion import (AutoProjectedGradientDescent, FastGradientMethod, HopSkipJump,
                                     ProjectedGradientDescent, SquareAttack)
    return {
        "FGSM": lambda: (FastGradientMethod(clf, norm=np.inf, eps=eps, batch_size=128), eps, np.inf),
        "PGD-40": lambda: (ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2.5 * eps / 40, max_iter=40,
                                                    num_random_init=1, batch_size=128, verbose=False), eps, np.inf),
        "APGD-CE": lambda: (AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=40, nb_random_init=1,
                                                         batch_size=128, loss_type="cross_entropy", verbose=False), eps, np.inf),
        "Square": lambda: (SquareAttack(clf, norm=np.inf, eps=eps, max_iter=1000, p_init=0.3, nb_restarts=1, batch_size=128,
                                        verbose=False), eps, np.inf),
        "HSJ": lambda: (HopSkipJump(clf, norm=2, max_iter=5, max_eval=1000, init_eval=100, batch_size=128, verbose=False), eps2, 2),
    }[attack]()


def aisec_args(attack, eps, eps2, art_queries):
    return {
        "FGSM": ["--attack", "fgsm", "--eps", str(eps)],
        "PGD-40": ["--attack", "pgd", "--eps", str(eps), "--steps", "40", "--step-size", str(2.5 * eps / 40)],
        "APGD-CE": ["--attack", "apgd", "--eps", str(eps), "--steps", "40"],
        "Square": ["--attack", "square", "--eps", str(eps), "--queries-per-input", "1000"],
        "HSJ": ["--attack", "hsj", "--eps", str(eps2), "--queries-per-input", str(max(1, round(art_queries)))],
    }[attack]


def art_child(name, attack, n):
    """One ART row in its own process (the parent times the whole process): prints its
    robust accuracy, queries per input and `generate`'s time as JSON."""
    import torch
    from art.estimators.classification import PyTorchClassifier

    torch.set_num_threads(os.cpu_count() or 1)
    calls = {"n": 0}
    net, _, eps, eps2 = {"mnist": mnist_net, "resnet18": resnet_net}[name](calls)
    x = np.load(os.path.join(WORK, f"{name}-x.npy"))[:n]
    y = np.load(os.path.join(WORK, f"{name}-y.npy"))[:n]
    clf = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]), nb_classes=10,
                            clip_values=(0.0, 1.0), device_type="cpu")
    art, budget, norm = art_attack(attack, clf, eps, eps2)
    calls["n"] = 0
    start = time.time()
    adv = art.generate(x, y=np.eye(10)[y])
    seconds = time.time() - start
    queries = calls["n"] / n
    with torch.no_grad():
        pred = net(torch.from_numpy(adv.astype(np.float32))).argmax(1).numpy()
    dist = np.linalg.norm((adv - x).reshape(n, -1), ord=norm, axis=1)
    robust = float(np.mean((pred == y) | (dist > budget * (1 + 1e-4))))
    print(json.dumps(dict(robust=robust, queries=queries, seconds=seconds)))


def run_art(name, attack, n):
    start = time.time()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--art", name, attack, str(n)], capture_output=True, text=True)
    wall = time.time() - start
    if out.returncode != 0:
        raise SystemExit(f"ART {name} {attack} failed: {out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["robust"], r["queries"], wall, r["seconds"]


def main():
    import torch

    if len(sys.argv) == 5 and sys.argv[1] == "--art":
        return art_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    os.makedirs(WORK, exist_ok=True)
    table = []
    for name in MODELS:
        calls = {"n": 0}
        net, onnx_path, x_all, y_all, eps, eps2 = {"mnist": mnist_model, "resnet18": resnet_model}[name](calls)
        query_n = int(os.environ.get("BENCH_QUERY_N", "0") or 0) or (1000 if name == "mnist" else 100)
        # The ONNX file computes what the torch model does (onnxruntime when installed).
        try:
            import onnxruntime
            sess = onnxruntime.InferenceSession(onnx_path)
            ref = sess.run(None, {"x": x_all[:8].astype(np.float32)})[0]
            with torch.no_grad():
                ours = net(torch.from_numpy(x_all[:8])).numpy()
            assert np.abs(ref - ours).max() < 1e-3 * max(1.0, np.abs(ours).max()), "ONNX and torch differ"
        except ImportError:
            pass
        x_path, y_path = os.path.join(WORK, f"{name}-x.npy"), os.path.join(WORK, f"{name}-y.npy")
        np.save(x_path, x_all.astype(np.float32))
        np.save(y_path, y_all.astype(np.int64))
        for attack in ATTACKS:
            if ONLY and not any(attack.lower().startswith(o) for o in ONLY):
                continue
            n = query_n if attack in ("Square", "HSJ") else N
            art_robust, art_queries, art_wall, art_attack_s = run_art(name, attack, n)
            a_robust, a_queries, a_wall, a_attack = run_aisec(onnx_path, x_path, y_path, n,
                                                              aisec_args(attack, eps, eps2, art_queries))
            row = dict(model=name, attack=attack, inputs=n, art_robust=art_robust, art_queries=art_queries,
                       art_attack_seconds=art_attack_s, art_process_seconds=art_wall,
                       aisec_robust=a_robust, aisec_queries=a_queries, aisec_attack_seconds=a_attack,
                       aisec_process_seconds=a_wall, attack_speedup=art_attack_s / max(a_attack, 1e-9),
                       process_speedup=art_wall / max(a_wall, 1e-9))
            table.append(row)
            print(f"{name:<9} {attack:<8} n={n:<5} ART {art_robust:.3f} {art_queries:>7.0f} q {art_attack_s:>7.1f} s "
                  f"({art_wall:.1f} s process) | aisec {a_robust:.3f} {a_queries:>7.0f} q {a_attack:>7.1f} s ({a_wall:.1f} s process) | "
                  f"attack {row['attack_speedup']:.2f}x, process {row['process_speedup']:.2f}x", flush=True)
    print("\nattack time (ART generate / aisec attack_seconds)")
    print("| model | attack | inputs | ART robust | aisec robust | ART q/input | aisec q/input | ART s | aisec s | ART ÷ aisec |")
    for r in table:
        print(f"| {r['model']} | {r['attack']} | {r['inputs']} | {r['art_robust']:.3f} | {r['aisec_robust']:.3f} | {r['art_queries']:.0f} | "
              f"{r['aisec_queries']:.0f} | {r['art_attack_seconds']:.1f} | {r['aisec_attack_seconds']:.1f} | {r['attack_speedup']:.2f}× |")
    print("\nwhole process")
    print("| model | attack | inputs | ART s | aisec s | ART ÷ aisec |")
    for r in table:
        print(f"| {r['model']} | {r['attack']} | {r['inputs']} | {r['art_process_seconds']:.1f} | {r['aisec_process_seconds']:.1f} | "
              f"{r['process_speedup']:.2f}× |")
    if os.environ.get("BENCH_OUT"):
        os.makedirs(os.environ["BENCH_OUT"], exist_ok=True)
        with open(os.path.join(os.environ["BENCH_OUT"], "speed.json"), "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
