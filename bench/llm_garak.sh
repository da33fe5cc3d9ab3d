#!/usr/bin/env bash
# garak beside aisec against the same llama.cpp server (bench/llm_garak.py). garak goes into a
# throwaway venv under /tmp; the server is the real-model tier's (scripts/llm-server.sh).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${GARAK_VENV:-/tmp/garak-venv}
ensure_venv "$VENV" garak==0.17.1
cargo build --release --locked -p aisec
URL=$(AISEC_BIN=target/release/aisec scripts/llm-server.sh start 18090)
trap 'scripts/llm-server.sh stop' EXIT
"$VENV/bin/python" bench/llm_garak.py "$URL" target/release/aisec /tmp/aisec-garak-bench
