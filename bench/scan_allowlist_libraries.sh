#!/usr/bin/env bash
# The allowlist against whole libraries: every scikit-learn estimator, every torchvision model
# (state dict and whole module), every torch dtype and layout, the common hyperparameter
# containers — written by the real libraries in a throwaway venv, each scanned by aisec.
# Prints a table (written, clean, flagged) and every file that is not clean. Not CI: torch
# and torchvision are gigabytes, and the run takes about 15 minutes on 2 cores.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${ALLOWLIST_VENV:-/tmp/benchvenv}
ensure_venv "$VENV" torch torchvision scikit-learn joblib
cargo build --release --locked -p aisec
out=$(mktemp -d /tmp/aisec-allowlist.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/python" bench/scan_allowlist_libraries.py "$out" target/release/aisec
