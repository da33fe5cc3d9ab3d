"""aisec scan next to picklescan, modelscan and fickling, file by file, on the corpus that
`crates/scan/examples/write_corpus.rs` writes (labels.tsv says what each file is and what a
correct scanner answers). No file is ever loaded with Python's pickle.

Each tool's answer per file: "flag" (it reports a dangerous/unsafe finding or fails the
file), "pass" (it says nothing is wrong) or "error" (it gave up, which a CI gate may or may not
treat as failure). A dangerous file that a tool passes is a miss; a safe file it flags is a
false alarm. Prints the table, the totals and each tool's wall time.
"""

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AISEC = os.path.join(ROOT, "target/release/aisec")


def run(cmd, cwd=None):
    start = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    return p.returncode, p.stdout + p.stderr, time.time() - start


def aisec(path):
    code, _, t = run([AISEC, "scan", path])
    return {0: "pass", 1: "flag"}.get(code, "error"), t


def picklescan(path):
    # picklescan: 0 clean, 1 dangerous globals found, 2 scan error.
    code, _, t = run(["picklescan", "-p", path])
    return {0: "pass", 1: "flag"}.get(code, "error"), t


def modelscan(path):
    # modelscan: 0 no issues, 1 issues, 2 error, 3 no supported files (a skip).
    code, _, t = run(["modelscan", "-p", path])
    return {0: "pass", 1: "flag", 3: "skip"}.get(code, "error"), t


def fickling(path):
    # fickling --check-safety: 0 likely safe, non-zero unsafe; a traceback is an error.
    # fickling writes safety_results.json into its working directory: keep it out of the repo.
    with tempfile.TemporaryDirectory() as scratch:
        code, out, t = run(["fickling", "--check-safety", os.path.abspath(path)], cwd=scratch)
    if "Traceback (most recent call last)" in out:
        return "error", t
    return ("pass" if code == 0 else "flag"), t


def main():
    corpus = sys.argv[1]
    rows = []
    with open(os.path.join(corpus, "labels.tsv")) as f:
        next(f)
        for line in f:
            name, expected, what = line.rstrip("\n").split("\t")
            rows.append((name, expected, what))
    tools = [("aisec", aisec), ("picklescan", picklescan), ("modelscan", modelscan), ("fickling", fickling)]
    times = {t: 0.0 for t, _ in tools}
    misses = {t: 0 for t, _ in tools}
    false_alarms = {t: 0 for t, _ in tools}
    errors = {t: 0 for t, _ in tools}
    print(f"{'file':<28} {'expected':<10} " + " ".join(f"{t:<11}" for t, _ in tools))
    for name, expected, what in rows:
        path = os.path.join(corpus, name)
        answers = []
        for t, fn in tools:
            answer, secs = fn(path)
            times[t] += secs
            if answer == "error" or answer == "skip":
                errors[t] += 1
                if expected == "dangerous":
                    misses[t] += 1
            elif expected == "dangerous" and answer == "pass":
                misses[t] += 1
            elif expected == "safe" and answer == "flag":
                false_alarms[t] += 1
            answers.append(answer)
        print(f"{name:<28} {expected:<10} " + " ".join(f"{a:<11}" for a in answers))
    dangerous = sum(1 for r in rows if r[1] == "dangerous")
    print()
    print(f"{'tool':<11} {'missed (of ' + str(dangerous) + ')':>16} {'false alarms':>13} {'errors/skips':>13} {'wall s':>8}")
    for t, _ in tools:
        print(f"{t:<11} {misses[t]:>16} {false_alarms[t]:>13} {errors[t]:>13} {times[t]:>8.1f}")


if __name__ == "__main__":
    main()
