#!/bin/bash
# Managed by home-relay. Sends replies to tunnel connections back through the tunnel (table
# 51821) while the home's own traffic keeps its default route. Deletes what it owns first,
# so running it twice leaves one copy of each rule.
set -euo pipefail
export LC_ALL=C

del_rules() {
	local pref
	for pref in 5180 5181 5182 5183; do
		# Each pass removes one rule; the loop ends when none is left at that priority.
		while ip -4 rule del pref "$pref" 2>/dev/null; do :; done
	done
}

up() {
	del_rules
	# udp/25565: a service on 0.0.0.0 answers from the address the route picks, so route its
	# replies into the tunnel by port (LAN destinations still match the main table first).
	ip -4 rule add pref 5180 ipproto udp sport 25565 lookup main suppress_prefixlength 0
	ip -4 rule add pref 5181 ipproto udp sport 25565 lookup 51821
	ip -4 rule add pref 5182 from 10.66.0.2 lookup 51821
	ip -4 rule add pref 5183 fwmark 51821 lookup 51821
	# Loose reverse-path filtering: visitors' addresses arrive on wg0 but are routed elsewhere.
	sysctl -q -w net.ipv4.conf.wg0.rp_filter=2
}

case "${1:-}" in
up) up ;;
down) del_rules ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
