#!/usr/bin/env bash
# Builds aisec and runs the ART extraction side-by-side in a throwaway venv outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/aisec-art-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch adversarial-robustness-toolbox scikit-learn numpy safetensors packaging tqdm
cargo build --release -q
"$VENV/bin/python" bench/art_extraction.py
