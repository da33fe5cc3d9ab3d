"""aisec's randomized-smoothing certification beside an independent implementation of the
same procedure (issue 35; benchmark, not CI).

    /tmp/benchvenv/bin/python bench/certify_reference.py    # needs torch, scipy, onnx

1. Exports aisec's digits train and test splits (`aisec data export`), trains a small CNN in
   PyTorch on the train split with Gaussian noise augmentation (σ = 0.25, as Cohen et al.
   train base models), and exports it to ONNX with torch.onnx.export.
2. Certifies the first BENCH_INPUTS test digits (default 200) with `aisec defend certify`
   on that ONNX file (σ 0.25, n0 100, n 10,000, α 0.001).
3. Runs CERTIFY as the paper's pseudocode states it, written here from the paper, on the
   PyTorch model: numpy's Gaussian noise, counts of the argmax, scipy's beta.ppf for the
   one-sided Clopper–Pearson bound, norm.ppf for the radius.

The model is the same; the noise draws are each tool's own, so the comparison is
statistical: the two certified-accuracy curves, the share of inputs where both certify or
both abstain, and the spread of the per-input radius differences, set beside the spread
between two runs of the reference itself at different seeds (what sampling alone gives).
"""

import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AISEC = os.environ.get("AISEC_BIN") or os.path.join(ROOT, "target/release/aisec")
WORK = "/tmp/aisec-bench-certify"
INPUTS = int(os.environ.get("BENCH_INPUTS", "200"))
SIGMA, N0, N, ALPHA = 0.25, 100, 10_000, 0.001


def export(split):
    out = os.path.join(WORK, split)
    subprocess.run([AISEC, "data", "export", "--dataset", "digits", "--split", split, "--out", out], check=True,
                   capture_output=True)
    return np.load(os.path.join(out, "x.npy")).astype(np.float32), np.load(os.path.join(out, "y.npy"))


def train(x, y):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32 * 16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(1)
    for _ in range(40):
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            idx = order[i:i + 64]
            noisy = xt[idx] + SIGMA * torch.randn(xt[idx].shape, generator=g)
            loss = torch.nn.functional.cross_entropy(net(noisy), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def reference_certify(net, x, seed):
    """CERTIFY (Cohen et al. 2019, Algorithm 'certify'), from the paper."""
    import torch
    from scipy.stats import beta, norm

    rng = np.random.default_rng(seed)
    out = []

    def counts(xi, n):
        c = np.zeros(10, dtype=np.int64)
        for start in range(0, n, 1000):
            m = min(1000, n - start)
            batch = xi[None] + SIGMA * rng.standard_normal((m,) + xi.shape).astype(np.float32)
            with torch.no_grad():
                c += np.bincount(net(torch.from_numpy(batch)).argmax(1).numpy(), minlength=10)
        return c

    for xi in x:
        c_hat = int(counts(xi, N0).argmax())
        n_a = int(counts(xi, N)[c_hat])
        p_lower = beta.ppf(ALPHA, n_a, N - n_a + 1) if n_a > 0 else 0.0
        out.append((c_hat, SIGMA * norm.ppf(p_lower)) if p_lower > 0.5 else (None, 0.0))
    return out


def curve(certs, labels, radii):
    return [float(np.mean([(p == y) and r >= rad for (p, r), y in zip(certs, labels)])) for rad in radii]


def main():
    import torch

    os.makedirs(WORK, exist_ok=True)
    x_train, y_train = export("train")
    x_test, y_test = export("test")
    x_test, y_test = x_test[:INPUTS], y_test[:INPUTS]
    net = train(x_train, y_train)
    model = os.path.join(WORK, "digits_noise.onnx")
    torch.onnx.export(net, torch.rand(2, 1, 8, 8), model, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
    np.save(os.path.join(WORK, "x.npy"), x_test)
    np.save(os.path.join(WORK, "y.npy"), y_test.astype(np.int64))
    out = subprocess.run([AISEC, "--format", "json", "defend", "certify", "--model", model, "--data",
                          os.path.join(WORK, "x.npy"), "--labels", os.path.join(WORK, "y.npy"), "--clip", "0,1",
                          "--sigma", str(SIGMA), "--n0", str(N0), "--n", str(N), "--alpha", str(ALPHA)],
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    ours = [(c["prediction"], c["radius"]) for c in report["observations"]["certificates"]]
    ref = reference_certify(net, x_test, seed=1)
    ref2 = reference_certify(net, x_test, seed=2)
    radii = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75]
    print(f"{len(x_test)} digits, σ {SIGMA}, n0 {N0}, n {N}, α {ALPHA}")
    print("radius            " + " ".join(f"{r:>6.3f}" for r in radii))
    for name, certs in [("aisec", ours), ("reference seed 1", ref), ("reference seed 2", ref2)]:
        print(f"{name:<17} " + " ".join(f"{v:>6.3f}" for v in curve(certs, y_test, radii)))

    def agreement(a, b):
        same = np.mean([(pa is None) == (pb is None) and (pa is None or pa == pb) for (pa, _), (pb, _) in zip(a, b)])
        diffs = np.array([ra - rb for (pa, ra), (pb, rb) in zip(a, b) if pa is not None and pb is not None])
        return same, float(np.mean(np.abs(diffs))), float(np.max(np.abs(diffs)))

    for name, (a, b) in [("aisec vs reference", (ours, ref)), ("reference vs reference", (ref, ref2))]:
        same, mean_d, max_d = agreement(a, b)
        print(f"{name:<24} same decision {same:.3f}, |Δradius| mean {mean_d:.4f} max {max_d:.4f}")


if __name__ == "__main__":
    sys.exit(main())
