"""Writes each chat template into a GGUF file with llama.cpp's `gguf` writer, plus injection
payloads in disguises, scans them with aisec and prints what was flagged.

    python bench/gguf_templates.py TEMPLATE_DIR OUT_DIR AISEC_BINARY
"""
import glob
import json
import os
import subprocess
import sys

import gguf
import numpy as np

templates, out, aisec = sys.argv[1], sys.argv[2], sys.argv[3]
PAYLOADS = {
    "plain": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "concatenated": "{% for m in messages %}{{ m['content'] }}{% endfor %}"
                    "{{ ()['_' * 2 ~ 'class' ~ '_' * 2]['_' * 2 ~ 'base' ~ '_' * 2] }}",
    "joined": "{{ ()[['_','_','class','_','_']|join] }}",
    "escaped": "{{ ()['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "adjacent-literals": "{{ ()['_''_cla''ss_''_'] }}",
}


def write(path, template):
    w = gguf.GGUFWriter(path, "llama")
    w.add_chat_template(template)
    w.add_tensor("w", np.zeros(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


os.makedirs(f"{out}/real", exist_ok=True)
os.makedirs(f"{out}/payloads", exist_ok=True)
for p in sorted(glob.glob(f"{templates}/*.jinja")):
    write(f"{out}/real/{os.path.basename(p)[:-6]}.gguf", open(p, encoding="utf-8").read())
for name, t in PAYLOADS.items():
    write(f"{out}/payloads/{name}.gguf", t)
for kind in ("real", "payloads"):
    run = subprocess.run([aisec, "scan", f"{out}/{kind}", "--format", "json"], capture_output=True, text=True)
    files = json.loads(run.stdout)["observations"]["files"]
    flagged = [f for f in files if f["verdict"] != "safe" or f["errors"]]
    print(f"{kind}: {len(files)} files, {len(files) - len(flagged)} clean, {len(flagged)} flagged")
    for f in flagged:
        print(f"  {os.path.basename(f['path'])}: {f['verdict']}: " + "; ".join(x["message"][:100] for x in f["findings"])[:300])
