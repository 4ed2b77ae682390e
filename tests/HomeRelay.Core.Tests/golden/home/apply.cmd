bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay apply (home server): installs or updates the WireGuard tunnel and its firewall table.
# Rendered by home-relay from components/HomeRelay.Core/Hosts/scripts/: these settings, then the files below.
readonly ROLE=home
readonly IFACE=wg0
readonly CONFIG=/etc/wireguard/wg0.conf
readonly KEY_FILE=/etc/wireguard/wg0.key
readonly PSK_FILE=/etc/wireguard/wg0.psk
readonly RULESET=/etc/wireguard/wg0-home.nft
readonly HOOK=/etc/wireguard/wg0-hook.sh

# ---- lib.sh
# home-relay's shared host functions. The renderer puts this file after the settings header (ROLE, IFACE, paths,
# tables; see HostScripts.cs) and before the script it serves, so every function here may read those settings.
# shellcheck shell=bash

log() { printf 'home-relay: %s\n' "$*" >&2; }

die() {
	log "error: $*"
	exit 1
}

require_root() {
	[ "$(id -u)" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
}

have_systemd() { [ -d /run/systemd/system ]; }

is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }

# Every wg0.conf home-relay writes starts with this line; apply and remove leave any other wg0 alone.
is_ours() { grep -q '^# Managed by home-relay' "$CONFIG"; }

# ---- the files this run installs, rendered by home-relay
install_rendered_files() {
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
}

# ---- apply.sh
# home-relay apply: installs or updates the WireGuard tunnel and its firewall table on this host (ROLE vps or home).
# Reads private_key and preshared_key lines on stdin and never prints them. Safe to run again: files are replaced
# only when their bytes differ, and the tunnel restarts only when its config changed. All or nothing: when a step
# fails, the files and the tunnel are put back as they were.
# The renderer puts the settings, lib.sh and install_rendered_files (the files, as here-documents) in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C
umask 077

CHANGED=()
TEMP_FILES=()
STAGE=""
WAS_UP=0
FORWARDING_SET=0
FORWARDING_VALUE=""

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

# The VPS's first boot installs our packages through cloud-init: wait for it to finish before using them.
wait_for_cloud_init() {
	command -v cloud-init >/dev/null || return 0
	# "not run" or "disabled": cloud-init is installed but will not run on this boot; --wait would never return.
	case "$(cloud-init status 2>/dev/null)" in *"not run"* | *disabled*) return 0 ;; esac
	local rc=0
	# 2 means "done, with recoverable errors": the packages we need may still be there; ensure_packages checks.
	timeout 900 cloud-init status --wait >/dev/null || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || die "cloud-init did not finish (status $rc); see /var/log/cloud-init-output.log"
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
	if [ -f "$CONFIG" ] && ! is_ours; then
		die "$CONFIG exists and was not written by home-relay; move it away (and take $IFACE down) first"
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

install_secret_files() {
	install_file "$KEY_FILE" 0600 <<<"$PRIVATE_KEY"
	install_file "$PSK_FILE" 0600 <<<"$PRESHARED_KEY"
}

# VPS: forwarding on, now and at boot (the sysctl.d file); the value found first is kept for remove.
enable_forwarding() {
	if [ ! -f "$FORWARDING_BEFORE" ]; then
		sysctl -n net.ipv4.ip_forward >"$FORWARDING_BEFORE"
		CHANGED+=("$FORWARDING_BEFORE")
	fi
	if [ "$(sysctl -n net.ipv4.ip_forward)" != 1 ]; then
		FORWARDING_SET=1
		sysctl -q -p "$SYSCTL_FILE"
	fi
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
		case "$path" in
		"$RULESET") ;;
		*)
			case "$ROLE" in
			vps) [ "$path" = "$SYSCTL_FILE" ] || [ "$path" = "$FORWARDING_BEFORE" ] || return 1 ;;
			home) [ "$path" = "$HOOK" ] || return 1 ;;
			esac
			;;
		esac
	done
}

reload_firewall() {
	nft -f "$RULESET"
	if [ "$ROLE" = home ]; then "$HOOK" up; fi
}

converge_tunnel() {
	if ! is_up; then
		log "starting the tunnel"
		start_tunnel
	elif [ "${#CHANGED[@]}" -eq 0 ]; then
		log "no change"
	elif only_firewall_changed; then
		log "reloading the firewall table in place"
		reload_firewall
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
	if [ "$FORWARDING_SET" -eq 1 ] && [ -n "$FORWARDING_VALUE" ]; then
		sysctl -q -w net.ipv4.ip_forward="$FORWARDING_VALUE" || true
	fi
	if [ "$WAS_UP" -eq 1 ] && [ -f "$CONFIG" ]; then
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
	require_root
	read_secrets
	if [ "$ROLE" = vps ]; then wait_for_cloud_init; fi
	refuse_foreign_config
	ensure_packages
	trap on_exit EXIT
	STAGE=$(mktemp -d)
	if [ "$ROLE" = vps ]; then FORWARDING_VALUE=$(sysctl -n net.ipv4.ip_forward); fi
	if is_up; then WAS_UP=1; fi
	install -d -m 0700 "${CONFIG%/*}"
	install_rendered_files
	install_secret_files
	if [ "$ROLE" = vps ]; then enable_forwarding; fi
	converge_tunnel
}

main "$@"
HOME_RELAY_SCRIPT
)" home-relay-apply
