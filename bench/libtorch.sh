#!/usr/bin/env bash
# Builds aisec with burn's LibTorch backend (`--features aisec/libtorch`) against PyTorch 2.9.0's
# libtorch in a throwaway venv outside the repository, and runs the ART speed bench with
# `--device libtorch`:
#
#   bash bench/libtorch.sh                 # bench/art_speed.py through the LibTorch build
#   bash bench/libtorch.sh -- ARGS...      # the LibTorch build itself, e.g. -- --help
#
# tch 0.22 (burn 0.22's LibTorch binding) requires exactly libtorch 2.9.0. PyPI's torch wheel is
# linked against CUDA, so its nvidia/*/lib folders go on LD_LIBRARY_PATH with torch/lib.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
TCH_VENV=${TCH_VENV:-/tmp/tch-venv}
TARGET=${TCH_TARGET:-/tmp/tch-target}
ensure_venv "$TCH_VENV" torch==2.9.0
PATH="$TCH_VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1 CARGO_TARGET_DIR="$TARGET" \
    cargo build --release -q --features aisec/libtorch
site=$("$TCH_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
wrapper="$TARGET/aisec-libtorch"
{
    echo '#!/bin/sh'
    printf 'LD_LIBRARY_PATH=%s/torch/lib' "$site"
    for lib in "$site"/nvidia/*/lib; do printf ':%s' "$lib"; done
    echo ' exec '"$TARGET"'/release/aisec "$@"'
} > "$wrapper"
chmod +x "$wrapper"
if [ "${1:-}" = "--" ]; then
    shift
    exec "$wrapper" "$@"
fi
AISEC_BIN="$wrapper" AISEC_DEVICE=libtorch bash bench/art.sh speed
