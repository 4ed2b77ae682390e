#!/bin/bash
# home-relay's probes from the VPS through the tunnel to the home server, shared by check and status. The renderer
# puts the settings (PROBE_PAYLOAD among them) and lib.sh in front of this.
# shellcheck shell=bash

# At most this many UDP forwards are probed at each address (see probe_udp): the home answers probes about once a
# second, so a stack of hundreds would take minutes. A firewall rule that lets the first ones through usually lets
# all through (iifname "wg0" ct mark ... accept); the others are reported as not probed.
# shellcheck disable=SC2034 # read by check.sh and status.sh, which come after this file
readonly UDP_PROBES_AT_MOST=8

# probe_tcp ADDRESS PORT: prints answered (something listens), refused (the host answered: nothing listens there) or
# silent (no answer at all: a firewall drops the connection, or the host is gone).
probe_tcp() {
	local out
	# shellcheck disable=SC2016 # expanded by the inner bash
	if out=$(timeout 4 bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe "$1" "$2" 2>&1); then
		echo answered
	elif [[ $out == *refused* ]]; then
		echo refused
	else
		echo silent
	fi
}

# probe_udp ADDRESS PORT: prints reached or silent. The home's table answers the PROBE_PAYLOAD datagram from the VPS's
# tunnel address with ICMP "port unreachable", in a chain after every usual filter chain: an answer proves that
# datagrams to that port get past the home's firewall, whether or not the service would answer (it never sees it).
# The home's kernel sends such answers to one address at most about once a second after a burst of six (its ICMP
# rate limit), dropping the rest: UDP probes go one at a time, and a silent one is tried twice more, a second apart.
probe_udp() {
	local out try
	for try in 1 2 3; do
		# shellcheck disable=SC2016 # expanded by the inner bash
		out=$(timeout 3 bash -c 'exec 3<>"/dev/udp/$1/$2" && printf %s "$3" >&3 && read -r -t 1.5 -u 3 _' probe "$1" "$2" "$PROBE_PAYLOAD" 2>&1) || true
		if [[ $out == *refused* ]]; then echo reached && return 0; fi
		[ "$try" -eq 3 ] || sleep 1
	done
	echo silent
}
