"""Domain-gated prompt-injection guard: can two linear models and a domain gate beat one?

One TF-IDF + logistic-regression model cannot meet all of aisec's guard targets at once:
trained on the injection datasets alone it reaches neuralchemy F1 ~0.963 but flags most
ordinary chat; trained with ordinary chat/task traffic added it flags <1% of that traffic but
neuralchemy F1 falls to ~0.95 (recall ~0.94). This script tests whether routing each input by
a domain model recovers both.

Features: the guard's TF-IDF (word 1-2-grams + char_wb 2-5-grams, sublinear_tf, min_df=2),
fitted once on all training text (injection train splits + chat/task train splits) and reused.

Models (L2 logistic regression on those features):
  I  injection model, injection datasets' train splits only;
  C  injection model, injection train + chat/task train rows (label 0);
  D  domain model, chat/task train rows (class 1) vs every injection-dataset train row,
     benign and malicious (class 0): D(x) ~ "this looks like ordinary traffic".

Variants (I and C each at C in {1, 4, 10}):
  single I / single C   one model, the baseline;
  gate g                score = I(x) if D(x) < g else C(x), g in {0.3, 0.5, 0.7, 0.9};
  soft                  score = (1 - D) * I + D * C;
  (all three thresholded at max F1 over the pooled validation rows: both injection
  validation splits + chat/task validation rows, as bench/llm_guard.py does)
  split-t g, model M     per-domain thresholds: M is C alone or the pair (I if D<g, else C);
                        t_inj = max F1 over injection validation rows with D < g,
                        t_chat = the lowest threshold flagging <= 0.5% of the ordinary
                        validation rows with D >= g; flag = score >= (t_inj if D < g else t_chat).

Reported per variant: S-Labs and neuralchemy validation F1/recall/FPR, neuralchemy edge_case
flag rate, chat-test and task-test flag rates, how many of the 59 hand-written ordinary
messages are flagged, and the recall on validation injections that D routes to the chat domain
(D >= g; g = 0.5 for single/soft) — an attacker who writes in chat style lands there.

Usage, from the repository root:
    python bench/llm_guard_gated.py ../shared/llm-data /tmp/aisec-chat-splits
"""
import os
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guard_threshold import best_threshold  # noqa: E402 - the bench folder, added just above

data, chat = sys.argv[1], sys.argv[2]
started = time.perf_counter()
ordinary = [l for l in open("crates/llm/payloads/ordinary-chat.txt", encoding="utf-8").read().splitlines()
            if l.strip() and not l.startswith("#")]


def load(rel):
    path = f"{data}/{rel}"
    return pd.read_parquet(path) if rel.endswith(".parquet") else pd.read_csv(path)


def benign(kinds, split):
    return pd.concat([pd.read_csv(f"{chat}/{k}-{split}.csv", keep_default_na=False)[["text", "label"]] for k in kinds])


splits = {"s-labs": ("s-labs/train.csv", "s-labs/validation.csv"),
          "neuralchemy": ("neuralchemy/core-train.parquet", "neuralchemy/core-validation.parquet")}
inj_train = pd.concat([load(t)[["text", "label"]] for t, _ in splits.values()])
val = {k: load(v) for k, (_, v) in splits.items()}
chat_train, chat_val = benign(("chat", "task"), "train"), benign(("chat", "task"), "validation")
tests = {"chat_test": benign(("chat",), "test"), "task_test": benign(("task",), "test")}

vec = make_union(
    TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
)
X_all = vec.fit_transform(pd.concat([inj_train.text, chat_train.text]).astype(str).tolist())
n_inj = len(inj_train)
X_inj, X_chat = X_all[:n_inj], X_all[n_inj:]
y_inj = inj_train.label.values
Xv = {k: vec.transform(v.text.astype(str)) for k, v in val.items()}
yv = {k: v.label.values for k, v in val.items()}
Xcv = vec.transform(chat_val.text.astype(str))
Xt = {k: vec.transform(v.text.astype(str)) for k, v in tests.items()}
Xo = vec.transform(ordinary)
edge = (val["neuralchemy"].category == "edge_case").values
print(f"vectorised in {time.perf_counter() - started:.1f}s, {X_all.shape[1]} features", file=sys.stderr)


def fit(X, y, c):
    return LogisticRegression(max_iter=3000, C=c).fit(X, y)


def score_all(m):
    p = lambda X: m.predict_proba(X)[:, 1]
    return {"val": {k: p(X) for k, X in Xv.items()}, "chat_val": p(Xcv),
            "test": {k: p(X) for k, X in Xt.items()}, "ord": p(Xo)}


# Domain model: ordinary (1) vs all injection-dataset rows (0).
D = score_all(fit(sp.vstack([X_inj, X_chat]), np.r_[np.zeros(n_inj), np.ones(X_chat.shape[0])], 4.0))
print(f"D fitted at {time.perf_counter() - started:.1f}s", file=sys.stderr)
Ms = {}
for c in (1.0, 4.0, 10.0):
    Ms[("I", c)] = score_all(fit(X_inj, y_inj, c))
    Ms[("C", c)] = score_all(fit(sp.vstack([X_inj, X_chat]), np.r_[y_inj, np.zeros(X_chat.shape[0])], c))
    print(f"I, C at C={c} fitted at {time.perf_counter() - started:.1f}s", file=sys.stderr)


def fpr_threshold(scores, rate):
    """Lowest threshold flagging at most `rate` of `scores`."""
    if len(scores) == 0:
        return 0.5
    s = np.sort(scores)[::-1]
    k = int(np.floor(rate * len(s)))  # may flag k rows
    if k >= len(s):
        return 0.0
    return float(np.nextafter(s[k], np.inf))  # flags only rows strictly above the (k+1)-th highest


def combine(a, b, d, how):
    """Apply `how(a_part, b_part, d_part)` across the score dicts."""
    return {"val": {k: how(a["val"][k], b["val"][k], d["val"][k]) for k in a["val"]},
            "chat_val": how(a["chat_val"], b["chat_val"], d["chat_val"]),
            "test": {k: how(a["test"][k], b["test"][k], d["test"][k]) for k in a["test"]},
            "ord": how(a["ord"], b["ord"], d["ord"])}


def fig(flag, y):
    tp, fp = int((flag & (y == 1)).sum()), int((flag & (y == 0)).sum())
    fn = int((~flag & (y == 1)).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return 2 * p * r / max(p + r, 1e-12), r, fp / max(int((y == 0).sum()), 1)


def report(name, S, thr, gate):
    """thr(part_scores, part_D) -> per-row thresholds; gate: the D cut used for the chat-domain recall."""
    row = {"variant": name}
    flags = {}
    for k in val:
        flags[k] = S["val"][k] >= thr(S["val"][k], D["val"][k])
        row[k] = fig(flags[k], yv[k])
    row["edge"] = float(flags["neuralchemy"][edge].mean())
    for k in tests:
        row[k] = float((S["test"][k] >= thr(S["test"][k], D["test"][k])).mean())
    of = S["ord"] >= thr(S["ord"], D["ord"])
    row["ord_n"], row["ord_flagged"] = int(of.sum()), [ordinary[i] for i in np.flatnonzero(of)]
    inj_cd = np.concatenate([(D["val"][k] >= gate) & (yv[k] == 1) for k in val])
    fl = np.concatenate([flags[k] for k in val])
    row["chatdom_inj"], row["chatdom_recall"] = int(inj_cd.sum()), float(fl[inj_cd].mean()) if inj_cd.any() else float("nan")
    return row


pooled_y = np.concatenate([yv[k] for k in val] + [chat_val.label.values])
pooled = lambda S: np.concatenate([S["val"][k] for k in val] + [S["chat_val"]])
inj_y = np.concatenate([yv[k] for k in val])
rows = []


def global_variant(name, S, gate=0.5):
    t = best_threshold(pooled(S), pooled_y)
    rows.append(report(name, S, lambda s, d: np.full(len(s), t), gate))


# References: the injection-only baseline of bench/llm_guard.py (its own vectoriser fitted on
# injection train text, threshold from the injection validation rows only), then model I on the
# shared vectoriser with that same injection-only threshold; neither sees the chat validation rows.
inj_pooled = lambda S: np.concatenate([S["val"][k] for k in val])
vec_inj = make_union(
    TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
)
m = LogisticRegression(max_iter=3000, C=1.0).fit(vec_inj.fit_transform(inj_train.text.astype(str)), y_inj)
pr = lambda t: m.predict_proba(vec_inj.transform(list(t)))[:, 1]
S_ref = {"val": {k: pr(v.text.astype(str)) for k, v in val.items()}, "chat_val": pr(chat_val.text.astype(str)),
         "test": {k: pr(v.text.astype(str)) for k, v in tests.items()}, "ord": pr(ordinary)}
t_ref = best_threshold(inj_pooled(S_ref), inj_y)
rows.append(report("ref: baseline I C=1, own vectoriser, inj-only threshold", S_ref, lambda s, d: np.full(len(s), t_ref), 0.5))
for c in (1.0, 4.0, 10.0):
    t_ref = best_threshold(inj_pooled(Ms[("I", c)]), inj_y)
    rows.append(report(f"ref: I C={c:g}, inj-only threshold", Ms[("I", c)], lambda s, d, t=t_ref: np.full(len(s), t), 0.5))
for c in (1.0, 4.0, 10.0):
    global_variant(f"single I C={c:g}", Ms[("I", c)])
    global_variant(f"single C C={c:g}", Ms[("C", c)])
for ci in (1.0, 4.0, 10.0):
    for cc in (1.0, 4.0, 10.0):
        I, C = Ms[("I", ci)], Ms[("C", cc)]
        for g in (0.3, 0.5, 0.7, 0.9):
            global_variant(f"gate g={g} I={ci:g} C={cc:g}", combine(I, C, D, lambda a, b, d, g=g: np.where(d < g, a, b)), g)
        global_variant(f"soft I={ci:g} C={cc:g}", combine(I, C, D, lambda a, b, d: (1 - d) * a + d * b))

# B: per-domain thresholds.
for ci in (None, 1.0, 4.0, 10.0):
    for cc in (1.0, 4.0, 10.0):
        C = Ms[("C", cc)]
        I = C if ci is None else Ms[("I", ci)]
        for g in (0.3, 0.5, 0.7, 0.9):
            S = combine(I, C, D, lambda a, b, d, g=g: np.where(d < g, a, b))
            d_inj = np.concatenate([D["val"][k] for k in val])
            s_inj = np.concatenate([S["val"][k] for k in val])
            lo = d_inj < g
            t_inj = best_threshold(s_inj[lo], inj_y[lo])
            hi = D["chat_val"] >= g
            t_chat = fpr_threshold(S["chat_val"][hi], 0.005)
            name = f"split-t g={g} " + (f"C={cc:g}" if ci is None else f"I={ci:g} C={cc:g}")
            rows.append(report(name, S, lambda s, d, g=g, a=t_inj, b=t_chat: np.where(d < g, a, b), g))
            rows[-1]["t"] = (t_inj, t_chat)

print("| variant | SL F1 | SL R | SL FPR | NC F1 | NC R | NC FPR | edge | chat-test | task-test | hand (59) | chat-dom inj | chat-dom R |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    cells = [r["variant"]]
    for k in ("s-labs", "neuralchemy"):
        cells += [f"{x:.4f}" for x in r[k]]
    cells += [f"{r['edge']:.4f}", f"{r['chat_test']:.4f}", f"{r['task_test']:.4f}", str(r["ord_n"]),
              str(r["chatdom_inj"]), f"{r['chatdom_recall']:.4f}"]
    print("| " + " | ".join(cells) + " |")


def meets(r):
    return not r["variant"].startswith("ref:") and (r["neuralchemy"][0] >= 0.9628 and r["neuralchemy"][1] >= 0.95 and r["s-labs"][0] >= 0.985
            and r["chat_test"] <= 0.01 and r["task_test"] <= 0.01)


print("\nDomain model on validation injections (fraction with D >= g; label-1 rows):")
for g in (0.3, 0.5, 0.7, 0.9):
    print(f"  g={g}: " + ", ".join(f"{k} {float((D['val'][k][yv[k] == 1] >= g).mean()):.4f} "
                                   f"(benign {float((D['val'][k][yv[k] == 0] >= g).mean()):.4f})" for k in val)
          + f"; ordinary val {float((D['chat_val'] >= g).mean()):.4f}, hand-written {int((D['ord'] >= g).sum())}/59")

ok = [r for r in rows if meets(r)]
print(f"\nvariants meeting neuralchemy F1/recall, S-Labs F1, chat/task FPR: {len(ok)}; also hand-written <= 1: "
      f"{sum(r['ord_n'] <= 1 for r in ok)}")
rank = sorted(rows, key=lambda r: (not meets(r), r["ord_n"] > 1,
                                   -(min(r["neuralchemy"][0] - 0.9628, 0) + min(r["neuralchemy"][1] - 0.95, 0)
                                     + min(r["s-labs"][0] - 0.985, 0) + min(0.01 - r["chat_test"], 0)
                                     + min(0.01 - r["task_test"], 0)), -r["neuralchemy"][0]))
d_ord = dict(zip(ordinary, D["ord"]))
for r in [r for r in rank if not r["variant"].startswith("ref:")][:5]:
    t = "" if "t" not in r else f" (t_inj {r['t'][0]:.4f}, t_chat {r['t'][1]:.4f})"
    print(f"best-ranked: {r['variant']}{t}: hand-written flagged {r['ord_n']}:")
    for text in r["ord_flagged"]:
        print(f"    D={d_ord[text]:.3f}  {text}")
print(f"total {time.perf_counter() - started:.1f}s", file=sys.stderr)
