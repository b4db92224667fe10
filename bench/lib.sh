# Helpers shared by the bench scripts (sourced, not run).
# shellcheck shell=bash

die() { echo "error: $*" >&2; exit 2; }
log() { echo "# $*" >&2; }

# Runs "$@" in the background and waits for it, so that a TERM or INT is acted on at once (bash
# runs traps only after a foreground child ends); cleanup kills it by its PID. Returns its status.
FG_PID=""
run_fg() {
    "$@" &
    FG_PID=$!
    local rc=0
    wait "$FG_PID" || rc=$?
    FG_PID=""
    return "$rc"
}
