#!/usr/bin/env bash
# The scanner's throughput goal in one run: Python's pickletools walk of the dense 31 MB
# protocol-2 pickle, then aisec's criterion bench on the same bytes (the bench checks that its
# generator writes exactly what Python wrote), then the ratio. Not CI.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${FILE:-/tmp/aisec-dense.pkl}
py=$(python3 bench/pickletools_walk.py "$FILE")
echo "$py"
python_s=$(echo "$py" | sed -E 's/.*best of 3: ([0-9.]+) s.*/\1/')
AISEC_DENSE_PICKLE="$FILE" cargo bench -q -p aisec-scan --bench scan -- pickle_dense 2>&1 | tee /tmp/aisec-scan-speed.txt | grep -E "time:|thrpt:"
aisec_ms=$(grep -m1 "time:" /tmp/aisec-scan-speed.txt | sed -E 's/.*\[[0-9.]+ m?s ([0-9.]+) (m?s).*/\1 \2/')
python3 - "$python_s" $aisec_ms "$FILE" <<'PY'
import os, sys
python_s, value, unit, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
aisec_s = value / 1000 if unit == "ms" else value
mb = os.path.getsize(path) / 1e6
print(f"aisec {mb / aisec_s:.0f} MB/s, pickletools {mb / python_s:.1f} MB/s: {python_s / aisec_s:.1f}x")
PY
