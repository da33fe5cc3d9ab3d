#!/usr/bin/env bash
# The shipped guard beside scikit-learn's TF-IDF + logistic regression, trained on the same
# training splits (S-Labs + neuralchemy core) with the same threshold rule (the one that
# maximises F1 on the two validation splits pooled): F1, precision, recall, FPR, AUC, the
# false-positive rate on neuralchemy's hard negatives (its edge_case rows) and latency per
# prompt, and how much ordinary traffic each flags (with and without chatterbot-corpus and the
# evals registry's tasks in the training rows). scikit-learn goes into a throwaway venv under /tmp.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/cache.sh"
cd "$(dirname "$0")/.."
VENV=${GUARD_VENV:-/tmp/guard-venv}
ensure_venv "$VENV" scikit-learn==1.7.2 pandas pyarrow
cargo build --release --locked -p aisec
# prompt-guardrail loads two scikit-learn pickles at import: scan them before anything loads
# them, and install it only when the scan passes.
mkdir -p /tmp/prompt-guardrail && rm -rf /tmp/prompt-guardrail/x
"$VENV/bin/pip" download --quiet --no-deps --only-binary=:all: prompt-guardrail==1.0.1 -d /tmp/prompt-guardrail
(cd /tmp/prompt-guardrail && mkdir x && cd x && python3 -m zipfile -e ../prompt_guardrail-1.0.1-py3-none-any.whl .)
target/release/aisec scan /tmp/prompt-guardrail/x/guardify/models/
"$VENV/bin/pip" install --quiet --no-deps /tmp/prompt-guardrail/prompt_guardrail-1.0.1-py3-none-any.whl joblib
# The ordinary chat and tasks the shipped guard also learns, split as they were.
corpus=$(scripts/fetch-chat-corpus.sh)
target/release/aisec llm guard chat-corpus "$corpus" --out /tmp/aisec-chat-splits > /dev/null
tasks=$(scripts/fetch-task-corpus.sh)
target/release/aisec llm guard task-corpus "$tasks" --out /tmp/aisec-chat-splits > /dev/null
"$VENV/bin/python" bench/llm_guard.py "${AISEC_LLM_DATA:-../shared/llm-data}" target/release/aisec /tmp/aisec-chat-splits
