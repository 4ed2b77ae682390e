#!/bin/bash
# home-relay's shared host functions. The renderer puts this file after the settings header (ROLE, IFACE, paths,
# tables; see HostScripts.cs) and before the script it serves, so every function here may read those settings.
# shellcheck shell=bash

# Where log lines go: the operator's stderr while it is there; once the connection is gone (a closed laptop, a lost
# line), the system log (`journalctl -t home-relay`), so that a rollback is neither stopped nor left untold.
LOG_TO=stderr

log() {
	if [ "$LOG_TO" = stderr ] && printf 'home-relay: %s\n' "$*" >&2 2>/dev/null; then return 0; fi
	[ "$LOG_TO" != stderr ] || lose_stderr
	logger -t home-relay -- "$*" 2>/dev/null || true
}

# The operator's end is gone: every later write (ours and the tools') goes to /dev/null instead of failing.
lose_stderr() {
	LOG_TO=syslog
	exec 1>/dev/null 2>/dev/null
}

die() {
	log "error: $*"
	exit 1
}

require_root() {
	[ "$EUID" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
}

have_systemd() { [ -d /run/systemd/system ]; }

is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }

# Every wg0.conf home-relay writes starts with this line; apply and remove leave any other wg0 alone.
is_ours() {
	local first=""
	read -r first <"$CONFIG" || true
	[[ $first == "# Managed by home-relay"* ]]
}

# Declaring the table first makes the delete succeed even when the table is already gone.
drop_table() { nft "table inet $TABLE; delete table inet $TABLE"; }

# One apply or remove at a time on a host: a second waits, so neither sees the other's half-done work.
take_lock() {
	[ -d /run/lock ] || mkdir -p /run/lock
	exec 9>/run/lock/home-relay.lock
	flock -w 600 9 || die "another home-relay apply or remove has been running here for 10 minutes"
}
