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
readonly TABLE=wghome
readonly TUNNEL_IPV6=yes
readonly FORWARDING_BEFORE=/etc/wireguard/wg0-ip_forward.before
readonly SYSCTL_FILE=/etc/sysctl.d/90-home-relay.conf
readonly HOOK=/etc/wireguard/wg0-hook.sh
readonly TUNNEL_MARK=51821
readonly RULE_PRIORITIES=(5180 5181 5182)

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

# ---- rules.sh
# The home's policy rules, shared by its hook (which makes them) and by apply and remove (which may have to clear
# them). The renderer puts the settings (RULE_PRIORITIES among them) in front of this.
# shellcheck shell=bash

# drop_rules: every rule at our priorities, both families, whoever left them (the hook, or an apply that failed
# half-way).
drop_rules() {
	local pref family
	for family in -4 -6; do
		for pref in "${RULE_PRIORITIES[@]}"; do
			# Each pass removes one rule; the loop ends when none is left at that priority.
			while ip "$family" rule del pref "$pref" 2>/dev/null; do :; done
		done
	done
}

# ---- the files this run installs, rendered by home-relay
install_rendered_files() {
	install_file /etc/sysctl.d/90-home-relay.conf 0644 <<'HOME_RELAY_FILE'
# Managed by home-relay: the home server passes forwards on to other hosts of its LAN. Removing home-relay puts
# back the values it found (kept in /etc/wireguard/wg0-ip_forward.before).
net.ipv4.ip_forward = 1
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0-home.nft 0600 <<'HOME_RELAY_FILE'
#!/usr/sbin/nft -f
# Managed by home-relay: table inet wghome lets the VPS reach the forwarded ports, and nothing else, and routes their replies back.
# Loaded by wg-quick (PreUp) and removed with the tunnel (PostDown); it touches no other table.
table inet wghome
delete table inet wghome
table inet wghome {
	comment "home-relay 89c796ef0f1b3b22"

	# The ports the VPS may open connections to: the forwards' target ports, on this host or passed on.
	set forward_ports {
		type inet_proto . inet_service
		flags interval
		elements = {
		tcp . 22,
		tcp . 80,
		tcp . 443,
		tcp . 445,
		tcp . 27015-27030,
		udp . 25565,
		udp . 27015-27030
		}
	}

	set udp_reply_ports {
		type inet_service
		flags interval
		elements = {
		25565,
		27015-27030
		}
	}

	# Target ports passed on to other hosts of the LAN.
	map lan_targets {
		type inet_proto . inet_service : ipv4_addr
		flags interval
		elements = {
		tcp . 445 : 192.168.1.30
		}
	}

	set lan_hosts {
		type ipv4_addr
		elements = {
		192.168.1.30
		}
	}

	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "wg0" ct state new meta l4proto . th dport @forward_ports ct mark set 51821
		# Replies from containers, VMs or LAN hosts the service runs on: route them back into the tunnel too.
		iifname != "wg0" ct mark 51821 meta mark set ct mark
	}

	chain lan_dnat {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "wg0" ct mark 51821 meta nfproto ipv4 dnat ip to meta l4proto . th dport map @lan_targets
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
		# Replies already routed into the tunnel (from the tunnel address) need no mark: a changed mark would route
		# every one of their packets again.
		oifname "wg0" accept
		ct mark 51821 meta mark set ct mark
		# A UDP service on 0.0.0.0 answers from the address its route picks (the LAN's), which conntrack does not
		# take for a reply: mark it, so the rules route it into the tunnel (LAN destinations stay on the LAN)...
		# but never WireGuard's own datagrams (its FwMark), whose random port may be one of those.
		meta mark 51820 accept
		udp sport @udp_reply_ports meta mark set 51821
	}

	chain udp_reply_source {
		type filter hook postrouting priority srcnat - 10; policy accept;
		# ...where it must leave from the tunnel address the visitor's datagram was sent to.
		oifname "wg0" udp sport @udp_reply_ports ip saddr != 10.66.0.2 ip saddr set 10.66.0.2
		oifname "wg0" udp sport @udp_reply_ports ip6 saddr != fd66:7265:6c61::2 ip6 saddr set fd66:7265:6c61::2
	}

	chain lan_masquerade {
		type nat hook postrouting priority srcnat; policy accept;
		# A LAN host would answer through the LAN's own router: it sees this host instead, and answers here.
		oifname != "wg0" ct mark 51821 ip daddr @lan_hosts masquerade
	}

	# The deploy check's UDP probe from the VPS (see probe.sh): answered with "port unreachable" after every usual
	# filter chain, so an answer proves that forwarded datagrams get past this host's firewall. The service never sees it.
	chain deploy_probe {
		type filter hook input priority filter + 100; policy accept;
		iifname "wg0" ip saddr 10.66.0.1 udp length 24 @th,64,128 0x686f6d652d72656c61792d70726f6265 reject
		iifname "wg0" ip6 saddr fd66:7265:6c61::1 udp length 24 @th,64,128 0x686f6d652d72656c61792d70726f6265 reject
	}
}
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0-hook.sh 0700 <<'HOME_RELAY_FILE'
#!/bin/bash
# Managed by home-relay: the home's policy routing for the tunnel. Rendered from
# components/HomeRelay.Core/Hosts/scripts/hook.sh with these settings.
readonly IFACE=wg0
readonly TUNNEL_TABLE=51821
readonly RULE_PRIORITIES=(5180 5181 5182)
readonly HOME_ADDRESSES=(10.66.0.2 fd66:7265:6c61::2)
readonly VPS_ADDRESS=10.66.0.1
readonly HEARTBEAT=10

# ---- rules.sh
# The home's policy rules, shared by its hook (which makes them) and by apply and remove (which may have to clear
# them). The renderer puts the settings (RULE_PRIORITIES among them) in front of this.
# shellcheck shell=bash

# drop_rules: every rule at our priorities, both families, whoever left them (the hook, or an apply that failed
# half-way).
drop_rules() {
	local pref family
	for family in -4 -6; do
		for pref in "${RULE_PRIORITIES[@]}"; do
			# Each pass removes one rule; the loop ends when none is left at that priority.
			while ip "$family" rule del pref "$pref" 2>/dev/null; do :; done
		done
	done
}

# ---- hook.sh
# home-relay's hook on the home server (installed as /etc/wireguard/wg0-hook.sh, run by wg-quick after up and before
# down, and by apply; rules.sh comes before it). Its policy rules send replies to tunnel connections back through the tunnel (table
# TUNNEL_TABLE) while the home's own traffic keeps its default route: three rules per address family, however many
# forwards there are (the firewall table marks what belongs to the tunnel, and these rules route by that mark). Its
# heartbeat notices a VPS that lost the tunnel's session.
#   up     puts its rules in place (deleting what it owns first, so running it twice leaves one copy of each) and
#          starts the heartbeat
#   down   removes them and stops it
#   check  succeeds when the rules in place are the ones the last `up` of this very file put there, and the
#          heartbeat runs
# The renderer puts its settings in front of this.
# shellcheck shell=bash
set -euo pipefail
export LC_ALL=C

# What `up` left: a hash of this file and the rules it made. A later change of either (a new file not run yet,
# a rule flushed by hand) makes `check` fail. In /run: a reboot clears it, and wg-quick's `up` at boot writes it again.
readonly STATE=/run/home-relay/hook.state
readonly HEARTBEAT_PID=/run/home-relay/heartbeat.pid

family_of() { if [[ $1 == *:* ]]; then echo -6; else echo -4; fi; }

# Our rules as the kernel lists them, and the reverse-path setting of the tunnel.
current() {
	local prefs family
	sha256sum <"${BASH_SOURCE[0]}"
	prefs=$(
		IFS='|'
		echo "${RULE_PRIORITIES[*]}"
	)
	for family in -4 -6; do
		ip "$family" rule show 2>/dev/null | grep -E "^($prefs):" || true
	done
	sysctl -n "net.ipv4.conf.$IFACE.rp_filter" 2>/dev/null || echo "no $IFACE"
}

heartbeat_running() {
	local pid=""
	read -r pid 2>/dev/null <"$HEARTBEAT_PID" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

heartbeat_stop() {
	local pid=""
	if read -r pid 2>/dev/null <"$HEARTBEAT_PID" && [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -f "$HEARTBEAT_PID"
}

# A datagram into the tunnel every HEARTBEAT seconds, to the VPS's discard port: the VPS answers (port unreachable).
# WireGuard's own keepalives never notice a VPS that lost the session (a reboot, a replaced server): the home would
# shake hands again only when its keys age out, minutes later, and the forwards would stay dead meanwhile. Data
# that gets no answer for 15 s makes it shake hands at once. It runs in the tunnel's own service (wg-quick@wg0).
heartbeat_start() {
	heartbeat_stop
	# shellcheck disable=SC2016 # expanded by the heartbeat's own shell
	setsid bash -c 'while sleep "$1"; do printf . 2>/dev/null >"/dev/udp/$2/9" || true; done' heartbeat "$HEARTBEAT" "$VPS_ADDRESS" \
		</dev/null >/dev/null 2>&1 &
	echo "$!" >"$HEARTBEAT_PID"
}

up() {
	local address family
	drop_rules
	for address in "${HOME_ADDRESSES[@]}"; do
		family=$(family_of "$address")
		# Marked packets (replies to tunnel connections, replies of UDP services on forwarded ports) go into the tunnel,
		# unless the main table has a route for them other than its default one (a LAN destination stays on the LAN).
		ip "$family" rule add pref "${RULE_PRIORITIES[0]}" fwmark "$TUNNEL_TABLE" lookup main suppress_prefixlength 0
		ip "$family" rule add pref "${RULE_PRIORITIES[1]}" fwmark "$TUNNEL_TABLE" lookup "$TUNNEL_TABLE"
		# Whatever leaves from the tunnel address leaves through the tunnel.
		ip "$family" rule add pref "${RULE_PRIORITIES[2]}" from "$address" lookup "$TUNNEL_TABLE"
	done
	# Loose reverse-path filtering: visitors' addresses arrive on the tunnel but are routed elsewhere.
	sysctl -q -w "net.ipv4.conf.$IFACE.rp_filter=2"
	mkdir -p "${STATE%/*}"
	heartbeat_start
	current >"$STATE"
}

down() {
	heartbeat_stop
	drop_rules
	rm -f "$STATE"
}

check() {
	[ -f "$STATE" ] && [ "$(current)" = "$(<"$STATE")" ] && heartbeat_running
}

case "${1:-}" in
up) up ;;
down) down ;;
check) check ;;
*)
	echo "usage: $0 up|down|check" >&2
	exit 2
	;;
esac
HOME_RELAY_FILE
	install_file /etc/wireguard/wg0.conf 0600 <<'HOME_RELAY_FILE'
# Managed by home-relay: the next `pulumi up` overwrites changes made here.
[Interface]
Address = 10.66.0.2/24, fd66:7265:6c61::2/64
MTU = 1380
# Routes for the peer go to their own table, so the home's own traffic keeps its default route;
# the hook sends only replies to tunnel connections there.
Table = 51821
# WireGuard's own datagrams carry this mark: they leave by the home's line even when its random port
# falls inside a forwarded UDP range.
FwMark = 51820
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
AllowedIPs = 0.0.0.0/0, ::/0
# We dial out through CGNAT; keepalives hold the NAT mapping open.
PersistentKeepalive = 10
HOME_RELAY_FILE
}

# ---- apply.sh
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
HOME_RELAY_SCRIPT
)" home-relay-apply
