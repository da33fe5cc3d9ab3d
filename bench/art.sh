#!/usr/bin/env bash
# Builds aisec and runs one ART side-by-side script (bench/art_<NAME>.py) in a throwaway venv
# outside the repository: `bench/art.sh side_by_side` (evasion), `bench/art.sh extraction` or
# `bench/art.sh membership`, or `bench/art.sh speed` (issue 18).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
name=${1:?usage: bench/art.sh side_by_side|speed|extraction|membership}
[ -f "bench/art_${name}.py" ] || { echo "no bench/art_${name}.py" >&2; exit 2; }
VENV=${VENV:-/tmp/aisec-art-venv}
ensure_venv "$VENV" torch torchvision adversarial-robustness-toolbox scikit-learn numpy safetensors packaging tqdm onnx onnxruntime
cargo build --release -q
"$VENV/bin/python" "bench/art_${name}.py"
