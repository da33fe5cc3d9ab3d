#!/usr/bin/env bash
# aisec scan on picklescan's and modelscan's own test suites (../shared/scan-peers) next to
# picklescan and modelscan themselves, plus benign files written by the real tools (torch,
# scikit-learn, joblib, NumPy, safetensors, Keras 3, py7zr, zstandard) under three policies.
# Not CI: the peers and the tools are installed into a throwaway venv outside the repository.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/aisec-scan-peers-venv}
REAL=${REAL:-/tmp/aisec-real-artifacts}
ensure_venv "$VENV" picklescan modelscan torch numpy scikit-learn joblib safetensors keras py7zr zstandard
cargo build --release -q -p aisec
rm -rf "$REAL"
"$VENV/bin/python" bench/make_real_artifacts.py "$REAL"
"$VENV/bin/python" bench/make_legacy_tar.py "$REAL/legacy_tar.pt"
PATH="$VENV/bin:$PATH" python3 bench/scan_peers.py --peers --benign="$REAL" "${PEERS:-../shared/scan-peers}"
