"""The guard benches' threshold rule: the score that maximises F1, halfway to the next lower
score (the same rule as aisec's `guard eval`). Shared by bench/llm_guard.py and
bench/llm_guard_gated.py."""
import numpy as np


def best_threshold(scores, labels):
    order = np.argsort(-scores)
    s, y = scores[order], labels[order]
    pos, tp, fp, best, i = labels.sum(), 0, 0, (-1.0, 0.5), 0
    while i < len(s):
        v = s[i]
        while i < len(s) and s[i] == v:
            tp += y[i]
            fp += 1 - y[i]
            i += 1
        f1 = 2 * tp / (2 * tp + fp + pos - tp) if tp else 0.0
        if f1 > best[0]:
            best = (f1, (v + (s[i] if i < len(s) else 0.0)) / 2)
    return best[1]
