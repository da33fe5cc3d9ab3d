"""aisec scan (and, when installed, picklescan and modelscan) on the peers' own test suites in
../shared/scan-peers, labelled by the peers' own tests (labels.tsv). Not CI: a benchmark.

Per tool and per peer suite it prints: malicious files flagged (exit 1), failed closed (error,
exit 2) and missed (exit 0); benign files clean, false alarms and errors. Then every miss and
every false alarm by name. aisec runs once over all files (JSON); the peers run per file.

    python3 bench/scan_peers.py [--peers] [--strict] [--benign=DIR ...] [SHARED_SCAN_PEERS_DIR]

--benign=DIR adds benign files written by the real tools (bench/make_real_artifacts.py) and
prints the policy comparison the README's default is based on.
"""

import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AISEC = os.path.join(ROOT, "target/release/aisec")


def load_labels(base):
    rows = []
    with open(os.path.join(base, "labels.tsv")) as f:
        next(f)
        for line in f:
            path, label, _ = line.rstrip("\n").split("\t")
            rows.append((path, label))
    return rows


def aisec_answers(base, rows, strict):
    paths = [os.path.join(base, p) for p, _ in rows]
    cmd = [AISEC, "scan", "--format", "json"] + (["--strict"] if strict else []) + paths
    start = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    secs = time.time() - start
    files = json.loads(out)["observations"]["files"]
    by_path = {}
    for f in files:
        if f["verdict"] in ("dangerous", "suspicious") or (strict and f["verdict"] == "unknown"):
            by_path[f["path"]] = ("flag", ",".join(sorted({x["rule"] for x in f["findings"]})))
        elif f["errors"]:
            by_path[f["path"]] = ("error", f["errors"][0].get("message", ""))
        else:
            by_path[f["path"]] = ("pass", f["verdict"])
    answers = {}
    for p, _ in rows:
        full = os.path.join(base, p)
        # A directory argument is walked: the worst answer of its files counts.
        hits = [v for k, v in by_path.items() if k == full or k.startswith(full + os.sep)]
        order = {"flag": 2, "error": 1, "pass": 0}
        answers[p] = max(hits, key=lambda v: order[v[0]]) if hits else ("error", "not reported")
    return answers, secs


def policy_table(base, rows, benign_dirs):
    """Which default to ship: misses on the peers' malicious files and false alarms on their
    benign files and on benign files written by the real tools, under three policies —
    deny list only (dangerous fails), the default (dangerous or suspicious: an unreviewed
    call fails), and --strict (any unknown name fails)."""
    paths = [os.path.join(base, p) for p, _ in rows]
    real = []
    for d in benign_dirs:
        for root, _, names in os.walk(d):
            real += [os.path.join(root, n) for n in sorted(names)]
    out = subprocess.run([AISEC, "scan", "--format", "json"] + paths + real,
                         capture_output=True, text=True).stdout
    verdict = {f["path"]: f["verdict"] for f in json.loads(out)["observations"]["files"]}
    label = {os.path.join(base, p): l for p, l in rows}
    order = {"safe": 0, "unknown": 1, "suspicious": 2, "dangerous": 3}
    print(f"\n== policy: {len(rows)} peer files, {len(real)} benign files from the real tools")
    print(f"{'policy':<28} {'peer malicious missed':>22} {'peer benign alarms':>19} {'real benign alarms':>19}")
    for name, floor in [("deny list only", 3), ("default (unreviewed calls)", 2), ("--strict (any unknown)", 1)]:
        missed = sum(1 for p, l in label.items() if l == "malicious" and order[verdict.get(p, "safe")] < floor)
        alarms = sum(1 for p, l in label.items() if l == "benign" and order[verdict.get(p, "safe")] >= floor)
        real_alarms = [p for p in real if order[verdict.get(p, "safe")] >= floor]
        print(f"{name:<28} {missed:>22} {alarms:>19} {len(real_alarms):>19}  {' '.join(os.path.basename(p) for p in real_alarms)}")


def peer_answers(tool, base, rows):
    answers = {}
    start = time.time()
    for p, _ in rows:
        full = os.path.join(base, p)
        r = subprocess.run([tool, "-p", full], capture_output=True, text=True)
        code = r.returncode
        answers[p] = ({0: "pass", 1: "flag", 3: "error"}.get(code, "error"), "")
    return answers, time.time() - start


def table(name, rows, answers, secs):
    print(f"\n== {name} ({secs:.1f} s)")
    print(f"{'suite':<12} {'mal flagged':>11} {'failed closed':>13} {'missed':>7} | {'ben clean':>9} {'false alarm':>11} {'errors':>6}")
    for suite in sorted({p.split('/')[0] for p, _ in rows}):
        c = {k: 0 for k in ["mf", "me", "mm", "bc", "bf", "be"]}
        for p, label in rows:
            if p.split("/")[0] != suite:
                continue
            a = answers[p][0]
            key = ("m" if label == "malicious" else "b") + {"flag": "f", "error": "e", "pass": "m" if label == "malicious" else "c"}[a]
            c[key] += 1
        print(f"{suite:<12} {c['mf']:>11} {c['me']:>13} {c['mm']:>7} | {c['bc']:>9} {c['bf']:>11} {c['be']:>6}")
    for p, label in rows:
        a, why = answers[p]
        if label == "malicious" and a == "error":
            print(f"  MAL error   {p}  ({why})")
        if label == "malicious" and a == "pass":
            print(f"  MISS        {p}  ({why})")
        elif label == "benign" and a != "pass":
            print(f"  BENIGN {a:<5} {p}  ({why})")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    base = args[0] if args else os.path.join(ROOT, "..", "shared", "scan-peers")
    rows = load_labels(base)
    strict = "--strict" in sys.argv
    answers, secs = aisec_answers(base, rows, strict)
    table("aisec" + (" --strict" if strict else ""), rows, answers, secs)
    benign_dirs = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--benign=")]
    if benign_dirs:
        policy_table(base, rows, benign_dirs)
    if "--peers" in sys.argv:
        for tool in ["picklescan", "modelscan"]:
            if shutil.which(tool):
                a, s = peer_answers(tool, base, rows)
                table(tool, rows, a, s)
            else:
                print(f"\n{tool}: not installed (bench/scan_peers.sh installs it in a venv)")


if __name__ == "__main__":
    main()
