bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay remove (home server): stops the tunnel and removes every file, table, rule and setting that
# apply added, putting IP forwarding back as apply found it. Safe to run again, and on a host never set up.
set -euo pipefail
export LC_ALL=C

readonly IFACE=wg0

log() { printf 'home-relay: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
have_systemd() { [ -d /run/systemd/system ]; }
is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }

main() {
	[ "$(id -u)" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
	if [ -f /etc/wireguard/wg0.conf ] && ! grep -q '^# Managed by home-relay' /etc/wireguard/wg0.conf; then
		die "/etc/wireguard/wg0.conf was not written by home-relay; leaving this host alone"
	fi
	if have_systemd && systemctl is-enabled -q "wg-quick@$IFACE" 2>/dev/null; then
		systemctl disable -q --now "wg-quick@$IFACE"
	fi
	if is_up; then
		wg-quick down "$IFACE" || ip link del dev "$IFACE"
	fi
	nft 'table inet wghome; delete table inet wghome'
	for pref in 5180 5181 5182 5183; do
		while ip -4 rule del pref "$pref" 2>/dev/null; do :; done
	done
	rm -f /etc/wireguard/wg0.conf /etc/wireguard/wg0.key /etc/wireguard/wg0.psk /etc/wireguard/wg0-home.nft /etc/wireguard/wg0-hook.sh
	log "removed the tunnel"
}

main "$@"
HOME_RELAY_SCRIPT
)" home-relay-remove
