"""A membership-inference target made by the real tools: a PyTorch MLP trained to overfit
450 scikit-learn digits and exported with torch.onnx.export, with the member, non-member and
population CSVs `aisec attack membership --model ... --members ... --non-members ...` takes.
Run from a throwaway venv with torch and scikit-learn:

    python bench/membership_onnx.py OUT
"""

import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits


def build(out):
    """Trains the target, writes the ONNX file and the CSVs into `out`; returns the network,
    the data and the three index sets."""
    os.makedirs(out, exist_ok=True)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    members, outsiders, population = order[:450], order[450:900], order[900:]
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xm, ym = torch.tensor(x[members]), torch.tensor(y[members])
    for _ in range(300):
        for b in torch.randperm(len(ym)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xm[b]), ym[b]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = lambda idx: (net(torch.tensor(x[idx])).argmax(1).numpy() == y[idx]).mean()
        print(f"train accuracy {acc(members):.3f}, non-members {acc(outsiders):.3f}")
    torch.onnx.export(net, torch.zeros(1, 64), os.path.join(out, "digits-mlp.onnx"),
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    for name, idx in [("members", members), ("non_members", outsiders), ("population", population)]:
        np.savetxt(os.path.join(out, f"{name}.csv"),
                   np.column_stack([x[idx], y[idx]]), delimiter=",", fmt="%.6g")
    return net, x, y, members, outsiders, population


def main():
    build(sys.argv[1])


if __name__ == "__main__":
    main()
