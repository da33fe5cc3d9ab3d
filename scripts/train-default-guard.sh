#!/usr/bin/env bash
# Retrains the guard that ships inside the binary (crates/llm/guard/default/) from the S-Labs
# and neuralchemy training splits in ../shared/llm-data (or $AISEC_LLM_DATA), choosing the
# thresholds on their validation splits: the lexical model and the neural head on
# all-MiniLM-L6-v2 embeddings (the encoder fetched by scripts/fetch-minilm.sh). Training is deterministic: the same data gives the
# same bytes. Rebuild afterwards (`cargo build --release`) so the binary carries the new guard.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${AISEC_LLM_DATA:-$here/../shared/llm-data}"
bin="${AISEC_BIN:-$here/target/release/aisec}"
[ -x "$bin" ] || (cd "$here" && cargo build --release -p aisec)
encoder="$(AISEC_BIN="$bin" "$here/scripts/fetch-minilm.sh")"
cd "$data"
"$bin" llm guard train \
  --data s-labs/train.csv neuralchemy/core-train.parquet \
  --validation s-labs/validation.csv neuralchemy/core-validation.parquet \
  --encoder "$encoder" \
  --out "$here/crates/llm/guard/default"
