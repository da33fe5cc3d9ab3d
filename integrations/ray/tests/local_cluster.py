"""The driver on a real local Ray cluster (a head node on 127.0.0.1 that
`run-local-cluster-test.sh` starts): a sharded scan of a generated registry of a few thousand
files with one worker killed mid-run, and a sharded shadow-model job, each merged report
checked against the single-process one. Prints one JSON line of measurements (for
docs/scale.md). Needs AISEC_BIN and a running cluster (RAY_ADDRESS).
"""

import io
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aisec_ray import driver  # noqa: E402

AISEC = os.environ["AISEC_BIN"]
FILES = int(os.environ.get("AISEC_RAY_TEST_FILES", "3000"))


class Payload:
    """Pickles as `os.system("echo pwned")` when loaded (never loaded here)."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def registry(root: Path, files: int) -> int:
    """Real pickles and zips made by Python's own pickle and zipfile modules, in org/model
    folders; returns the bytes written."""
    rng = random.Random(7)
    total = 0
    for i in range(files):
        d = root / f"org{i % 11}" / f"model{i % 97}"
        d.mkdir(parents=True, exist_ok=True)
        kind = i % 10
        if kind == 0:
            p, data = d / f"f{i}.pkl", pickle.dumps(Payload(), protocol=rng.randint(0, 5))
        elif kind == 1:
            b = io.BytesIO()
            with zipfile.ZipFile(b, "w") as z:
                z.writestr("archive/data.pkl", pickle.dumps({"w": [0.5] * rng.randint(1, 400)}, protocol=2))
            p, data = d / f"f{i}.pt", b.getvalue()
        elif kind == 2:
            p, data = d / f"README{i}.md", b"# a model card\n"
        else:
            obj = {"layer": list(range(rng.randint(1, 4000))), "name": f"m{i}"}
            p, data = d / f"w{i}.pkl", pickle.dumps(obj, protocol=rng.randint(0, 5))
        p.write_bytes(data)
        total += len(data)
    return total


def timeless(v):
    if isinstance(v, dict):
        return {k: timeless(x) for k, x in v.items() if k not in ("seconds", "wall_seconds", "attack_seconds")}
    if isinstance(v, list):
        return [timeless(x) for x in v]
    return v


def aisec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AISEC, *args], capture_output=True, text=True)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="aisec-ray-"))
    measured = {}

    # --- A sharded scan with a worker killed mid-run ---
    corpus = tmp / "registry"
    corpus_bytes = registry(corpus, FILES)
    t = time.time()
    single = aisec("scan", str(corpus), "--format", "json", "--out", str(tmp / "single.json"))
    measured["scan_single_seconds"] = time.time() - t
    assert single.returncode == 1, single.stderr
    aisec("scan", str(corpus), "--format", "sarif", "--out", str(tmp / "single.sarif"))
    os.environ[driver.KILL_ENV] = "3"
    t = time.time()
    code = driver.main(["scan", str(corpus), "--shards", "6", "--work", str(tmp / "scan-work"),
                        "--out", str(tmp / "scan-merged"), "--aisec", AISEC, "--max-retries", "2"])
    measured["scan_ray_seconds"] = time.time() - t
    del os.environ[driver.KILL_ENV]
    assert code == 1, f"the merged scan's exit code is the scan's (findings): {code}"
    summary = json.loads((tmp / "scan-merged" / "ray-summary.json").read_text())
    assert summary["retried"] == [3], f"the killed shard ran again: {summary}"
    assert summary["attempts"]["3"] == 2, summary
    attempts = (tmp / "scan-work" / ".attempts" / "shard-3").read_text()
    assert "killed mid-run" in attempts, attempts
    merged = json.loads((tmp / "scan-merged" / "report.json").read_text())
    assert timeless(merged) == timeless(json.loads((tmp / "single.json").read_text())), \
        "the merged scan report is the single-process one"
    assert (tmp / "scan-merged" / "report.sarif").read_bytes() == (tmp / "single.sarif").read_bytes()
    dangerous = merged["observations"]["dangerous"]
    assert dangerous == FILES // 10, f"every payload found once: {dangerous}"
    shard_seconds = summary["shard_seconds"]
    measured.update({
        "files": FILES + 0, "bytes": corpus_bytes,
        "scan_shard_seconds": shard_seconds,
        "scan_files_per_second_single": FILES / measured["scan_single_seconds"],
    })

    # --- Shadow models of LiRA trained in shards ---
    attack = ["--dataset", "purchase-synthetic", "--attack", "lira", "--shadows", "8",
              "--epochs", "6", "--seed", "5"]
    t = time.time()
    single = aisec("attack", "membership", *attack, "--format", "json")
    measured["lira_single_seconds"] = time.time() - t
    assert single.returncode == 0, single.stderr
    t = time.time()
    code = driver.main(["membership", "--shards", "4", "--work", str(tmp / "shadows"),
                        "--out", str(tmp / "lira-merged"), "--aisec", AISEC, "--", *attack])
    measured["lira_ray_seconds"] = time.time() - t
    assert code == 0, code
    merged = json.loads((tmp / "lira-merged" / "report.json").read_text())
    assert timeless(merged) == timeless(json.loads(single.stdout)), \
        "LiRA on shadows trained in shards is LiRA in one process"
    assert merged["metrics"]["auc"] > 0.5, merged["metrics"]
    summary = json.loads((tmp / "lira-merged" / "ray-summary.json").read_text())
    measured["lira_shard_seconds"] = summary["shard_seconds"]
    print("RAY-MEASURED " + json.dumps(measured), flush=True)
    print("local Ray cluster: sharded scan (a worker killed and retried) and sharded shadow "
          "training both merged into the single-process reports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
