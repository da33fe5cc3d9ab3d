#!/usr/bin/env bash
# Seeds both fuzz targets from the labelled corpus (the 100 MB sample is left out).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
cargo run --release -q -p aisec-scan --example write_corpus -- "$tmp"
mkdir -p fuzz/corpus/scan_any fuzz/corpus/pickle_machine
for f in "$tmp"/*; do
  case "$(basename "$f")" in payload-after-100mb.pkl|labels.tsv) continue ;; esac
  cp "$f" fuzz/corpus/scan_any/
  case "$f" in *.pkl) cp "$f" fuzz/corpus/pickle_machine/ ;; esac
done
rm -rf "$tmp"
