#!/bin/bash
# home-relay check, run on the VPS once both peers are configured: the tunnel has a fresh handshake, every TCP
# forward answers through it, and datagrams to every UDP forward get past the home's firewall. Fails, naming the
# fix, when one does not. The renderer puts the settings (FORWARDS among them), lib.sh and probe.sh in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C

FAILED=0

handshake_age() {
	local latest
	latest=$(wg show "$IFACE" latest-handshakes 2>/dev/null | awk '{print $2}' | sort -n | tail -n 1)
	[ -n "$latest" ] && [ "$latest" -gt 0 ] || return 1
	echo $(($(date +%s) - latest))
}

wait_for_handshake() {
	local deadline=$((SECONDS + 120)) age
	while ! age=$(handshake_age) || [ "$age" -gt "$HANDSHAKE_MAX_AGE" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			die "no WireGuard handshake with the home server in 120 s: check that UDP $LISTEN_PORT reaches this VPS, that the home apply ran, and the home clock"
		fi
		sleep 2
	done
	log "ok   handshake ${age}s ago"
}

fail() {
	log "FAIL $*"
	FAILED=1
}

firewall_fix() {
	echo "the home server's firewall drops it; accept the forwards in the input chain that drops by default (e.g. of table inet filter): iifname \"$IFACE\" ct mark $TUNNEL_MARK accept"
}

# check_forward PROTO PORT ADDRESS TARGET HOST: one forward, through one of the home's tunnel addresses; a range is
# probed at its first port. HOST is "home" (or "home-snat") or the LAN host the home server passes the forward on to.
check_forward() {
	local proto=$1 port=$2 address=$3 target=${4%-*} host=$5 where listener
	where="$address port $target"
	if [[ $host == home* ]]; then
		listener="the service running, and listening on all addresses of the home server (or on $address)"
	else
		listener="the service on $host running, and does the home server reach it"
	fi
	case "$proto/$(probe_"$proto" "$address" "$target")" in
	tcp/answered) log "ok   tcp/$port answers at $where" ;;
	tcp/refused) fail "tcp/$port: nothing listens at $where; is $listener?" ;;
	udp/reached) log "ok   udp/$port gets past the home server's firewall at $where (UDP services need not answer)" ;;
	*) fail "$proto/$port: nothing comes back from $where: $(firewall_fix)" ;;
	esac
}

main() {
	local forward proto port target host address udp=0
	[ "$EUID" -eq 0 ] || die "run as root"
	is_up || die "the tunnel interface $IFACE is not up on the VPS"
	wait_for_handshake
	for forward in "${FORWARDS[@]}"; do
		IFS=/ read -r proto port target host <<<"$forward"
		if [ "$proto" = udp ]; then
			udp=$((udp + 1))
			if [ "$udp" -gt "$UDP_PROBES_AT_MOST" ]; then
				log "--   udp/$port not probed (at most $UDP_PROBES_AT_MOST UDP forwards are: the home answers about one probe a second)"
				continue
			fi
		fi
		for address in "$HOME_ADDRESS" ${HOME_ADDRESS6:+"$HOME_ADDRESS6"}; do
			# A LAN host is IPv4 only: the home server passes on only what reached it over IPv4.
			[[ $host == home* ]] || [ "$address" = "$HOME_ADDRESS" ] || continue
			check_forward "$proto" "$port" "$address" "$target" "$host"
		done
	done
	[ "$FAILED" -eq 0 ] || die "some forwards do not get through; see above"
}

main "$@"
