#!/bin/bash
# home-relay's shared host functions. The renderer puts this file after the settings header (ROLE, IFACE, paths,
# tables; see HostScripts.cs) and before the script it serves, so every function here may read those settings.
# shellcheck shell=bash

log() { printf 'home-relay: %s\n' "$*" >&2; }

die() {
	log "error: $*"
	exit 1
}

require_root() {
	[ "$(id -u)" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
}

have_systemd() { [ -d /run/systemd/system ]; }

is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }

# Every wg0.conf home-relay writes starts with this line; apply and remove leave any other wg0 alone.
is_ours() { grep -q '^# Managed by home-relay' "$CONFIG"; }
