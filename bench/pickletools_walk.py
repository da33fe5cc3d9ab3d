"""Writes the dense pickle the scanner's criterion bench uses and times Python's own opcode
walk of it (pickletools.genops), the baseline the issue measures aisec against.

    python3 bench/pickletools_walk.py [/tmp/dense.pkl]
    AISEC_DENSE_PICKLE=/tmp/dense.pkl cargo bench -p aisec-scan --bench scan -- dense
"""

import pickle
import pickletools
import sys
import time

path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/dense.pkl"
data = [(i, i * 0.5, "s%d" % (i % 1000), [i, i + 1]) for i in range(600_000)]
blob = pickle.dumps(data, protocol=2)
with open(path, "wb") as f:
    f.write(blob)
best = None
for _ in range(3):
    start = time.perf_counter()
    n = sum(1 for _ in pickletools.genops(blob))
    t = time.perf_counter() - start
    best = t if best is None else min(best, t)
print(f"{path}: {len(blob) / 1e6:.2f} MB, {n} opcodes; pickletools.genops best of 3: "
      f"{best:.2f} s = {len(blob) / best / 1e6:.1f} MB/s")
