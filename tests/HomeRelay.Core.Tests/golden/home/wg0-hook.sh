#!/bin/bash
# Managed by home-relay: the home's policy routing for the tunnel. Rendered from
# components/HomeRelay.Core/Hosts/scripts/hook.sh with these settings.
readonly IFACE=wg0
readonly TUNNEL_TABLE=51821
readonly HOME_ADDRESS=10.66.0.2
readonly RULE_PRIORITIES=(5180 5181 5182 5183)
readonly UDP_PORTS=(25565)

# ---- hook.sh
# home-relay's policy-routing hook on the home server (installed as /etc/wireguard/wg0-hook.sh, run by wg-quick after
# up and before down, and by apply). Sends replies to tunnel connections back through the tunnel (table
# TUNNEL_TABLE) while the home's own traffic keeps its default route.
#   up     puts its rules in place (deleting what it owns first, so running it twice leaves one copy of each)
#   down   removes them
#   check  succeeds when the rules in place are the ones the last `up` of this very file put there
# The renderer puts its settings in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C

# What `up` left: a hash of this file and the rules it made. A later change of either (a new file not run yet,
# a rule flushed by hand) makes `check` fail. In /run: a reboot clears it, and wg-quick's `up` at boot writes it again.
readonly STATE=/run/home-relay/hook.state

del_rules() {
	local pref
	for pref in "${RULE_PRIORITIES[@]}"; do
		# Each pass removes one rule; the loop ends when none is left at that priority.
		while ip -4 rule del pref "$pref" 2>/dev/null; do :; done
	done
}

# Our rules as the kernel lists them, and the reverse-path setting of the tunnel.
current() {
	sha256sum <"${BASH_SOURCE[0]}"
	ip -4 rule show | grep -E "^($(
		IFS='|'
		echo "${RULE_PRIORITIES[*]}"
	)):" || true
	sysctl -n "net.ipv4.conf.$IFACE.rp_filter" 2>/dev/null || echo "no $IFACE"
}

up() {
	local port
	del_rules
	for port in "${UDP_PORTS[@]}"; do
		# A UDP service on 0.0.0.0 answers from the address the route picks, so route its replies into the tunnel by
		# port (LAN destinations still match the main table first).
		ip -4 rule add pref "${RULE_PRIORITIES[0]}" ipproto udp sport "$port" lookup main suppress_prefixlength 0
		ip -4 rule add pref "${RULE_PRIORITIES[1]}" ipproto udp sport "$port" lookup "$TUNNEL_TABLE"
	done
	ip -4 rule add pref "${RULE_PRIORITIES[2]}" from "$HOME_ADDRESS" lookup "$TUNNEL_TABLE"
	ip -4 rule add pref "${RULE_PRIORITIES[3]}" fwmark "$TUNNEL_TABLE" lookup "$TUNNEL_TABLE"
	# Loose reverse-path filtering: visitors' addresses arrive on the tunnel but are routed elsewhere.
	sysctl -q -w "net.ipv4.conf.$IFACE.rp_filter=2"
	mkdir -p "${STATE%/*}"
	current >"$STATE"
}

down() {
	del_rules
	rm -f "$STATE"
}

check() {
	[ -f "$STATE" ] && [ "$(current)" = "$(<"$STATE")" ]
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
