#!/usr/bin/env bash
# Ordinary tasks for the guard (crates/llm/src/guard/task_corpus.rs): the sample files of
# OpenAI's evals registry as the `evals` 3.0.1.post1 wheel (MIT) ships them, downloaded by pip
# without dependencies and only unzipped (never installed or imported), checked against its
# pinned sha256. Only `evals/registry/data/**/*.jsonl` files of at most 5 MB are kept (the
# guard reads at most 20 messages per eval; the few larger files are bulk data). Prints the
# registry's data folder; `aisec llm guard task-corpus DIR --out OUT` turns it into
# task-train.csv, task-validation.csv and task-test.csv.
#
# Cached under $AISEC_TASK_CACHE (default ~/.cache/aisec/task-corpus), outside the repository.
# Safe to run many times at once and after a killed run (scripts/lib/cache.sh).
set -euo pipefail
source "$(dirname "$0")/lib/cache.sh"

CACHE=${AISEC_TASK_CACHE:-$HOME/.cache/aisec/task-corpus}
WHEEL=evals-3.0.1.post1-py3-none-any.whl
SHA256=0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78
DIR="$CACHE/data"
PYTHON=${PYTHON:-python3}

cache_lock "$CACHE"
if [[ "$(cat "$DIR/.aisec-sha256" 2>/dev/null)" != "$SHA256" ]]; then
    echo "fetching evals 3.0.1.post1 with pip (not installed; its registry's sample files unzipped)" >&2
    cache_tmp "$CACHE"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        evals==3.0.1.post1 -d "$FETCH_TMP/wheel" >&2
    echo "$SHA256  $FETCH_TMP/wheel/$WHEEL" | sha256sum --check --status \
        || { echo "error: $WHEEL does not match its pinned sha256" >&2; exit 1; }
    "$PYTHON" - "$FETCH_TMP/wheel/$WHEEL" "$FETCH_TMP/data" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
prefix = "evals/registry/data/"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not (name.startswith(prefix) and name.endswith(".jsonl")) or info.file_size > 5_000_000:
            continue
        rel = os.path.normpath(name[len(prefix):])
        if rel.startswith("..") or os.path.isabs(rel):
            sys.exit(f"error: {name}: a path outside the data folder")
        os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
        with z.open(info) as src, open(os.path.join(out, rel), "wb") as dst:
            dst.write(src.read())
PY
    [[ -f "$FETCH_TMP/data/banking77/samples.jsonl" ]] \
        || { echo "error: $WHEEL has no registry/data/banking77/samples.jsonl" >&2; exit 1; }
    echo "$SHA256" > "$FETCH_TMP/data/.aisec-sha256"
    replace_into_place "$FETCH_TMP/data" "$DIR"
fi
echo "$DIR"
