# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# Logging, bounded waits and the check counters shared by the lab's parts.

LAB_LOG=${LAB_LOG:-/dev/null}
PASSED=0
FAILED=0
REASON=""
NOTE=""

# say MESSAGE: a progress line, on the terminal and in the lab log.
say() { printf '%s\n' "$*" | tee -a "$LAB_LOG" >&2; }

# cmd ARGS...: runs ARGS with its output in the lab log; returns ARGS' status. The one way commands are logged.
cmd() {
	printf '+ %s\n' "$*" >>"$LAB_LOG"
	"$@" >>"$LAB_LOG" 2>&1
}

die() {
	say "lab: error: $*"
	exit 1
}

# wait_until SECONDS ARGS...: runs ARGS every half second (WAIT_STEP) until it succeeds; fails after SECONDS.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep "${WAIT_STEP:-0.5}"
	done
}

now_ms() { date +%s%3N; }

# check NAME FUNCTION ARGS...: runs a check; FUNCTION returns non-zero and sets REASON when it fails.
# A passing FUNCTION may set NOTE (e.g. a measured time). Functions run in an `if`, where `set -e` is off:
# they test every step themselves.
check() {
	local name=$1
	shift
	# --only: a developer's shortcut to the checks at hand (deploy always runs).
	if [ -n "${ONLY:-}" ] && [ "${name%% *}" != deploy: ] && [[ ",$ONLY," != *",${name%% *},"* ]]; then return 0; fi
	REASON="" NOTE=""
	if "$@"; then
		PASSED=$((PASSED + 1))
		say "ok   $name${NOTE:+ ($NOTE)}"
	else
		FAILED=$((FAILED + 1))
		say "FAIL $name: ${REASON:-failed}"
	fi
}

# fail_because MESSAGE: sets REASON and returns 1, for `... || fail_because "why"`.
fail_because() {
	REASON=$*
	return 1
}
