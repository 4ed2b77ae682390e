#!/bin/bash
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
