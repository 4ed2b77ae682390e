bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay check (VPS): the tunnel has a fresh handshake and every forward answers through it.
# Rendered by home-relay from components/HomeRelay.Core/Hosts/scripts/: these settings, then the files below.
readonly IFACE=wg0
readonly CONFIG=/etc/wireguard/wg0.conf
readonly HOME_ADDRESS=10.66.0.2
readonly HOME_ADDRESS6=fd66:7265:6c61::2
readonly LISTEN_PORT=51820
readonly HANDSHAKE_MAX_AGE=180
readonly TUNNEL_MARK=51821
readonly PROBE_PAYLOAD=home-relay-probe
readonly FORWARDS=(tcp/80/80/home tcp/443/443/home tcp/2222/22/home-snat tcp/8445/445/192.168.1.30 tcp/27015-27030/27015-27030/home udp/25565/25565/home udp/27015-27030/27015-27030/home)

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

# ---- probe.sh
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

# ---- check.sh
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
HOME_RELAY_SCRIPT
)" home-relay-check
