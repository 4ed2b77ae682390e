bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay apply (home server): installs or updates the WireGuard tunnel and its firewall table.
# Reads private_key and preshared_key lines on stdin and never prints them. Safe to run again: files
# are replaced only when their bytes differ, and the tunnel restarts only when its config changed.
# All or nothing: when a step fails, the files and the tunnel are put back as they were.
set -euo pipefail
export LC_ALL=C
umask 077

readonly IFACE=wg0
readonly RULESET=/etc/wireguard/wg0-home.nft
readonly HOOK=/etc/wireguard/wg0-hook.sh
readonly FORWARDING_BEFORE=/etc/wireguard/wg0-ip_forward.before
readonly SYSCTL_FILE=/etc/sysctl.d/90-home-relay.conf
CHANGED=()
TEMP_FILES=()
STAGE=""
WAS_UP=0
FORWARDING_SET=0

log() { printf 'home-relay: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
have_systemd() { [ -d /run/systemd/system ]; }
is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }

read_secrets() {
	local name value
	PRIVATE_KEY="" PRESHARED_KEY=""
	while IFS=' ' read -r name value || [ -n "$name" ]; do
		case "$name" in
		private_key) PRIVATE_KEY=$value ;;
		preshared_key) PRESHARED_KEY=$value ;;
		'') ;;
		*) die "unexpected line on stdin; expected only private_key and preshared_key" ;;
		esac
	done
	[[ $PRIVATE_KEY =~ ^[A-Za-z0-9+/]{43}=$ ]] || die "stdin holds no valid private_key line"
	[[ $PRESHARED_KEY =~ ^[A-Za-z0-9+/]{43}=$ ]] || die "stdin holds no valid preshared_key line"
}

ensure_packages() {
	local missing=()
	command -v wg-quick >/dev/null || missing+=(wireguard-tools)
	command -v nft >/dev/null || missing+=(nftables)
	[ "${#missing[@]}" -eq 0 ] && return 0
	command -v apt-get >/dev/null || die "install ${missing[*]} first: this host has no apt-get"
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Never take over a wg0 that someone else set up: its config would be overwritten.
refuse_foreign_config() {
	if [ -f "/etc/wireguard/wg0.conf" ] && ! grep -q '^# Managed by home-relay' "/etc/wireguard/wg0.conf"; then
		die "/etc/wireguard/wg0.conf exists and was not written by home-relay; move it away (and take $IFACE down) first"
	fi
}

# install_file PATH MODE < content: replaces PATH atomically, and only when bytes or mode differ.
install_file() {
	local path=$1 mode=$2 tmp
	tmp=$(mktemp "${path%/*}/.${path##*/}.XXXXXX")
	TEMP_FILES+=("$tmp")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then
		rm -f "$tmp"
		return 0
	fi
	if [ -e "$path" ]; then
		mkdir -p "$STAGE/backup${path%/*}"
		cp -p "$path" "$STAGE/backup$path"
	fi
	mv -f "$tmp" "$path"
	CHANGED+=("$path")
	log "wrote $path"
}

start_tunnel() {
	if have_systemd; then
		systemctl enable -q "wg-quick@$IFACE"
		systemctl restart "wg-quick@$IFACE"
	else
		if is_up; then wg-quick down "$IFACE"; fi
		wg-quick up "$IFACE"
	fi
}

# Only the firewall table or the routing hook changed (e.g. a port was added): both reload in place, and the
# tunnel, its handshake and every open connection stay up.
only_firewall_changed() {
	local path
	for path in "${CHANGED[@]}"; do
		case "$path" in "$RULESET" | "$HOOK" | "$SYSCTL_FILE" | "$FORWARDING_BEFORE") ;; *) return 1 ;; esac
	done
}

converge_tunnel() {
	if ! is_up; then
		log "starting the tunnel"
		start_tunnel
	elif [ "${#CHANGED[@]}" -eq 0 ]; then
		log "no change"
	elif only_firewall_changed; then
		log "reloading the firewall table in place"
		nft -f "$RULESET"
		if [ -n "$HOOK" ]; then "$HOOK" up; fi
	else
		log "restarting the tunnel"
		start_tunnel
	fi
	if have_systemd; then systemctl enable -q "wg-quick@$IFACE"; fi
}

rollback() {
	local path
	log "apply failed; putting the previous files and tunnel back"
	for path in "${CHANGED[@]}"; do
		if [ -e "$STAGE/backup$path" ]; then mv -f "$STAGE/backup$path" "$path"; else rm -f "$path"; fi
	done
	if [ "$FORWARDING_SET" -eq 1 ] && [ -n "${FORWARDING_VALUE:-}" ]; then
		sysctl -q -w net.ipv4.ip_forward="$FORWARDING_VALUE" || true
	fi
	if [ "$WAS_UP" -eq 1 ] && [ -f "/etc/wireguard/wg0.conf" ]; then
		start_tunnel || log "the previous tunnel did not come back; run this again"
	elif is_up; then
		wg-quick down "$IFACE" || true
	fi
}

on_exit() {
	local rc=$?
	trap - EXIT
	if [ "$rc" -ne 0 ] && [ -n "$STAGE" ]; then rollback; fi
	rm -f "${TEMP_FILES[@]}"
	[ -z "$STAGE" ] || rm -rf "$STAGE"
	exit "$rc"
}

main() {
	[ "$(id -u)" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
	read_secrets
	refuse_foreign_config
	ensure_packages
	trap on_exit EXIT
	STAGE=$(mktemp -d)
	FORWARDING_VALUE=$(sysctl -n net.ipv4.ip_forward)
	if is_up; then WAS_UP=1; fi
	install -d -m 0700 /etc/wireguard
	install_file /etc/wireguard/wg0-home.nft 0600 <<'HOME_RELAY_FILE'
#!/usr/sbin/nft -f
# Managed by home-relay: table inet wghome lets the VPS reach the forwarded ports, and nothing else, and routes their replies back.
# Loaded by wg-quick (PreUp) and removed with the tunnel (PostDown); it touches no other table.
table inet wghome
delete table inet wghome
table inet wghome {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "wg0" ct state new tcp dport { 22, 80, 443 } ct mark set 51821
		iifname "wg0" ct state new udp dport { 25565 } ct mark set 51821
		# Replies from containers or VMs the service runs in: route them back into the tunnel too.
		iifname != "wg0" ct mark 51821 meta mark set ct mark
	}

	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wg0" ct state established,related accept
		iifname "wg0" ct mark 51821 accept
		iifname "wg0" drop
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "wg0" ct state established,related accept
		iifname "wg0" ct mark 51821 accept
		iifname "wg0" drop
	}

	chain output {
		type route hook output priority mangle; policy accept;
		ct mark 51821 meta mark set ct mark
	}
}
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0-hook.sh 0700 <<'HOME_RELAY_FILE'
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
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0.conf 0600 <<'HOME_RELAY_FILE'
# Managed by home-relay: the next `pulumi up` overwrites changes made here.
[Interface]
Address = 10.66.0.2/24
MTU = 1380
# Routes for the peer go to their own table, so the home's own traffic keeps its default route;
# the hook sends only replies to tunnel connections there.
Table = 51821
PreUp = nft -f /etc/wireguard/wg0-home.nft
PostUp = wg set %i private-key /etc/wireguard/wg0.key peer B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw= preshared-key /etc/wireguard/wg0.psk
PostUp = /etc/wireguard/wg0-hook.sh up
PreDown = /etc/wireguard/wg0-hook.sh down
PostDown = nft 'table inet wghome; delete table inet wghome'

[Peer]
# the VPS
PublicKey = B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw=
Endpoint = 203.0.113.10:51820
# Visitors keep their own address, so any source must be accepted from the VPS.
AllowedIPs = 0.0.0.0/0
# We dial out through CGNAT; keepalives hold the NAT mapping open.
PersistentKeepalive = 25
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0.key 0600 <<<"$PRIVATE_KEY"
	install_file /etc/wireguard/wg0.psk 0600 <<<"$PRESHARED_KEY"
	converge_tunnel
}

main "$@"
HOME_RELAY_SCRIPT
)" home-relay-apply
