#!/bin/bash
# home-relay remove: stops the tunnel and removes every file, table, rule and setting that apply added, putting
# forwarding back as the first apply found it. Safe to run again, on a host never set up, and after an apply that
# was killed half-way. The renderer puts the settings and lib.sh in front of this.
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

# The values the first apply found, in sysctl.conf form.
restore_forwarding() {
	if [ -f "$FORWARDING_BEFORE" ]; then
		sysctl -q -p "$FORWARDING_BEFORE"
	fi
}

main() {
	local pid=""
	require_root
	if [ -f "$CONFIG" ] && ! is_ours; then
		die "$CONFIG was not written by home-relay; leaving this host alone"
	fi
	take_lock
	stop_tunnel
	drop_table
	if [ "$ROLE" = home ]; then drop_rules; fi
	restore_forwarding
	# A heartbeat whose hook never ran `down` (the tunnel was killed, say) goes too.
	if [ "$ROLE" = home ] && read -r pid 2>/dev/null </run/home-relay/heartbeat.pid; then kill "$pid" 2>/dev/null || true; fi
	# The files, what a killed apply may have left beside them (its staging directory), and the run-time state.
	rm -rf "${FILES[@]}" "${CONFIG%/*}"/.home-relay-staging.* /run/home-relay
	log "removed the tunnel"
}

main "$@"
