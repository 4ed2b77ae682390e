#!/bin/bash
# home-relay apply: brings this host (ROLE vps or home) to the rendered state from whatever state it finds. It
# installs the files, then compares what runs with them (the tunnel's keys, peer, addresses and MTU, the loaded
# firewall table, the home's routing rules, forwarding, the systemd unit) and changes only what differs: nothing
# when nothing does, a reload in place when only the firewall does, a tunnel restart when the tunnel's own settings do.
#
# Reads private_key and preshared_key lines on stdin and never prints them. All or nothing: when a step fails or the
# run is stopped (TERM, HUP, INT, or the operator's connection closing), the files and what runs are put back as
# they were. A run killed outright (SIGKILL) cannot clean up: the next run removes what it left, and repairs what
# it left half-done, because it trusts what runs no more than the files.
#
# The renderer puts the settings, lib.sh and install_rendered_files (the files, as here-documents) in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C
umask 077

# The staging directory sits next to the files (a move into place is a rename) and is private (0700): new files
# wait there, and the files they replace are kept there for a rollback. Made at the first change (a run that
# changes nothing makes none); every exit removes it.
readonly STAGE_PREFIX=.home-relay-staging.
STAGE=""
BEGUN=0          # from here on, a failure rolls back
CHANGED=()       # paths this run replaced or created
ACTIONS=()       # what this run changed on the running system: tunnel, table, rules, forwarding, unit
WAS_UP=0
declare -A FORWARDING_FOUND=()
declare -A CONF=() # the rendered wg0.conf, KEY -> values (one per line), read once

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

# A killed run's staging directory holds copies of replaced files, keys among them. Nothing in it is needed: this
# run converges from whatever the host is in.
remove_leftovers() {
	local dir found=0
	for dir in "${CONFIG%/*}/$STAGE_PREFIX"*; do
		[ -e "$dir" ] || continue
		rm -rf "$dir"
		found=1
	done
	[ "$found" -eq 0 ] || log "removed what an interrupted apply left behind"
}

# The VPS's first boot installs our packages through cloud-init: wait for it to finish before using them. It writes
# status.json when it starts on a boot and result.json when it is done (what `cloud-init status` reads, without
# starting python); neither file means it does not run on this boot: nothing to wait for.
wait_for_cloud_init() {
	local result=/run/cloud-init/result.json deadline=$((SECONDS + 900))
	[ -e /run/cloud-init/status.json ] || [ -e "$result" ] || return 0
	if [ ! -e "$result" ]; then
		log "waiting for cloud-init to finish the first boot"
		until [ -e "$result" ]; do
			[ "$SECONDS" -lt "$deadline" ] || die "cloud-init has not finished in 15 minutes; see /var/log/cloud-init-output.log"
			sleep 1
		done
	fi
	# Its errors need not be ours (the packages may be there all the same): ensure_packages checks what we need.
	local text=""
	read -r -d '' text <"$result" || true
	text=${text//[[:space:]]/}
	if [[ $text != *'"errors":[]'* ]]; then
		log "warning: cloud-init finished with errors (see /var/log/cloud-init.log); going on"
	fi
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

# Home: another table whose input chain drops by default drops the forwards too, unless it accepts them. Say so,
# with the rule to add (once it mentions the tunnel, the warning stops).
warn_about_dropping_firewalls() {
	local family name chain
	while read -r family name chain; do
		[[ $(nft list chain "$family" "$name" "$chain" 2>/dev/null) != *"\"$IFACE\""* ]] || continue
		log "warning: table $family $name, chain $chain drops by default, so it drops the forwarded connections too; add to it: iifname \"$IFACE\" ct mark $TUNNEL_MARK accept"
	done < <(nft list chains 2>/dev/null | awk -v ours="$TABLE" '
		$1 == "table" { family = $2; name = $3 }
		$1 == "chain" { chain = $2 }
		/hook input/ && /policy drop/ && !(family == "inet" && name == ours) { print family, name, chain }')
}

# When the tunnel carries IPv6, wg-quick gives the interface an IPv6 address: it cannot on a host whose new
# interfaces start with IPv6 switched off. Said before anything changes.
require_ipv6() {
	local off=1
	[ "$TUNNEL_IPV6" = yes ] || return 0
	read -r off 2>/dev/null </proc/sys/net/ipv6/conf/default/disable_ipv6 || true
	[ "$off" = 0 ] ||
		die "IPv6 is switched off on this host (net.ipv6.conf.default.disable_ipv6 is not 0), but the tunnel carries IPv6 (setting ipv6); switch IPv6 on, or set ipv6: false"
}

begin() {
	[ -d "${CONFIG%/*}" ] || install -d -m 0700 "${CONFIG%/*}"
	settle_unit
	if is_up; then WAS_UP=1; fi
	BEGUN=1
}

# A start or stop of wg-quick@ that an interrupted run asked for goes on without it: let it finish before looking at
# the tunnel, or this run would judge (and take down) a tunnel that is still coming up.
settle_unit() {
	local state deadline=$((SECONDS + 120))
	have_systemd || return 0
	while :; do
		state=$(systemctl is-active "wg-quick@$IFACE" 2>/dev/null) || true
		case "$state" in activating | deactivating | reloading | refreshing) ;; *) return 0 ;; esac
		[ "$SECONDS" -lt "$deadline" ] || die "wg-quick@$IFACE has been $state for 2 minutes; see: journalctl -u wg-quick@$IFACE"
		sleep 0.5
	done
}

stage() {
	[ -n "$STAGE" ] || STAGE=$(mktemp -d "${CONFIG%/*}/${STAGE_PREFIX}XXXXXX")
}

# install_file PATH MODE < content: replaces PATH atomically, and only when bytes or mode differ. An unchanged file
# costs one process (stat): a no-change apply is quick.
install_file() {
	local path=$1 mode=$2 content="" found="" new
	IFS= read -r -d '' content || true
	if [ -f "$path" ]; then
		IFS= read -r -d '' found <"$path" || true
		if [ "$found" = "$content" ] && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then return 0; fi
	fi
	stage
	new=$(mktemp "$STAGE/new.XXXXXX")
	printf '%s' "$content" >"$new"
	chmod "$mode" "$new"
	if [ -e "$path" ]; then
		mkdir -p "$STAGE/backup${path%/*}"
		cp -p "$path" "$STAGE/backup$path"
	fi
	mv -f "$new" "$path"
	CHANGED+=("$path")
	log "wrote $path"
}

install_secret_files() {
	install_file "$KEY_FILE" 0600 <<<"$PRIVATE_KEY"
	install_file "$PSK_FILE" 0600 <<<"$PRESHARED_KEY"
}

# Forwarding on, now and at boot (the sysctl.d file). The values found before the first apply are kept, in
# sysctl.conf form, for remove to put back.
converge_forwarding() {
	local key _ value
	while read -r key _ _; do
		[[ $key == net.* ]] || continue
		read -r value <"/proc/sys/${key//.//}"
		FORWARDING_FOUND[$key]=$value
	done <"$SYSCTL_FILE"
	if [ ! -f "$FORWARDING_BEFORE" ]; then
		for key in "${!FORWARDING_FOUND[@]}"; do printf '%s = %s\n' "$key" "${FORWARDING_FOUND[$key]}"; done >"$FORWARDING_BEFORE"
		CHANGED+=("$FORWARDING_BEFORE")
	fi
	for key in "${!FORWARDING_FOUND[@]}"; do
		if [ "${FORWARDING_FOUND[$key]}" != 1 ]; then
			ACTIONS+=(forwarding)
			sysctl -q -p "$SYSCTL_FILE"
			log "switched forwarding on ($SYSCTL_FILE)"
			return 0
		fi
	done
}

# read_conf: the rendered wg0.conf into CONF (KEY -> its values, one per line; lists split at their commas).
read_conf() {
	local key _ value
	CONF=()
	while read -r key _ value; do
		[[ $key =~ ^[A-Za-z]+$ ]] || continue
		value=${value//, /$'\n'}
		CONF[$key]+=${CONF[$key]:+$'\n'}$value
	done <"$CONFIG"
}

# mark_number MARK: a firewall mark as a decimal number ("off", as wg prints no mark, is 0; wg prints hex).
mark_number() {
	if [ "$1" = off ]; then
		echo 0
	elif [[ $1 =~ ^(0x[0-9a-fA-F]+|[1-9][0-9]*)$ ]]; then
		echo $(($1))
	else
		echo "$1"
	fi
}

# sorted WORDS...: the words, one per line, sorted (the order of addresses carries no meaning).
sorted() { printf '%s\n' "$@" | sort; }

# tunnel_difference: what sets the running tunnel apart from the files, as a reason to restart it; nothing when
# they agree. One `wg show dump` holds the keys: they are compared in memory and never printed.
tunnel_difference() {
	local key listen fwmark _ peer psk endpoint allowed keepalive mtu want net family file_key="" file_psk=""
	read_conf
	{
		read -r key _ listen fwmark _
		read -r peer psk endpoint allowed _ _ _ keepalive
	} < <(wg show "$IFACE" dump 2>/dev/null)
	read -r file_key <"$KEY_FILE" || true
	read -r file_psk <"$PSK_FILE" || true
	[ "$key" = "$file_key" ] || { echo "its private key is not the one in $KEY_FILE" && return; }
	[ "$peer" = "${CONF[PublicKey]}" ] || { echo "its peer is not the one in $CONFIG" && return; }
	[ "$psk" = "$file_psk" ] || { echo "its preshared key is not the one in $PSK_FILE" && return; }
	# shellcheck disable=SC2086 # word splitting wanted: lists of addresses
	[ "$(sorted ${allowed//,/ })" = "$(sorted ${CONF[AllowedIPs]})" ] || { echo "its allowed addresses are not those in $CONFIG" && return; }
	[ "$keepalive" = "${CONF[PersistentKeepalive]:-off}" ] || { echo "its keepalive is not the one in $CONFIG" && return; }
	[ -z "${CONF[ListenPort]:-}" ] || [ "$listen" = "${CONF[ListenPort]}" ] || { echo "its port is not the one in $CONFIG" && return; }
	[ "$(mark_number "$fwmark")" = "$(mark_number "${CONF[FwMark]:-off}")" ] || { echo "its fwmark is not the one in $CONFIG" && return; }
	[ -z "${CONF[Endpoint]:-}" ] || [ "$endpoint" = "${CONF[Endpoint]}" ] || { echo "its endpoint is not the one in $CONFIG" && return; }
	# shellcheck disable=SC2046,SC2086 # word splitting wanted: lists of addresses
	[ "$(sorted $(ip -o addr show dev "$IFACE" scope global | awk '{ print $4 }'))" = "$(sorted ${CONF[Address]})" ] ||
		{ echo "its addresses are not those in $CONFIG" && return; }
	read -r mtu <"/sys/class/net/$IFACE/mtu"
	[ "$mtu" = "${CONF[MTU]}" ] || { echo "its MTU is not the one in $CONFIG" && return; }
	want=${CONF[Table]:-}
	[ -n "$want" ] || return 0
	# wg-quick routes the allowed addresses through the tunnel in that table: a route lost since is a reason too.
	for net in ${CONF[AllowedIPs]}; do
		if [[ $net == *:* ]]; then family=-6; else family=-4; fi
		[ -n "$(ip "$family" route show table "$want" exact "$net" dev "$IFACE")" ] || { echo "its route to $net in table $want is gone" && return; }
	done
}

# The loaded firewall table is the file's when it carries the file's comment (the renderer puts a hash of the
# table there), so a table loaded from an older file, or lost, shows.
table_is_current() {
	local line id=""
	while IFS= read -r line; do
		if [[ $line =~ comment\ \"home-relay\ [0-9a-f]+\" ]]; then id=${BASH_REMATCH[0]} && break; fi
	done <"$RULESET"
	[ -n "$id" ] || return 1
	# (No `grep -q` at the end of a pipe: under pipefail, nft cut short by SIGPIPE would fail it.)
	[[ $(nft -t list table inet "$TABLE" 2>/dev/null) == *"$id"* ]]
}

restart_tunnel() {
	ACTIONS+=(tunnel)
	start_tunnel
	is_up || die "the tunnel interface $IFACE is not there after starting it; see: journalctl -u wg-quick@$IFACE"
	require_listening
}

# The VPS's port must really be WireGuard's: wireguard-go (a userspace tunnel: a TUN device) binds when the link goes
# up and, when another program holds the port, only logs it, leaving a tunnel that never hears from home. (The
# kernel's WireGuard fails to come up instead, and wg-quick with it.)
require_listening() {
	local port
	[ -e "/sys/class/net/$IFACE/tun_flags" ] || return 0
	read_conf
	port=${CONF[ListenPort]:-}
	[ -n "$port" ] || return 0
	[ -n "$(ss -Hlun "sport = :$port")" ] ||
		die "nothing listens on UDP $port after the tunnel started: is another program using it? (setting wireguardPort)"
}

# The lock's descriptor must not reach the daemon that wg-quick starts (wireguard-go): it would hold the lock forever.
start_tunnel() {
	if have_systemd; then
		# Up outside the unit (by hand, or by a run that was stopped): the unit could not start over it.
		if is_up && ! systemctl is-active -q "wg-quick@$IFACE"; then wg-quick down "$IFACE"; fi
		systemctl restart "wg-quick@$IFACE"
	else
		if is_up; then wg-quick down "$IFACE"; fi
		wg-quick up "$IFACE" 9>&-
	fi
}

stop_tunnel() {
	if have_systemd && systemctl is-active -q "wg-quick@$IFACE"; then
		systemctl stop "wg-quick@$IFACE"
	elif is_up; then
		wg-quick down "$IFACE"
	fi
	# A start that failed leaves the unit "failed": back to plain inactive, as before this run.
	if have_systemd; then systemctl reset-failed "wg-quick@$IFACE" 2>/dev/null || true; fi
}

converge_runtime() {
	local why
	if ! is_up; then
		log "starting the tunnel"
		restart_tunnel
		return 0
	fi
	why=$(tunnel_difference)
	if [ -n "$why" ]; then
		log "restarting the tunnel: $why"
		restart_tunnel
		return 0
	fi
	if ! table_is_current; then
		log "reloading the firewall table in place (the loaded one is not $RULESET's)"
		ACTIONS+=(table)
		nft -f "$RULESET"
	fi
	if [ "$ROLE" = home ] && ! "$HOOK" check; then
		log "restoring the routing rules (they are not those of $HOOK)"
		ACTIONS+=(rules)
		"$HOOK" up
	fi
}

# The tunnel comes back at boot through wg-quick@ (no systemd, as in a container: nothing to enable).
converge_unit() {
	have_systemd || return 0
	systemctl is-enabled -q "wg-quick@$IFACE" 2>/dev/null && return 0
	ACTIONS+=(unit)
	systemctl enable -q "wg-quick@$IFACE"
	log "enabled wg-quick@$IFACE at boot"
}

# Undoes this run: the files first, then what runs, from the restored files.
rollback() {
	local path action
	for path in "${CHANGED[@]}"; do
		if [ -e "$STAGE/backup$path" ]; then mv -f "$STAGE/backup$path" "$path"; else rm -f "$path"; fi
	done
	for action in "${ACTIONS[@]}"; do
		case "$action" in
		tunnel)
			if [ "$WAS_UP" -eq 1 ] && [ -f "$CONFIG" ]; then
				start_tunnel
			else
				# A start that failed half-way (wg-quick's PreUp loaded the table, then the port was taken, say) leaves
				# what only its PostDown would remove: remove it, as remove does.
				stop_tunnel
				drop_table
				if [ "$ROLE" = home ]; then drop_rules; fi
			fi
			;;
		table) nft -f "$RULESET" ;;
		rules) "$HOOK" up ;;
		forwarding)
			for path in "${!FORWARDING_FOUND[@]}"; do sysctl -q -w "$path=${FORWARDING_FOUND[$path]}"; done
			;;
		unit) systemctl disable -q "wg-quick@$IFACE" ;;
		esac
	done
}

# Every exit, whatever its cause: roll back unless the run succeeded, then remove the staging directory.
finish() {
	local rc=$1
	# A closed stderr must not stop what follows: writes fail instead (log then turns to the system log).
	trap '' PIPE
	trap - EXIT TERM HUP INT
	if [ "$rc" -ne 0 ] && [ "$BEGUN" -eq 1 ]; then
		log "apply did not complete (status $rc); putting the previous state back"
		if ! (set -e && rollback); then log "the previous state did not come back completely; run apply again"; fi
	fi
	[ -z "$STAGE" ] || rm -rf "$STAGE"
	exit "$rc"
}

# TERM, HUP, INT and PIPE roll back like an error (bash would otherwise run the EXIT trap with status 0). HUP and PIPE
# mean the operator's connection is gone: from here on, log lines go to the system log.
on_signal() {
	case "$1" in HUP | PIPE) lose_stderr ;; esac
	log "stopped by SIG$1"
	finish "$((128 + $2))"
}

main() {
	require_root
	read_secrets
	trap 'finish $?' EXIT
	trap 'on_signal HUP 1' HUP
	trap 'on_signal INT 2' INT
	trap 'on_signal PIPE 13' PIPE
	trap 'on_signal TERM 15' TERM
	take_lock
	remove_leftovers
	if [ "$ROLE" = vps ]; then wait_for_cloud_init; fi
	refuse_foreign_config
	ensure_packages
	require_ipv6
	if [ "$ROLE" = home ]; then warn_about_dropping_firewalls; fi
	begin
	install_rendered_files
	install_secret_files
	if [ -n "${SYSCTL_FILE:-}" ]; then converge_forwarding; fi
	converge_runtime
	converge_unit
	if [ "${#CHANGED[@]}" -eq 0 ] && [ "${#ACTIONS[@]}" -eq 0 ]; then log "no change"; fi
}

main "$@"
