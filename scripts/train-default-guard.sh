#!/usr/bin/env bash
# Retrains the guard that ships inside the binary (crates/llm/guard/default/) from the S-Labs
# and neuralchemy training splits in ../shared/llm-data (or $AISEC_LLM_DATA), choosing the
# threshold on their validation splits. Training is deterministic: the same data gives the
# same bytes. Rebuild afterwards (`cargo build --release`) so the binary carries the new guard.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${AISEC_LLM_DATA:-$here/../shared/llm-data}"
bin="${AISEC_BIN:-$here/target/release/aisec}"
[ -x "$bin" ] || (cd "$here" && cargo build --release -p aisec)
cd "$data"
"$bin" llm guard train \
  --data s-labs/train.csv neuralchemy/core-train.parquet \
  --validation s-labs/validation.csv neuralchemy/core-validation.parquet \
  --out "$here/crates/llm/guard/default"
