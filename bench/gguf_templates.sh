#!/usr/bin/env bash
# GGUF chat templates against the real ones: the 70 templates llama.cpp keeps in its sources
# (`models/templates/*.jinja`, inside the llama-cpp-python 0.3.36 sdist from PyPI, sha256
# pinned) are written into GGUF files with the `gguf` package (llama.cpp's own writer) and
# must scan clean; five template-injection payloads in different disguises must be flagged.
# Not CI: the sdist is 77 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cache.sh
VENV=${GGUF_VENV:-/tmp/aisec-gguf-venv}
CACHE=${AISEC_CACHE:-$HOME/.cache/aisec}/llama-cpp-python-0.3.36
SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
ensure_venv "$VENV" gguf numpy
if [[ ! -d "$CACHE/templates" ]]; then
    cache_lock "$(dirname "$CACHE")"
    cache_tmp "$(dirname "$CACHE")"
    "$VENV/bin/python" - "$FETCH_TMP/sdist.tar.gz" <<'PY'
import json, sys, urllib.parse, urllib.request
meta = "https://pypi.org/pypi/llama-cpp-python/json"
urls = json.load(urllib.request.urlopen(meta))["releases"]["0.3.36"]
url = urllib.parse.urljoin(meta, next(u["url"] for u in urls if u["packagetype"] == "sdist"))
urllib.request.urlretrieve(url, sys.argv[1])
PY
    echo "$SHA  $FETCH_TMP/sdist.tar.gz" | sha256sum -c --quiet
    mkdir -p "$FETCH_TMP/out/templates"
    tar xzf "$FETCH_TMP/sdist.tar.gz" -C "$FETCH_TMP" --wildcards '*/vendor/llama.cpp/models/templates/*.jinja'
    mv "$FETCH_TMP"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/templates/*.jinja "$FETCH_TMP/out/templates/"
    replace_into_place "$FETCH_TMP/out" "$CACHE"
fi
cargo build --release --locked -q -p aisec
out=$(mktemp -d /tmp/aisec-gguf.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/python" bench/gguf_templates.py "$CACHE/templates" "$out" target/release/aisec
