bash -c "$(cat <<'HOME_RELAY_SCRIPT'
#!/bin/bash
# home-relay apply (VPS): installs or updates the WireGuard tunnel and its firewall table.
# Rendered by home-relay from components/HomeRelay.Core/Hosts/scripts/: these settings, then the files below.
readonly ROLE=vps
readonly IFACE=wg0
readonly CONFIG=/etc/wireguard/wg0.conf
readonly KEY_FILE=/etc/wireguard/wg0.key
readonly PSK_FILE=/etc/wireguard/wg0.psk
readonly RULESET=/etc/wireguard/wg0-fwd.nft
readonly FORWARDING_BEFORE=/etc/wireguard/wg0-ip_forward.before
readonly SYSCTL_FILE=/etc/sysctl.d/90-home-relay.conf

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
	install_file /etc/sysctl.d/90-home-relay.conf 0644 <<'HOME_RELAY_FILE'
# Managed by home-relay: the VPS forwards visitors' packets into the WireGuard tunnel.
net.ipv4.ip_forward = 1
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0-fwd.nft 0600 <<'HOME_RELAY_FILE'
#!/usr/sbin/nft -f
# Managed by home-relay: table inet wgfwd relays the forwarded ports of the VPS to the home server.
# Loaded by wg-quick (PreUp) and removed with the tunnel (PostDown); it touches no other table.
table inet wgfwd
delete table inet wgfwd
table inet wgfwd {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname != "wg0" fib daddr type local tcp dport 80 dnat ip to 10.66.0.2:80
		iifname != "wg0" fib daddr type local tcp dport 443 dnat ip to 10.66.0.2:443
		iifname != "wg0" fib daddr type local tcp dport 2222 dnat ip to 10.66.0.2:22
		iifname != "wg0" fib daddr type local udp dport 25565 dnat ip to 10.66.0.2:25565
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		# The tunnel carries less than the internet link: clamp TCP segments to the route's MTU, both ways.
		tcp flags syn tcp option maxseg size set rt mtu
		ct state established,related accept
		oifname "wg0" ip daddr 10.66.0.2 ct status dnat accept
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wg0" ct status dnat meta l4proto tcp ct original proto-dst 2222 masquerade
	}
}
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0.conf 0600 <<'HOME_RELAY_FILE'
# Managed by home-relay: the next `pulumi up` overwrites changes made here.
[Interface]
Address = 10.66.0.1/24
ListenPort = 51820
MTU = 1380
PreUp = nft -f /etc/wireguard/wg0-fwd.nft
PostUp = wg set %i private-key /etc/wireguard/wg0.key peer WGmv9FBUlzLLqu1eXfmzCm2jHLDldCutWtShp2jxpns= preshared-key /etc/wireguard/wg0.psk
PostDown = nft 'table inet wgfwd; delete table inet wgfwd'

[Peer]
# the home server
PublicKey = WGmv9FBUlzLLqu1eXfmzCm2jHLDldCutWtShp2jxpns=
AllowedIPs = 10.66.0.2/32
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
