#!/usr/bin/env bash
# The Ray driver's test on a real local cluster: installs Ray (pinned) into a venv cached
# outside the repository (AISEC_TEST_CACHE, else ~/.cache/aisec-tests), starts a head node on
# 127.0.0.1 with its own temp folder, runs tests/local_cluster.py, and stops the node again
# whatever happens. Needs AISEC_BIN (the aisec binary) and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${AISEC_BIN:?set AISEC_BIN to the aisec binary}"
cache="${AISEC_TEST_CACHE:-$HOME/.cache/aisec-tests}"
venv="$cache/ray-venv-2.60.0"
mkdir -p "$cache"
# One installer at a time (two test runs started together wait for each other).
exec 9>"$cache/ray-venv.lock"
flock 9
# A venv cannot be moved (its scripts name their own path), so completion is a marker file.
if [ ! -f "$venv/.installed" ]; then
  echo "== installing ray 2.60.0 into $venv (once)" >&2
  rm -rf "$venv"
  # Exit 77 (skipped) when Ray cannot be installed: no network, no venv module.
  python3 -m venv "$venv" || exit 77
  "$venv/bin/pip" install --quiet --disable-pip-version-check "ray==2.60.0" || exit 77
  touch "$venv/.installed"
fi
flock -u 9
# A short private temp folder: Ray's socket paths must stay under 107 bytes.
ray_tmp="$(mktemp -d /tmp/aisec-ray.XXXXXX)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export RAY_USAGE_STATS_ENABLED=0 RAY_ADDRESS="127.0.0.1:$port"
stop() { "$venv/bin/ray" stop --force >/dev/null 2>&1 || true; rm -rf "$ray_tmp"; }
trap stop EXIT
"$venv/bin/ray" start --head --node-ip-address=127.0.0.1 --port="$port" \
  --num-cpus="${AISEC_RAY_CPUS:-2}" --include-dashboard=false --disable-usage-stats \
  --temp-dir="$ray_tmp" >/dev/null
"$venv/bin/python" "$here/tests/local_cluster.py"
