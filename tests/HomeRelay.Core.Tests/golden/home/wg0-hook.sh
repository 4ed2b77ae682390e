#!/bin/bash
# Managed by home-relay: the home's policy routing for the tunnel. Rendered from
# components/HomeRelay.Core/Hosts/scripts/hook.sh with these settings.
readonly IFACE=wg0
readonly TUNNEL_TABLE=51821
readonly RULE_PRIORITIES=(5180 5181 5182)
readonly HOME_ADDRESSES=(10.66.0.2 fd66:7265:6c61::2)
readonly VPS_ADDRESS=10.66.0.1
readonly HEARTBEAT=10

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

# ---- hook.sh
# home-relay's hook on the home server (installed as /etc/wireguard/wg0-hook.sh, run by wg-quick after up and before
# down, and by apply; rules.sh comes before it). Its policy rules send replies to tunnel connections back through the tunnel (table
# TUNNEL_TABLE) while the home's own traffic keeps its default route: three rules per address family, however many
# forwards there are (the firewall table marks what belongs to the tunnel, and these rules route by that mark). Its
# heartbeat notices a VPS that lost the tunnel's session.
#   up     puts its rules in place (deleting what it owns first, so running it twice leaves one copy of each) and
#          starts the heartbeat
#   down   removes them and stops it
#   check  succeeds when the rules in place are the ones the last `up` of this very file put there, and the
#          heartbeat runs
# The renderer puts its settings in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C

# What `up` left: a hash of this file and the rules it made. A later change of either (a new file not run yet,
# a rule flushed by hand) makes `check` fail. In /run: a reboot clears it, and wg-quick's `up` at boot writes it again.
readonly STATE=/run/home-relay/hook.state
readonly HEARTBEAT_PID=/run/home-relay/heartbeat.pid

family_of() { if [[ $1 == *:* ]]; then echo -6; else echo -4; fi; }

# Our rules as the kernel lists them, and the reverse-path setting of the tunnel.
current() {
	local prefs family
	sha256sum <"${BASH_SOURCE[0]}"
	prefs=$(
		IFS='|'
		echo "${RULE_PRIORITIES[*]}"
	)
	for family in -4 -6; do
		ip "$family" rule show 2>/dev/null | grep -E "^($prefs):" || true
	done
	sysctl -n "net.ipv4.conf.$IFACE.rp_filter" 2>/dev/null || echo "no $IFACE"
}

heartbeat_running() {
	local pid=""
	read -r pid 2>/dev/null <"$HEARTBEAT_PID" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

heartbeat_stop() {
	local pid=""
	if read -r pid 2>/dev/null <"$HEARTBEAT_PID" && [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -f "$HEARTBEAT_PID"
}

# A datagram into the tunnel every HEARTBEAT seconds, to the VPS's discard port: the VPS answers (port unreachable).
# WireGuard's own keepalives never notice a VPS that lost the session (a reboot, a replaced server): the home would
# shake hands again only when its keys age out, minutes later, and the forwards would stay dead meanwhile. Data
# that gets no answer for 15 s makes it shake hands at once. It runs in the tunnel's own service (wg-quick@wg0).
heartbeat_start() {
	heartbeat_stop
	# shellcheck disable=SC2016 # expanded by the heartbeat's own shell
	setsid bash -c 'while sleep "$1"; do printf . 2>/dev/null >"/dev/udp/$2/9" || true; done' heartbeat "$HEARTBEAT" "$VPS_ADDRESS" \
		</dev/null >/dev/null 2>&1 &
	echo "$!" >"$HEARTBEAT_PID"
}

up() {
	local address family
	drop_rules
	for address in "${HOME_ADDRESSES[@]}"; do
		family=$(family_of "$address")
		# Marked packets (replies to tunnel connections, replies of UDP services on forwarded ports) go into the tunnel,
		# unless the main table has a route for them other than its default one (a LAN destination stays on the LAN).
		ip "$family" rule add pref "${RULE_PRIORITIES[0]}" fwmark "$TUNNEL_TABLE" lookup main suppress_prefixlength 0
		ip "$family" rule add pref "${RULE_PRIORITIES[1]}" fwmark "$TUNNEL_TABLE" lookup "$TUNNEL_TABLE"
		# Whatever leaves from the tunnel address leaves through the tunnel.
		ip "$family" rule add pref "${RULE_PRIORITIES[2]}" from "$address" lookup "$TUNNEL_TABLE"
	done
	# Loose reverse-path filtering: visitors' addresses arrive on the tunnel but are routed elsewhere.
	sysctl -q -w "net.ipv4.conf.$IFACE.rp_filter=2"
	mkdir -p "${STATE%/*}"
	heartbeat_start
	current >"$STATE"
}

down() {
	heartbeat_stop
	drop_rules
	rm -f "$STATE"
}

check() {
	[ -f "$STATE" ] && [ "$(current)" = "$(<"$STATE")" ] && heartbeat_running
}

case "${1:-}" in
up) up ;;
down) down ;;
check) check ;;
*)
	echo "usage: $0 up|down|check" >&2
	exit 2
	;;
esac
