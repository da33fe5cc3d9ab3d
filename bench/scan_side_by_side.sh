#!/usr/bin/env bash
# aisec scan next to picklescan, modelscan and fickling on the labelled corpus (not CI).
# The peers are installed into a throwaway venv outside the repository.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/aisec-scan-venv}
CORPUS=${CORPUS:-/tmp/aisec-scan-corpus}
ensure_venv "$VENV" picklescan modelscan fickling typing_extensions
cargo build --release -q
rm -rf "$CORPUS"
cargo run --release -q -p aisec-scan --example write_corpus -- "$CORPUS"
PATH="$VENV/bin:$PATH" "$VENV/bin/python" bench/scan_side_by_side.py "$CORPUS"
