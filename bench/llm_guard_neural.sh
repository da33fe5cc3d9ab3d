#!/usr/bin/env bash
# Neural detectors on the same frozen all-MiniLM-L6-v2 embeddings (computed by aisec): the
# jailguard crate's MLP (weights read from the crate's own source package, fetched from
# crates.io into /tmp, never vendored) beside aisec's logistic-regression head and its lexical
# guard, on the S-Labs and neuralchemy validation splits.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p aisec
encoder="$(AISEC_BIN=target/release/aisec scripts/fetch-minilm.sh)"
JG=/tmp/jailguard-0.1.2
if [[ ! -f "$JG/models/neural_binary_200k.json" ]]; then
    mkdir -p /tmp && curl -sSfL https://static.crates.io/crates/jailguard/jailguard-0.1.2.crate | tar xz -C /tmp
fi
cargo run --release --locked -p aisec-llm --example jailguard_baseline -- \
    "$JG/models/neural_binary_200k.json" "$encoder" "${AISEC_LLM_DATA:-../shared/llm-data}"
