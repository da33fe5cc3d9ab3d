"""aisec's shipped guard vs scikit-learn TF-IDF + LR on the labelled prompt-injection splits.

Both are trained on the same rows and thresholded by the same rule (max F1 over the pooled
validation rows). The scikit-learn baseline is run at its default C=1 and at the C values
around it, so that the comparison is not against one unlucky setting — on the injection data
alone, and again with the ordinary traffic the shipped guard also learns (chatterbot-corpus's
and the evals registry's train and validation splits, in the folder of the third argument),
so that each row also says how much ordinary traffic it flags: both corpora's test splits and
aisec's 59 hand-written messages.
"""
import itertools
import json
import subprocess
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guard_threshold import best_threshold  # noqa: E402 - the bench folder, added just above

data, aisec, chat = sys.argv[1], sys.argv[2], sys.argv[3]
ordinary = [l for l in open("crates/llm/payloads/ordinary-chat.txt", encoding="utf-8").read().splitlines()
            if l.strip() and not l.startswith("#")]
def benign(split):
    return pd.concat([pd.read_csv(f"{chat}/{kind}-{split}.csv", keep_default_na=False)[["text", "label"]]
                      for kind in ("chat", "task")])


chat_train, chat_val = benign("train"), benign("validation")
chat_test = pd.read_csv(f"{chat}/chat-test.csv", keep_default_na=False)
task_test = pd.read_csv(f"{chat}/task-test.csv", keep_default_na=False)
splits = {
    "s-labs": ("s-labs/train.csv", "s-labs/validation.csv"),
    "neuralchemy": ("neuralchemy/core-train.parquet", "neuralchemy/core-validation.parquet"),
}


def load(rel):
    path = f"{data}/{rel}"
    return pd.read_parquet(path) if rel.endswith(".parquet") else pd.read_csv(path)


train = pd.concat([load(t)[["text", "label"]] for t, _ in splits.values()])
val = {k: load(v) for k, (_, v) in splits.items()}


def figures(scores, labels, t):
    flag = scores >= t
    tp = int((flag & (labels == 1)).sum())
    fp = int((flag & (labels == 0)).sum())
    fn = int((~flag & (labels == 1)).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"f1": 2 * p * r / max(p + r, 1e-12), "precision": p, "recall": r,
            "fpr": fp / max(int((labels == 0).sum()), 1), "auc": roc_auc_score(labels, scores)}


rows = []
for with_chat, c in itertools.product((False, True), [0.5, 1.0, 2.0, 4.0, 10.0]):
    started = time.perf_counter()
    vec = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    rows_train = pd.concat([train, chat_train[["text", "label"]]]) if with_chat else train
    clf = LogisticRegression(max_iter=3000, C=c).fit(vec.fit_transform(rows_train.text.astype(str)), rows_train.label)
    train_s = time.perf_counter() - started
    scores = {k: clf.predict_proba(vec.transform(v.text.astype(str)))[:, 1] for k, v in val.items()}
    pooled_s = list(scores.values())
    pooled_y = [v.label.values for v in val.values()]
    if with_chat:
        pooled_s.append(clf.predict_proba(vec.transform(chat_val.text.astype(str)))[:, 1])
        pooled_y.append(chat_val.label.values)
    t = best_threshold(np.concatenate(pooled_s), np.concatenate(pooled_y))
    lat = []
    for text in val["neuralchemy"].text.astype(str):
        t0 = time.perf_counter()
        clf.predict_proba(vec.transform([text]))
        lat.append((time.perf_counter() - t0) * 1e6)
    edge = (val["neuralchemy"].category == "edge_case").values
    row = {"detector": f"sklearn tfidf+LR C={c}" + (", with chat and tasks" if with_chat else ""), "threshold": t,
           "train_s": train_s, "edge_case_fpr": float((scores["neuralchemy"][edge] >= t).mean()),
           "chat_test_fpr": float((clf.predict_proba(vec.transform(chat_test.text.astype(str)))[:, 1] >= t).mean()),
           "task_test_fpr": float((clf.predict_proba(vec.transform(task_test.text.astype(str)))[:, 1] >= t).mean()),
           "ordinary_flagged": int((clf.predict_proba(vec.transform(ordinary))[:, 1] >= t).sum()),
           "p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99))}
    for k in val:
        row[k] = figures(scores[k], val[k].label.values, t)
    rows.append(row)

# prompt-guardrail 1.0.1 (guardify): a word 1-4-gram TF-IDF + LR pickled by its author and
# trained on its own data; scored as shipped (its predict: 0.5) and with the same threshold
# rule as the others.
try:
    from guardify.guardrails.logistic_regression import LogisticRegressionGuardrail

    g = LogisticRegressionGuardrail()
    scores = {k: g._clf.predict_proba(g._vectorizer.transform(v.text.astype(str)))[:, 1] for k, v in val.items()}
    pooled = best_threshold(np.concatenate(list(scores.values())), np.concatenate([v.label.values for v in val.values()]))
    for name, t in (("prompt-guardrail 1.0.1, as shipped (0.5)", 0.5), ("prompt-guardrail 1.0.1, threshold rule", pooled)):
        lat = []
        for text in val["neuralchemy"].text.astype(str):
            t0 = time.perf_counter()
            g.predict(text)
            lat.append((time.perf_counter() - t0) * 1e6)
        edge = (val["neuralchemy"].category == "edge_case").values
        row = {"detector": name, "threshold": t, "edge_case_fpr": float((scores["neuralchemy"][edge] >= t).mean()),
               "chat_test_fpr": float((g._clf.predict_proba(g._vectorizer.transform(chat_test.text.astype(str)))[:, 1] >= t).mean()),
               "task_test_fpr": float((g._clf.predict_proba(g._vectorizer.transform(task_test.text.astype(str)))[:, 1] >= t).mean()),
               "ordinary_flagged": int((g._clf.predict_proba(g._vectorizer.transform(ordinary))[:, 1] >= t).sum()),
               "p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99))}
        for k in val:
            row[k] = figures(scores[k], val[k].label.values, t)
        rows.append(row)
except ImportError as e:
    print(f"prompt-guardrail not installed: {e}", file=sys.stderr)

ours = {"detector": "aisec shipped guard"}
for k, (_, rel) in splits.items():
    args = [aisec, "--format", "json", "llm", "guard", "eval", "--data", f"{data}/{rel}"]
    if k == "neuralchemy":
        args += ["--group-column", "category"]
    r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    m, o = r["metrics"], r["observations"]
    ours[k] = {"f1": m["f1"], "precision": m["detection_precision"], "recall": m["detection_recall"],
               "fpr": m["false_positive_rate"], "auc": m["auc"]}
    ours["threshold"] = r["config"]["threshold"]
    if k == "neuralchemy":
        ours["edge_case_fpr"] = next(g["false_positive_rate"] for g in o["groups"] if g["group"] == "edge_case")
        ours["p50_us"], ours["p99_us"] = o["latency_per_text"]["p50_us"], o["latency_per_text"]["p99_us"]
        ours["f1_ci95"] = o["f1_ci95"]
for kind in ("chat", "task"):
    r = json.loads(subprocess.run([aisec, "--format", "json", "llm", "guard", "eval", "--data", f"{chat}/{kind}-test.csv"],
                                  check=True, capture_output=True, text=True).stdout)
    ours[f"{kind}_test_fpr"] = r["metrics"]["false_positive_rate"]
ours["ordinary_flagged"] = sum(
    subprocess.run([aisec, "llm", "guard", "check", text], capture_output=True).returncode == 1 for text in ordinary)
rows.append(ours)

print("| detector | S-Labs F1 | P | R | FPR | AUC | neuralchemy F1 | P | R | FPR | AUC | edge-case FPR | chat-test FPR | task-test FPR | ordinary flagged (59) | p50 µs | p99 µs |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    cells = [r["detector"]]
    for k in ("s-labs", "neuralchemy"):
        f = r[k]
        cells += [f"{f['f1']:.4f}", f"{f['precision']:.4f}", f"{f['recall']:.4f}", f"{f['fpr']:.4f}", f"{f['auc']:.4f}"]
    cells += [f"{r['edge_case_fpr']:.3f}", f"{r['chat_test_fpr']:.4f}", f"{r['task_test_fpr']:.4f}",
              str(r["ordinary_flagged"]),
              f"{r['p50_us']:.1f}", f"{r['p99_us']:.1f}"]
    print("| " + " | ".join(cells) + " |")
