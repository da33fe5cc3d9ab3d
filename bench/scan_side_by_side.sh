#!/usr/bin/env bash
# aisec scan next to picklescan, modelscan and fickling on the labelled corpus (not CI).
# The peers are installed into a throwaway venv outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/aisec-scan-venv}
CORPUS=${CORPUS:-/tmp/aisec-scan-corpus}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q picklescan modelscan fickling typing_extensions
cargo build --release -q
rm -rf "$CORPUS"
cargo run --release -q -p aisec-scan --example write_corpus -- "$CORPUS"
PATH="$VENV/bin:$PATH" "$VENV/bin/python" bench/scan_side_by_side.py "$CORPUS"
