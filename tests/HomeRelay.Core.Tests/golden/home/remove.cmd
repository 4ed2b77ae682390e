bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay remove (home server): stops the tunnel and removes every file, table, rule and setting that apply added.
# Rendered by home-relay from components/HomeRelay.Core/Hosts/scripts/: these settings, then the files below.
readonly ROLE=home
readonly IFACE=wg0
readonly CONFIG=/etc/wireguard/wg0.conf
readonly TABLE=wghome
readonly FILES=(/etc/wireguard/wg0.conf /etc/wireguard/wg0.key /etc/wireguard/wg0.psk /etc/wireguard/wg0-home.nft /etc/wireguard/wg0-hook.sh /etc/sysctl.d/90-home-relay.conf /etc/wireguard/wg0-ip_forward.before)
readonly FORWARDING_BEFORE=/etc/wireguard/wg0-ip_forward.before
readonly RULE_PRIORITIES=(5180 5181 5182)

# ---- lib.sh
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

# ---- rules.sh
# The home's policy rules, shared by its hook (which makes them) and by apply and remove (which may have to clear
# them). The renderer puts the settings (RULE_PRIORITIES among them) in front of this.
# shellcheck shell=bash

# drop_rules: every rule at our priorities, both families, whoever left them (the hook, or an apply that failed
# half-way).
drop_rules() {
	local pref family
	for family in -4 -6; do
		for pref in "${RULE_PRIORITIES[@]}"; do
			# Each pass removes one rule; the loop ends when none is left at that priority.
			while ip "$family" rule del pref "$pref" 2>/dev/null; do :; done
		done
	done
}

# ---- remove.sh
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
HOME_RELAY_SCRIPT
)" home-relay-remove
