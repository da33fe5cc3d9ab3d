"""The scanner's allowlist checked against whole libraries instead of examples: writes one file
per object with the real libraries, then `aisec scan` must call every one of them clean.

- scikit-learn: every estimator `sklearn.utils.all_estimators()` lists, default parameters,
  fitted on small data of the kind it takes (classifiers and regressors on iris/diabetes,
  the rest on iris features), saved with `pickle.dump` and `joblib.dump`;
- torchvision: every model `torchvision.models.list_models()` lists (random weights), saved as
  a state dict with `torch.save` and, where `torch.jit.script` compiles it, as TorchScript
  (`torch.jit.save`), whose code aisec judges operator by operator;
- torch: a tensor of every dtype, the quantized and sparse layouts, and the common
  hyperparameter containers (argparse.Namespace, dicts of them) as checkpoints.

A whole module of the library's own classes (`torch.save(model)`) is saved too, for the
torchvision models: aisec allows a library's classes only where the library is on the list.

Each file is scanned as soon as it is written (`aisec scan FILE --format json`) and the large
torchvision files are deleted after their scan, so the run needs a few GB of disk, not 50.

    bench/scan_allowlist_libraries.sh        # the venv, the build, then this script
    python3 bench/scan_allowlist_libraries.py OUT_DIR AISEC_BINARY
"""
import argparse
import collections
import json
import os
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np

warnings.filterwarnings("ignore")
out, aisec = sys.argv[1], sys.argv[2]
failed = []
verdicts = collections.defaultdict(collections.Counter)
flagged = collections.defaultdict(list)


def scan(kind, name, path):
    run = subprocess.run([aisec, "scan", path, "--format", "json"], capture_output=True, text=True)
    try:
        files = json.loads(run.stdout)["observations"]["files"]
        f = files[0]
        verdict = "error" if f["errors"] else f["verdict"]
        why = sorted({x["message"].split(":")[0] for x in f["findings"]} | {str(e) for e in f["errors"]})
    except (ValueError, KeyError, IndexError):
        verdict, why = "error", [run.stderr.strip()[:200]]
    verdicts[kind][verdict] += 1
    if verdict != "safe":
        flagged[kind].append(f"{name}: {verdict}: {'; '.join(why)[:300]}")


def save(kind, name, obj, how, keep=True):
    path = f"{out}/{kind}/{name}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        how(obj, path)
    except Exception as e:  # noqa: BLE001 - an object the library cannot save is not a scan case
        failed.append(f"{kind}/{name}: cannot save: {type(e).__name__}: {e}"[:200])
        return
    scan(kind, name, path)
    if not keep:
        os.remove(path)


def build(name, cls):
    """The estimator with default parameters, or for a meta-estimator, wrapped around small
    default ones (the first construction that works)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    regress = "Regressor" in name or name in ("RegressorChain", "TransformedTargetRegressor")
    base = LinearRegression() if regress else LogisticRegression(max_iter=200)
    other = DecisionTreeRegressor(max_depth=2) if regress else DecisionTreeClassifier(max_depth=2)
    tries = [
        lambda: cls(),
        lambda: cls(base),
        lambda: cls(estimator=base),
        lambda: cls([("a", base), ("b", other)]),
        lambda: cls(estimators=[("a", base), ("b", other)]),
        lambda: cls(base, {"fit_intercept": [True, False]} if regress else {"C": [0.5, 1.0]}),
    ]
    if cls is Pipeline:
        tries.insert(0, lambda: Pipeline([("scale", StandardScaler()), ("model", base)]))
    if cls is FeatureUnion:
        tries.insert(0, lambda: FeatureUnion([("a", StandardScaler()), ("b", StandardScaler())]))
    if cls is ColumnTransformer:
        tries.insert(0, lambda: ColumnTransformer([("scale", StandardScaler(), [0, 1])]))
    for make in tries:
        try:
            return make()
        except Exception:  # noqa: BLE001 - the next construction
            continue
    return None


def sklearn_estimators():
    from sklearn import datasets
    from sklearn.utils import all_estimators
    X, y = datasets.load_iris(return_X_y=True)
    Xr, yr = datasets.load_diabetes(return_X_y=True)
    for name, cls in all_estimators():
        est = build(name, cls)
        if est is None:
            failed.append(f"sklearn/{name}: not written: no default construction found")
            continue
        try:
            kind = getattr(est, "_estimator_type", None) or ""
            if kind == "regressor":
                est.fit(Xr[:120], yr[:120])
            elif name in ("IsotonicRegression",):
                est.fit(Xr[:120, 0], yr[:120])
            elif "Label" in name or name in ("MultiLabelBinarizer",):
                est.fit([[1, 2], [3]] if name == "MultiLabelBinarizer" else y)
            elif name in ("FeatureHasher", "HashingVectorizer", "CountVectorizer", "TfidfVectorizer",
                          "DictVectorizer", "TfidfTransformer"):
                docs = ["the cat sat", "a dog ran", "the dog sat"]
                if name == "DictVectorizer":
                    est.fit([{"a": 1}, {"b": 2}])
                elif name == "FeatureHasher":
                    est.fit([{"a": 1}])
                elif name == "TfidfTransformer":
                    est.fit(np.array([[1, 0], [0, 1]]))
                else:
                    est.fit(docs)
            else:
                est.fit(X, y)
        except Exception as e:  # noqa: BLE001 - saved unfitted: still the estimator's own classes
            failed.append(f"sklearn/{name}: fit failed, saved unfitted ({type(e).__name__})")
        save("sklearn", f"{name}.pkl", est, lambda o, p: pickle.dump(o, open(p, "wb")))
        save("sklearn", f"{name}.joblib", est, lambda o, p: joblib.dump(o, p))


def torch_objects():
    import torch
    import torchvision
    for name in torchvision.models.list_models():
        try:
            # Detection and segmentation models fetch a backbone unless told not to.
            model = torchvision.models.get_model(name, weights=None, weights_backbone=None)
        except Exception:  # noqa: BLE001 - the others take no such argument
            try:
                model = torchvision.models.get_model(name, weights=None)
            except Exception as e:  # noqa: BLE001
                failed.append(f"torchvision/{name}: {type(e).__name__}")
                continue
        save("torchvision", f"{name}.pt", model.state_dict(), torch.save, keep=False)
        save("torchvision-module", f"{name}.pt", model, torch.save, keep=False)
        save("torchscript", f"{name}.pt", model.eval(),
             lambda m, p: torch.jit.save(torch.jit.script(m), p), keep=False)
    dtypes = [d for d in vars(torch).values() if isinstance(d, torch.dtype)]
    for d in sorted(set(dtypes), key=str):
        try:
            t = torch.zeros(4, dtype=d)
        except Exception as e:  # noqa: BLE001 - dtypes without storage (bits, some float8s)
            failed.append(f"torch/{d}: {type(e).__name__}")
            continue
        save("torch-dtypes", f"{str(d).replace('torch.', '')}.pt", {"t": t}, torch.save)
    x = torch.randn(4, 4)
    layouts = {
        "quantized_per_tensor": torch.quantize_per_tensor(x, 0.1, 0, torch.qint8),
        "quantized_per_channel": torch.quantize_per_channel(x, torch.ones(4) * 0.1, torch.zeros(4, dtype=torch.long), 0, torch.quint8),
        "sparse_coo": x.to_sparse(),
        "sparse_csr": x.to_sparse_csr(),
        "channels_last": torch.randn(1, 3, 4, 4).to(memory_format=torch.channels_last),
        "nested_dict": {"a": {"b": [x, (x, 1)]}},
    }
    for name, obj in layouts.items():
        save("torch-layouts", f"{name}.pt", {"t": obj}, torch.save)
    hp = argparse.Namespace(lr=0.1, arch="resnet18", epochs=3, betas=(0.9, 0.99))
    save("containers", "argparse_namespace.pt", {"args": hp, "model": {"w": x}}, torch.save)
    save("containers", "argparse_namespace.pkl", hp, lambda o, p: pickle.dump(o, open(p, "wb")))
    rng = np.random.default_rng(0)
    save("containers", "numpy_generator.pkl", {"rng": rng, "seq": np.random.SeedSequence(1)},
         lambda o, p: pickle.dump(o, open(p, "wb")))
    save("containers", "numpy_randomstate.pkl", np.random.RandomState(0),
         lambda o, p: pickle.dump(o, open(p, "wb")))
    save("containers", "builtins.pkl", {"len": len, "range": range(3), "slice": slice(1, 2)},
         lambda o, p: pickle.dump(o, open(p, "wb")))
    save("containers", "py2_protocol0.pkl", {"a": 1 << 70, "b": [1.5, "x"]},
         lambda o, p: pickle.dump(o, open(p, "wb"), protocol=0))


sklearn_estimators()
torch_objects()
print("| files | written and scanned | clean | unknown | suspicious | dangerous | error |")
print("|---|---|---|---|---|---|---|")
for kind, counts in verdicts.items():
    print(f"| {kind} | {sum(counts.values())} | {counts['safe']} | {counts['unknown']} | "
          f"{counts['suspicious']} | {counts['dangerous']} | {counts['error']} |")
for kind, names in flagged.items():
    print(f"\n{kind}, not clean:")
    for n in names:
        print("  " + n)
print(f"\n{len(failed)} notes (objects the library cannot build or save, estimators saved unfitted):")
for f in failed:
    print("  " + f)
