"""aisec's pickle allowlist side by side with the one `torch.load(weights_only=True)` enforces
(torch._weights_only_unpickler._get_allowed_globals() of the installed torch):

1. every global torch's weights-only unpickler accepts, called in a pickle (`GLOBAL` then
   `REDUCE`), must scan clean with aisec — a miss here is a false alarm on a file torch itself
   calls safe;
2. every `torch.*` name aisec allows (exact entries and families, read from
   crates/scan/src/policy/allow.rs) that torch's list does not hold is listed with aisec's
   reason, for review: aisec allows more than weights_only where real files need it (whole
   modules of torch layers, scikit-learn, NumPy), never a name on its deny list.

    /tmp/benchvenv/bin/python bench/torch_weights_only_diff.py AISEC_BINARY
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import torch
import torch._weights_only_unpickler as wo

aisec = sys.argv[1] if len(sys.argv) > 1 else "target/release/aisec"
allowed = sorted(wo._get_allowed_globals())
out = tempfile.mkdtemp(prefix="aisec-weights-only-")
for name in allowed:
    module, _, attr = name.rpartition(".")
    # Protocol 0: GLOBAL module\nname\n, an empty argument tuple, REDUCE, STOP.
    with open(os.path.join(out, name + ".pkl"), "wb") as f:
        f.write(f"c{module}\n{attr}\n(tR.".encode())
run = subprocess.run([aisec, "scan", out, "--format", "json"], capture_output=True, text=True)
files = json.loads(run.stdout)["observations"]["files"]
flagged = []
for f in files:
    verdict = "error" if f["errors"] else f["verdict"]
    if verdict != "safe":
        flagged.append((os.path.basename(f["path"])[:-4], verdict,
                        "; ".join(x["message"] for x in f["findings"])[:160]))
print(f"torch {torch.__version__}: weights_only allows {len(allowed)} globals; "
      f"aisec scans {len(allowed) - len(flagged)} of their calls clean, flags {len(flagged)}")
for name, verdict, why in flagged:
    print(f"  flagged: {name}: {verdict}: {why}")

src = open(os.path.join(os.path.dirname(__file__), "..", "crates/scan/src/policy/allow.rs")).read()
exact = re.findall(r'\(\s*"([\w.]+)",\s*"([\w.]*)",\s*"((?:[^"\\]|\\.)*)",?\s*\)', src)
torch_only = [(m, n, why) for m, n, why in exact if m.split(".")[0] == "torch"]
extra = [(f"{m}.{n}" if n else f"{m}.*", why) for m, n, why in torch_only if f"{m}.{n}" not in allowed]
print(f"\naisec allows {len(torch_only)} torch entries (exact names and families); "
      f"{len(extra)} are not on weights_only's list:")
for name, why in extra:
    print(f"  {name}: {why[:110]}")
