#!/usr/bin/env bash
# The refusal detector against garak's on PyRIT's labelled refusal data (bench/llm_refusal.py).
# garak and the PyRIT wheel go into a throwaway venv under /tmp; nothing is installed from
# PyRIT (its wheel is only downloaded and read as a zip).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${GARAK_VENV:-/tmp/garak-venv}
ensure_venv "$VENV" garak==0.17.1
mkdir -p /tmp/pyrit-wheel
"$VENV/bin/pip" download --quiet --no-deps --only-binary=:all: pyrit==1.1.0 -d /tmp/pyrit-wheel
cargo build --release --locked -p aisec
"$VENV/bin/python" bench/llm_refusal.py /tmp/pyrit-wheel/pyrit-1.1.0-py3-none-any.whl target/release/aisec
