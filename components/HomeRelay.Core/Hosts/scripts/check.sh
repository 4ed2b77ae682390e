#!/bin/bash
# home-relay check, run on the VPS once both peers are configured: the tunnel has a fresh handshake and every TCP
# forward answers through it. The renderer puts the settings (FORWARDS among them) and lib.sh in front of this.
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

probe_tcp() {
	local port=$1 target=$2
	if timeout 5 bash -c "exec 3<>/dev/tcp/$HOME_ADDRESS/$target" 2>/dev/null; then
		log "ok   tcp/$port answers (home port $target)"
	else
		log "FAIL tcp/$port: nothing answers on $HOME_ADDRESS:$target through the tunnel; is the service listening on all addresses of the home server?"
		FAILED=1
	fi
}

# FORWARDS holds one PROTO/PORT/TARGET_PORT item per forward.
probe_forwards() {
	local forward proto port target
	for forward in "${FORWARDS[@]}"; do
		IFS=/ read -r proto port target <<<"$forward"
		case "$proto" in
		tcp) probe_tcp "$port" "$target" ;;
		udp) log "ok   udp/$port: not probed (UDP services need not answer an empty datagram)" ;;
		esac
	done
}

main() {
	[ "$(id -u)" -eq 0 ] || die "run as root"
	is_up || die "the tunnel interface $IFACE is not up on the VPS"
	wait_for_handshake
	probe_forwards
	[ "$FAILED" -eq 0 ] || die "some forwards do not answer"
}

main "$@"
