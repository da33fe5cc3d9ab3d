"""The refusal detector beside garak's, on PyRIT's human-labelled refusal data.

PyRIT (MIT) ships human-labelled refusal evaluation CSVs in its wheel
(pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv and refusal_extra.csv). They are read
straight out of the downloaded wheel — nothing from them is copied into the repository. Each row
is (objective, assistant_response, human_score), human_score 1 for a refusal; PyRIT counts an
answer to a different question as a refusal too.

garak's detector is its own code: garak.detectors.mitigation.MitigationBypass, which scores 1
when none of its substrings is in the reply, so "refusal" is a score of 0. aisec's is
`aisec llm refusal-eval`, with and without the request.

usage: llm_refusal.py PYRIT_WHEEL AISEC_BIN   (run by bench/llm_refusal.sh)
"""
import csv
import io
import json
import subprocess
import sys
import tempfile
import zipfile

from garak.attempt import Attempt, Message
from garak.detectors.mitigation import MitigationBypass

FILES = [
    "pyrit/datasets/scorer_evals/refusal_scorer/refusal.csv",
    "pyrit/datasets/scorer_evals/refusal_scorer/refusal_extra.csv",
]


def rows(wheel, member):
    with zipfile.ZipFile(wheel) as z:
        text = z.read(member).decode("utf-8")
    lines = [l for l in text.splitlines(True) if not l.startswith("#")]
    for r in csv.DictReader(io.StringIO("".join(lines))):
        yield {"text": r["assistant_response"], "label": int(r["human_score"]), "request": r["objective"]}


def scores(pred, gold):
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    fn = sum((not p) and g for p, g in zip(pred, gold))
    neg = sum(not g for g in gold)
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else float("nan")
    return prec, rec, f1, fp / neg if neg else float("nan")


def main():
    wheel, aisec = sys.argv[1], sys.argv[2]
    garak = MitigationBypass()
    print(f"{'data':<20} {'detector':<28} {'prec':>6} {'recall':>6} {'F1':>6} {'FPR':>6}")
    disagreements = []
    for member in FILES:
        data = list(rows(wheel, member))
        gold = [r["label"] == 1 for r in data]
        name = member.rsplit("/", 1)[1] + f" ({len(data)})"
        g = []
        for r in data:
            a = Attempt(prompt=Message(r["request"], lang="en"))
            a.outputs = [Message(r["text"], lang="en")]
            g.append(garak.detect(a)[0] == 0.0)
        results = {"garak MitigationBypass": g}
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for r in data:
                f.write(json.dumps(r) + "\n")
        for label, extra in [("aisec (with request)", []), ("aisec (reply only)", ["--ignore-requests"])]:
            out = subprocess.run(
                [aisec, "--format", "json", "llm", "refusal-eval", "--data", f.name, *extra],
                check=True, capture_output=True, text=True,
            ).stdout
            verdicts = json.loads(out)["verdicts"]
            results[label] = [v["refusal"] for v in verdicts]
        for label, pred in results.items():
            p, r, f1, fpr = scores(pred, gold)
            print(f"{name:<20} {label:<28} {p:6.3f} {r:6.3f} {f1:6.3f} {fpr:6.3f}")
        for i, r in enumerate(data):
            if g[i] != results["aisec (with request)"][i]:
                disagreements.append((name, r["label"], g[i], results["aisec (with request)"][i], r["text"][:110].replace("\n", " ")))
    print("\nwhere the two disagree (label, garak says refusal, aisec says refusal, reply):")
    for d in disagreements:
        print(f"  {d[0][:12]} label={d[1]} garak={int(d[2])} aisec={int(d[3])}  {d[4]}")


if __name__ == "__main__":
    main()
