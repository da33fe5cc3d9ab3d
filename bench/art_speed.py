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
Wall time: ART's `generate` alone; aisec's whole process (start, loading the model and data,
the attack, its report). Robust accuracy counts inputs the model already got wrong as not
robust, in both. Queries per input: forward rows through the model, gradients included.

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


def mnist_model(calls):
    import onnx
    import torch
    from onnx import numpy_helper

    sys.path.insert(0, os.path.join(ROOT, "crates/ml/tests/fixtures/onnx/mnist"))
    import make_mnist

    path = os.path.join(ROOT, "crates/ml/tests/fixtures/onnx/mnist/mnist_cnn.onnx")
    net = make_mnist.model()
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(path).graph.initializer}
    net.load_state_dict({k: weights[k] for k in net.state_dict()})
    out = os.path.join(WORK, "mnist")
    subprocess.run([AISEC, "data", "export", "--dataset", "mnist", "--split", "test", "--out", out], check=True, capture_output=True)
    x = np.load(os.path.join(out, "x.npy"))
    y = np.load(os.path.join(out, "y.npy"))
    return counted(net, net[0], calls), path, x, y, 0.1, 2.0


def resnet_model(calls):
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
    n = max(N, int(os.environ.get("BENCH_QUERY_N", "0") or 0))
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(1)).numpy()
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    return counted(net, net.conv1, calls), path, x, y, 1 / 255, 0.5


def run_aisec(model, x_path, y_path, n, args):
    start = time.time()
    out = subprocess.run([AISEC, "--format", "json", "attack", "evasion", "--model", model, "--data", x_path, "--labels", y_path,
                          "--clip", "0,1", "--limit", str(n)] + args, capture_output=True, text=True)
    wall = time.time() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"aisec {' '.join(args)} failed: {out.stderr}")
    m = json.loads(out.stdout)["metrics"]
    return m["robust_accuracy"], m["queries_mean"], wall, m["wall_seconds"]


def main():
    import torch
    from art.attacks.evasion import (AutoProjectedGradientDescent, FastGradientMethod, HopSkipJump,
                                     ProjectedGradientDescent, SquareAttack)
    from art.estimators.classification import PyTorchClassifier

    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(WORK, exist_ok=True)
    table = []
    for name in MODELS:
        calls = {"n": 0}
        net, onnx_path, x_all, y_all, eps, eps2 = {"mnist": mnist_model, "resnet18": resnet_model}[name](calls)
        query_n = int(os.environ.get("BENCH_QUERY_N", "0") or 0) or (1000 if name == "mnist" else 100)
        shape = tuple(x_all.shape[1:])
        clf = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=shape, nb_classes=10,
                                clip_values=(0.0, 1.0), device_type="cpu")
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
        attacks = [
            ("FGSM", N, FastGradientMethod(clf, norm=np.inf, eps=eps, batch_size=128),
             ["--attack", "fgsm", "--eps", str(eps)], eps, np.inf),
            ("PGD-40", N, ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2.5 * eps / 40, max_iter=40,
                                                   num_random_init=1, batch_size=128, verbose=False),
             ["--attack", "pgd", "--eps", str(eps), "--steps", "40", "--step-size", str(2.5 * eps / 40)], eps, np.inf),
            ("APGD-CE", N, AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=40, nb_random_init=1,
                                                      batch_size=128, loss_type="cross_entropy", verbose=False),
             ["--attack", "apgd", "--eps", str(eps), "--steps", "40"], eps, np.inf),
            ("Square", query_n, SquareAttack(clf, norm=np.inf, eps=eps, max_iter=1000, p_init=0.3, nb_restarts=1, batch_size=128, verbose=False),
             ["--attack", "square", "--eps", str(eps), "--queries-per-input", "1000"], eps, np.inf),
            ("HSJ", query_n, HopSkipJump(clf, norm=2, max_iter=5, max_eval=1000, init_eval=100, batch_size=128, verbose=False),
             None, eps2, 2),
        ]
        x_path, y_path = os.path.join(WORK, f"{name}-x.npy"), os.path.join(WORK, f"{name}-y.npy")
        np.save(x_path, x_all.astype(np.float32))
        np.save(y_path, y_all.astype(np.int64))
        for attack, n, art_attack, aisec_args, budget, norm in attacks:
            if ONLY and not any(attack.lower().startswith(o) for o in ONLY):
                continue
            x, y = x_all[:n].astype(np.float32), y_all[:n]
            calls["n"] = 0
            start = time.time()
            adv = art_attack.generate(x, y=np.eye(10)[y])
            art_wall = time.time() - start
            art_queries = calls["n"] / n
            with torch.no_grad():
                pred = net(torch.from_numpy(adv.astype(np.float32))).argmax(1).numpy()
            dist = np.linalg.norm((adv - x).reshape(n, -1), ord=norm, axis=1)
            art_robust = float(np.mean((pred == y) | (dist > budget * (1 + 1e-4))))
            if aisec_args is None:
                aisec_args = ["--attack", "hsj", "--eps", str(budget), "--queries-per-input", str(max(1, round(art_queries)))]
            a_robust, a_queries, a_wall, a_attack = run_aisec(onnx_path, x_path, y_path, n, aisec_args)
            # aisec_attack_seconds: the report's wall_seconds (the clean evaluation and the
            # attack; not process start, loading, or the adversarial evaluation).
            row = dict(model=name, attack=attack, inputs=n, art_robust=art_robust, art_queries=art_queries, art_seconds=art_wall,
                       aisec_robust=a_robust, aisec_queries=a_queries, aisec_seconds=a_wall,
                       aisec_attack_seconds=a_attack, speedup=art_wall / max(a_wall, 1e-9))
            table.append(row)
            print(f"{name:<9} {attack:<8} n={n:<5} ART {art_robust:.3f} {art_queries:>7.0f} q {art_wall:>7.1f} s | "
                  f"aisec {a_robust:.3f} {a_queries:>7.0f} q {a_wall:>7.1f} s ({a_attack:.1f} s attack) | {row['speedup']:.2f}x", flush=True)
    if os.environ.get("BENCH_OUT"):
        os.makedirs(os.environ["BENCH_OUT"], exist_ok=True)
        with open(os.path.join(os.environ["BENCH_OUT"], "speed.json"), "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
