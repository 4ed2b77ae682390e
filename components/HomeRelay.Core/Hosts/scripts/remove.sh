#!/bin/bash
# home-relay remove: stops the tunnel and removes every file, table, rule and setting that apply added, putting IP
# forwarding back as apply found it. Safe to run again, and on a host never set up.
# The renderer puts the settings and lib.sh in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C

stop_tunnel() {
	if have_systemd && systemctl is-enabled -q "wg-quick@$IFACE" 2>/dev/null; then
		systemctl disable -q --now "wg-quick@$IFACE"
	fi
	if is_up; then
		wg-quick down "$IFACE" || ip link del dev "$IFACE"
	fi
}

# Declaring the table first makes the delete succeed even when the table is already gone.
drop_table() { nft "table inet $TABLE; delete table inet $TABLE"; }

drop_rules() {
	local pref
	for pref in "${RULE_PRIORITIES[@]}"; do
		# Each pass removes one rule; the loop ends when none is left at that priority.
		while ip -4 rule del pref "$pref" 2>/dev/null; do :; done
	done
}

restore_forwarding() {
	if [ -f "$FORWARDING_BEFORE" ]; then
		sysctl -q -w net.ipv4.ip_forward="$(cat "$FORWARDING_BEFORE")"
	fi
}

main() {
	require_root
	if [ -f "$CONFIG" ] && ! is_ours; then
		die "$CONFIG was not written by home-relay; leaving this host alone"
	fi
	stop_tunnel
	drop_table
	case "$ROLE" in
	vps) restore_forwarding ;;
	home) drop_rules ;;
	esac
	rm -f "${FILES[@]}"
	log "removed the tunnel"
}

main "$@"
