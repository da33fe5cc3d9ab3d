#!/usr/bin/env bash
# `aisec scan` of a generated folder of 10,000 model files (pickles of scikit-learn-like
# estimator state, NumPy arrays, dicts of tensors' metadata; a few malicious ones) beside
# picklescan's scan of the same folder: files per second and MB/s, each tool at its defaults
# (aisec uses every core; picklescan one process), and whether both flag the same files.
# Not CI.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${PICKLESCAN_VENV:-/tmp/picklescan-venv}
ensure_venv "$VENV" picklescan==1.0.5 numpy
cargo build --release --locked -p aisec
DIR=${DIR:-/tmp/aisec-10k}
N=${N:-10000}
if [[ "$(find "$DIR" -type f 2>/dev/null | wc -l)" != "$N" ]]; then
    rm -rf "$DIR" && mkdir -p "$DIR"
    "$VENV/bin/python" - "$DIR" "$N" <<'PY'
import os, pickle, sys
import numpy as np
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
for i in range(n):
    sub = f"{out}/{i // 1000:02d}"
    os.makedirs(sub, exist_ok=True)
    if i % 500 == 7:
        obj = {"weights": rng.standard_normal(16), "hook": Evil()}
    elif i % 3 == 0:
        obj = {"coef_": rng.standard_normal((8, 16)), "intercept_": rng.standard_normal(8), "classes_": np.arange(8)}
    elif i % 3 == 1:
        obj = [rng.integers(0, 255, 64, dtype=np.uint8), {"epoch": i, "lr": 0.01}]
    else:
        obj = {f"layer{j}.weight": rng.standard_normal((4, 4)).astype(np.float32) for j in range(20)}
    with open(f"{sub}/model{i}.pkl", "wb") as f:
        pickle.dump(obj, f, protocol=4)
PY
fi
mb=$(du -sm "$DIR" | cut -f1)
# Wall seconds of one command, its output kept in /tmp/aisec-10k.out.
t() {
    python3 -c 'import subprocess, sys, time
s = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=open("/tmp/aisec-10k.out", "w"), stderr=subprocess.STDOUT)
print(time.perf_counter() - s)' "$@"
}
a=$(t target/release/aisec scan "$DIR")
aisec_flagged=$(grep -c '^DANGEROUS' /tmp/aisec-10k.out || true)
tail -1 /tmp/aisec-10k.out
p=$(t "$VENV/bin/picklescan" -p "$DIR")
tail -4 /tmp/aisec-10k.out
python3 - "$N" "$mb" "$a" "$p" "$aisec_flagged" "$(nproc)" <<'PY'
import sys
n, mb, a, p, flagged, cores = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
print(f"| tool | seconds | files/s | MB/s |\n|---|---|---|---|")
print(f"| aisec scan ({cores} cores) | {a:.2f} | {n / a:.0f} | {mb / a:.1f} |")
print(f"| picklescan 1.0.5 | {p:.2f} | {n / p:.0f} | {mb / p:.1f} |")
print(f"aisec flagged {flagged} files as dangerous; {n // 500} were written malicious")
PY
