#!/usr/bin/env bash
# Retrains the guard that ships inside the binary (crates/llm/guard/default/):
#   - the lexical model (guard.json, lexical.bin) from the S-Labs and neuralchemy training
#     splits in ../shared/llm-data (or $AISEC_LLM_DATA), the ordinary chat of
#     chatterbot-corpus (scripts/fetch-chat-corpus.sh) and the ordinary tasks of the evals
#     registry (scripts/fetch-task-corpus.sh), its threshold chosen on the four validation
#     splits pooled, with C = 4 and min_df = 2;
#   - the neural head (neural.json) on all-MiniLM-L6-v2 embeddings (the encoder fetched by
#     scripts/fetch-minilm.sh) from the two injection datasets alone.
# Training is deterministic: the same data gives the same bytes. Rebuild afterwards
# (`cargo build --release`) so the binary carries the new guard.
#   scripts/train-default-guard.sh [--lexical-only]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${AISEC_LLM_DATA:-$here/../shared/llm-data}"
bin="${AISEC_BIN:-$here/target/release/aisec}"
out="$here/crates/llm/guard/default"
[ -x "$bin" ] || (cd "$here" && cargo build --release -p aisec)
corpus="$("$here/scripts/fetch-chat-corpus.sh")"
tasks="$("$here/scripts/fetch-task-corpus.sh")"
# The guard records its files as given: run where they have short relative names.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$(realpath "$data/s-labs")" "$work/s-labs"
ln -s "$(realpath "$data/neuralchemy")" "$work/neuralchemy"
"$bin" llm guard chat-corpus "$corpus" --out "$work/chatterbot-corpus" >&2
"$bin" llm guard task-corpus "$tasks" --out "$work/evals-registry" >&2
cd "$work"
"$bin" llm guard train --c 4 --min-df 2 \
  --data s-labs/train.csv neuralchemy/core-train.parquet chatterbot-corpus/chat-train.csv \
    evals-registry/task-train.csv \
  --validation s-labs/validation.csv neuralchemy/core-validation.parquet \
    chatterbot-corpus/chat-validation.csv evals-registry/task-validation.csv \
  --out "$out"
[[ "${1:-}" == --lexical-only ]] && exit 0
encoder="$(AISEC_BIN="$bin" "$here/scripts/fetch-minilm.sh")"
neural="$work/neural"
"$bin" llm guard train \
  --data s-labs/train.csv neuralchemy/core-train.parquet \
  --validation s-labs/validation.csv neuralchemy/core-validation.parquet \
  --encoder "$encoder" --out "$neural"
cp "$neural/neural.json" "$out/neural.json"
