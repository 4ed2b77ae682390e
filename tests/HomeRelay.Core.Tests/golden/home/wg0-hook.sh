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
# up and before down). Sends replies to tunnel connections back through the tunnel (table TUNNEL_TABLE) while the
# home's own traffic keeps its default route. Deletes what it owns first, so running it twice leaves one copy of
# each rule. The renderer puts its settings in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C

del_rules() {
	local pref
	for pref in "${RULE_PRIORITIES[@]}"; do
		# Each pass removes one rule; the loop ends when none is left at that priority.
		while ip -4 rule del pref "$pref" 2>/dev/null; do :; done
	done
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
}

case "${1:-}" in
up) up ;;
down) del_rules ;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
