# Shared by the fetch scripts: one lock per cache, a private folder per attempt.
#
# Every first-time fetch runs under an exclusive flock on "$CACHE/.lock", so parallel test
# threads, test binaries and scripts that need the same download wait for the first one and
# then find it verified instead of racing over the same files. Each attempt works in its own
# temporary folder inside the cache (same filesystem, so the final `mv` is an atomic rename)
# and moves its result into place only after verifying it; a run that was killed leaves at
# most a stale temporary folder, which the next holder of the lock removes, and never a
# half-written file under the final name.

# cache_lock CACHE: create CACHE and hold its lock (on fd 9) until the script exits.
cache_lock() {
    mkdir -p "$1"
    exec 9>"$1/.lock"
    flock 9
    rm -rf "$1"/.fetch.*
}

# cache_tmp CACHE: set FETCH_TMP to a new private folder inside CACHE, removed at exit.
# (Not a $(...) call: a trap set in that subshell would remove the folder at once.)
cache_tmp() {
    FETCH_TMP=$(mktemp -d "$1/.fetch.XXXXXX")
    # shellcheck disable=SC2064 # the folder's name is fixed now, on purpose
    trap "rm -rf '$FETCH_TMP'" EXIT
}

# replace_into_place NEW FINAL: put the verified NEW where FINAL was, by rename. Call it
# holding the cache's lock.
replace_into_place() {
    if [[ -e "$2" ]]; then
        local old
        old=$(mktemp -d "$(dirname "$2")/.fetch.XXXXXX")
        mv "$2" "$old/old"
        rm -rf "$old"
    fi
    mv "$1" "$2"
}

# ensure_venv VENV PIP_ARGS...: a venv at VENV with `pip install PIP_ARGS...` done, made once.
# A venv holds absolute paths, so it is built in place under the lock "VENV.lock"; its marker
# (the install arguments) is written only after pip succeeded, so a venv from an interrupted
# install, or one made for other packages, is rebuilt rather than used.
ensure_venv() {
    local venv=$1
    shift
    local want="$*"
    mkdir -p "$(dirname "$venv")"
    (
        flock 8
        if [[ "$(cat "$venv/.aisec-complete" 2>/dev/null)" != "$want" ]]; then
            rm -rf "$venv"
            "${PYTHON:-python3}" -m venv "$venv"
            "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
            echo "$want" > "$venv/.aisec-complete"
        fi
    ) 8>"$venv.lock"
}
