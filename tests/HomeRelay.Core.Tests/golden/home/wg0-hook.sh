#!/bin/bash
# Managed by home-relay. Sends replies to tunnel connections back through the tunnel (table
# 51821) while the home's own traffic keeps its default route. Deletes what it owns first,
# so running it twice leaves one copy of each rule.
set -euo pipefail
export LC_ALL=C

del_rules() {
	# Each pass removes one copy; the loop ends when none is left (at most a handful).
	while ip -4 rule del pref 5182 2>/dev/null; do :; done
	while ip -4 rule del pref 5183 2>/dev/null; do :; done
}

up() {
	del_rules
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
