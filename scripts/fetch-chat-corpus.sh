#!/usr/bin/env bash
# Ordinary chat for the guard (crates/llm/src/guard/chat_corpus.rs): the chatterbot-corpus
# 1.3.3 wheel (BSD-3-Clause) downloaded by pip without dependencies and only unzipped (never
# installed or imported), checked against its pinned sha256. Prints the corpus's data folder
# (one folder per language of YAML conversations); `aisec llm guard chat-corpus DIR --out OUT`
# turns it into chat-train.csv, chat-validation.csv and chat-test.csv.
#
# Cached under $AISEC_CHAT_CACHE (default ~/.cache/aisec/chat-corpus), outside the repository.
# Safe to run many times at once and after a killed run (scripts/lib/cache.sh).
set -euo pipefail
source "$(dirname "$0")/lib/cache.sh"

CACHE=${AISEC_CHAT_CACHE:-$HOME/.cache/aisec/chat-corpus}
WHEEL=chatterbot_corpus-1.3.3-py2.py3-none-any.whl
SHA256=86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154
DIR="$CACHE/corpus"
PYTHON=${PYTHON:-python3}

cache_lock "$CACHE"
if [[ "$(cat "$DIR/.aisec-sha256" 2>/dev/null)" != "$SHA256" ]]; then
    echo "fetching chatterbot-corpus 1.3.3 with pip (not installed; data files unzipped)" >&2
    cache_tmp "$CACHE"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        chatterbot-corpus==1.3.3 -d "$FETCH_TMP/wheel" >&2
    echo "$SHA256  $FETCH_TMP/wheel/$WHEEL" | sha256sum --check --status \
        || { echo "error: $WHEEL does not match its pinned sha256" >&2; exit 1; }
    "$PYTHON" -m zipfile -e "$FETCH_TMP/wheel/$WHEEL" "$FETCH_TMP/unpacked"
    [[ -f "$FETCH_TMP/unpacked/chatterbot_corpus/data/english/greetings.yml" ]] \
        || { echo "error: $WHEEL has no data/english/greetings.yml" >&2; exit 1; }
    echo "$SHA256" > "$FETCH_TMP/unpacked/chatterbot_corpus/data/.aisec-sha256"
    replace_into_place "$FETCH_TMP/unpacked/chatterbot_corpus/data" "$DIR"
fi
echo "$DIR"
