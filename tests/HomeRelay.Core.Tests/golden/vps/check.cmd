bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay check (VPS): the tunnel has a fresh handshake and every TCP forward answers through it.
set -euo pipefail
export LC_ALL=C

readonly IFACE=wg0
readonly HOME_ADDRESS=10.66.0.2
FAILED=0

log() { printf 'home-relay: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
have_systemd() { [ -d /run/systemd/system ]; }
is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }

handshake_age() {
	local latest
	latest=$(wg show "$IFACE" latest-handshakes 2>/dev/null | awk '{print $2}' | sort -n | tail -n 1)
	[ -n "$latest" ] && [ "$latest" -gt 0 ] || return 1
	echo $(($(date +%s) - latest))
}

wait_for_handshake() {
	local deadline=$((SECONDS + 120)) age
	while ! age=$(handshake_age) || [ "$age" -gt 180 ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			die "no WireGuard handshake with the home server in 120 s: check that UDP 51820 reaches this VPS, that the home apply ran, and the home clock"
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

main() {
	[ "$(id -u)" -eq 0 ] || die "run as root"
	is_up || die "the tunnel interface $IFACE is not up on the VPS"
	wait_for_handshake
	probe_tcp 80 80
	probe_tcp 443 443
	probe_tcp 2222 22
	log "ok   udp/25565: not probed (UDP services need not answer an empty datagram)"
	[ "$FAILED" -eq 0 ] || die "some forwards do not answer"
}

main "$@"
HOME_RELAY_SCRIPT
)" home-relay-check
