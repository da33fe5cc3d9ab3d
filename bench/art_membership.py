"""Membership inference side by side: ART's attacks and aisec's on the same target and the
same split. The target is bench/membership_onnx.py's PyTorch MLP (450 digits members, 450
non-members, 897 population records); ART attacks the PyTorch model in memory, aisec its
ONNX export through `aisec attack membership --model ... --members ... --non-members ...`.

    bench/art.sh membership

ART's supervised black-box attack (MembershipInferenceBlackBox) needs known members and
non-members to fit on: it is given the first half of each and scored on the second half,
so its figures stand on 225 + 225 candidates; every other row scores all 450 + 450.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

sys.path.insert(0, os.path.dirname(__file__))
from membership_onnx import build  # noqa: E402

AISEC = os.path.join(os.path.dirname(__file__), "..", "target", "release", "aisec")


def figures(scores, truth):
    """AUC, TPR at 1% and 0.1% FPR (the highest TPR whose FPR stays within the limit)."""
    fpr, tpr, _ = roc_curve(truth, scores)
    at = lambda limit: float(tpr[fpr <= limit + 1e-12].max(initial=0.0))
    return roc_auc_score(truth, scores), at(0.01), at(0.001)


def row(tool, attack, scores, truth, seconds, note=""):
    auc, t1, t01 = figures(np.asarray(scores, dtype=float), np.asarray(truth))
    print(f"{tool:6} {attack:42} {auc:6.3f} {100 * t1:8.2f}% {100 * t01:8.2f}% "
          f"{int(np.sum(truth)):5d}/{int(len(truth) - np.sum(truth)):<5d} {seconds:7.1f} s  {note}")


def main():
    from art.estimators.classification import PyTorchClassifier
    from art.attacks.inference.membership_inference import (
        MembershipInferenceBlackBox, MembershipInferenceBlackBoxRuleBased,
        LabelOnlyDecisionBoundary, ShadowModels)

    out = tempfile.mkdtemp(prefix="aisec-mia-")
    net, x, y, members, outsiders, population = build(out)
    clf = PyTorchClassifier(model=net, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,),
                            nb_classes=10, clip_values=(0.0, 1.0),
                            optimizer=torch.optim.Adam(net.parameters(), lr=2e-3))
    xm, ym, xn, yn = x[members], y[members], x[outsiders], y[outsiders]
    truth = np.r_[np.ones(len(xm)), np.zeros(len(xn))]
    cx, cy = np.r_[xm, xn], np.r_[ym, yn]
    print(f"{'tool':6} {'attack':42} {'AUC':>6} {'TPR@1%':>9} {'TPR@0.1%':>9} {'mem/non':>11} {'time':>9}")

    t = time.time()
    rule = MembershipInferenceBlackBoxRuleBased(clf)
    scores = rule.infer(cx, cy, probabilities=True)
    scores = np.asarray(scores).reshape(len(cx), -1)[:, -1]
    row("ART", "rule-based (correct label = member)", scores, truth, time.time() - t)

    for model_type in ["nn", "rf"]:
        t = time.time()
        h = len(xm) // 2
        bb = MembershipInferenceBlackBox(clf, attack_model_type=model_type)
        bb.fit(xm[:h], ym[:h], xn[:h], yn[:h])
        ex, ey = np.r_[xm[h:], xn[h:]], np.r_[ym[h:], yn[h:]]
        scores = np.asarray(bb.infer(ex, ey, probabilities=True)).reshape(len(ex), -1)[:, -1]
        row("ART", f"black-box {model_type} (fit on known members)", scores,
            np.r_[np.ones(len(xm) - h), np.zeros(len(xn) - h)], time.time() - t)

    t = time.time()
    shadow_net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                     torch.nn.Linear(128, 64), torch.nn.ReLU(),
                                     torch.nn.Linear(64, 10))
    # ART's ShadowModels refits clones with the estimator's default fit (20 epochs); the
    # target had 300, which ART's API gives no way to pass.
    shadow_template = PyTorchClassifier(
        model=shadow_net, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,), nb_classes=10,
        clip_values=(0.0, 1.0), optimizer=torch.optim.Adam(shadow_net.parameters(), lr=2e-3))
    try:
        shadows = ShadowModels(shadow_template, num_shadow_models=3, random_state=0)
        (mx, my, mp), (nx, ny, np_) = shadows.generate_shadow_dataset(
            x[population], np.eye(10)[y[population]])
        bb = MembershipInferenceBlackBox(clf, attack_model_type="rf")
        bb.fit(mx, my, nx, ny, mp, np_)
        scores = np.asarray(bb.infer(cx, cy, probabilities=True)).reshape(len(cx), -1)[:, -1]
        row("ART", "shadow models (3) + black-box rf", scores, truth, time.time() - t)
    except Exception as e:  # ART's shadow models need a trainable template
        print(f"ART    shadow models: did not run ({type(e).__name__}: {e})")

    t = time.time()
    n_lo = 100
    try:
        # ART 1.20.1's HopSkipJump starts from float64 noise, which a float32 PyTorch model
        # refuses: the same network behind a cast. The threshold is calibrated on 50 known
        # members and 50 known non-members; the next 100 + 100 candidates are scored.
        class Float32(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, v):
                return self.inner(v.float())

        cast = PyTorchClassifier(model=Float32(net), loss=torch.nn.CrossEntropyLoss(),
                                 input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0))
        lo = LabelOnlyDecisionBoundary(cast)
        hsj = dict(max_iter=20, max_eval=200, init_eval=20, verbose=False)
        lo.calibrate_distance_threshold(xm[:50], ym[:50], xn[:50], yn[:50], **hsj)
        sub = np.r_[50 + np.arange(n_lo), len(xm) + 50 + np.arange(n_lo)]
        dist = lo.infer(cx[sub], cy[sub], probabilities=True, **hsj)
        dist = np.asarray(dist).reshape(len(sub), -1)[:, -1]
        row("ART", "label-only decision boundary (HSJ)", dist, truth[sub], time.time() - t,
            f"{n_lo} + {n_lo} candidates after 50 + 50 for calibration")
    except Exception as e:
        print(f"ART    label-only decision boundary: did not run ({type(e).__name__}: {e})")

    for attack, extra in [("loss", []), ("shadow", []), ("lira", ["--shadows", "16"]),
                          ("rmia", ["--shadows", "4"]), ("label-only", ["--outputs", "label"])]:
        t = time.time()
        cmd = [AISEC, "attack", "membership", "--attack", attack, "--model",
               os.path.join(out, "digits-mlp.onnx"), "--members", os.path.join(out, "members.csv"),
               "--non-members", os.path.join(out, "non_members.csv"),
               "--csv", os.path.join(out, "population.csv"), "--epochs", "100",
               "--format", "json", *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"aisec  {attack}: failed: {done.stderr.strip()[-300:]}")
            continue
        m = json.loads(done.stdout)["metrics"]
        print(f"{'aisec':6} {attack:42} {m['auc']:6.3f} {100 * m['tpr_at_1pct_fpr']:8.2f}% "
              f"{100 * m['tpr_at_0_1pct_fpr']:8.2f}% {len(xm):5d}/{len(xn):<5d} "
              f"{time.time() - t:7.1f} s  (whole process)")


if __name__ == "__main__":
    main()
