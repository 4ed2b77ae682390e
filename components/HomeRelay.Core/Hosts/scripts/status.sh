#!/bin/bash
# home-relay status, run on the VPS by `./relay status` (and the lab): is the relay working right now, and what is it
# carrying? It only reads: the tunnel (`wg show`), each forward's counters (the forwards map and the forward_marks set
# of the VPS's table), a probe of each forward through the tunnel (probe.sh), and what DNS_NAME resolves to here.
# It prints a report (OUTPUT=text) or one JSON document (OUTPUT=json) that ends in a verdict, and exits to match:
# 0 ok, 1 degraded (a forward does not answer, or DNS_NAME's A records are not RELAY_ADDRESS alone, or its AAAA
# records not RELAY_ADDRESS6 alone: none when the relay has no IPv6 front door, RELAY_ADDRESS6 empty), 2 down (no
# tunnel, no handshake for HANDSHAKE_MAX_AGE s, or the home answers no probe at all), 3 could not tell.
# The renderer puts the settings (FORWARDS, with FORWARD_MARKS in the same order), lib.sh and probe.sh in front of this.
# shellcheck shell=bash
set -Eeuo pipefail
export LC_ALL=C

readonly EXIT_OK=0 EXIT_DEGRADED=1 EXIT_DOWN=2 EXIT_UNKNOWN=3
# Probes wait up to 4 s for an answer: this many run at once, so a home that is off costs seconds, not minutes.
readonly PROBES_AT_ONCE=16

# The exit status is the verdict's, set last thing in main: whatever stops the script before (an unexpected failure
# among them) leaves it unknown (3), never a "degraded" (1) by accident.
EXIT_STATUS=$EXIT_UNKNOWN
trap 'exit "$EXIT_STATUS"' EXIT
trap 'log "error: status failed (line $LINENO)"' ERR

TUNNEL_UP=false
HANDSHAKE_AGE=""   # seconds; empty: no handshake since the tunnel came up
HOME_ENDPOINT=""   # where the home's packets come from now (its CGNAT address and port)
BYTES_TO_HOME=""
BYTES_FROM_HOME=""
declare -A CONNECTIONS=() PACKETS=() BYTES=() # by mark; absent when the table is not loaded
PROBE4=()          # by forward: answered, refused, silent (tcp) or reached, silent, unprobed (udp, past
                   # UDP_PROBES_AT_MOST); empty when not probed at all
PROBE6=()          # the same at the home's IPv6 tunnel address; empty when not probed there
DNS_ADDRESSES=()   # what DNS_NAME resolves to here: its A records
DNS_ADDRESSES6=()  # and its AAAA records
DNS_PROBLEMS=()    # what is wrong with them; none when the name leads to the relay and nowhere else
DNS_OK=false
VERDICT=""
REASONS=()

read_tunnel() {
	local latest
	is_up || return 0
	TUNNEL_UP=true
	# One peer: the home server.
	latest=$(wg show "$IFACE" latest-handshakes | awk 'NR == 1 {print $2}')
	if [[ $latest =~ ^[0-9]+$ ]] && [ "$latest" -gt 0 ]; then
		HANDSHAKE_AGE=$(($(date +%s) - latest))
		[ "$HANDSHAKE_AGE" -ge 0 ] || HANDSHAKE_AGE=0
	fi
	HOME_ENDPOINT=$(wg show "$IFACE" endpoints | awk 'NR == 1 && $2 != "(none)" {print $2}')
	read -r BYTES_FROM_HOME BYTES_TO_HOME < <(wg show "$IFACE" transfer | awk 'NR == 1 {print $2, $3}') || true
}

# element_counters map|set: "MARK PACKETS BYTES" per element of nft's listing of the forwards map (MARK is its value)
# or of the forward_marks set (MARK is the element), marks in decimal.
element_counters() {
	awk -v kind="$1" '
		{ text = text " " $0 }
		END {
			start = index(text, "elements = {")
			if (start == 0) exit
			text = substr(text, start + 12)
			sub(/[}].*/, "", text)
			n = split(text, elements, ",")
			for (i = 1; i <= n; i++) {
				k = split(elements[i], w, " ")
				packets = ""; bytes = ""
				for (j = 1; j < k; j++) {
					if (w[j] == "packets") packets = w[j + 1]
					if (w[j] == "bytes") bytes = w[j + 1]
				}
				mark = (kind == "map") ? w[k] : w[1]
				print mark, packets, bytes
			}
		}' | while read -r mark packets bytes; do
		[[ $mark =~ ^(0x[0-9a-fA-F]+|[0-9]+)$ ]] || continue
		if [[ $mark == 0x* ]]; then mark=$((mark)); else mark=$((10#$mark)); fi
		echo "$mark $packets $bytes"
	done
}

# The map's element counters see a connection's first packet only (NAT chains): new connections. The set's, in the
# forward chain, see every packet of the forward's connections, both ways. Both start at 0 when the table is loaded.
read_counters() {
	local mark packets bytes
	while read -r mark packets bytes; do
		CONNECTIONS[$mark]=$packets
	done < <({ nft list map inet "$TABLE" forwards 2>/dev/null || true; } | element_counters map)
	while read -r mark packets bytes; do
		PACKETS[$mark]=$packets
		BYTES[$mark]=$bytes
	done < <({ nft list set inet "$TABLE" forward_marks 2>/dev/null || true; } | element_counters set)
}

# Both families in one lookup (`getent ahosts` asks for any family: no IPv4-mapped addresses, whatever the VPS's own
# connectivity). An AAAA record elsewhere matters even without an IPv6 front door: IPv6 visitors try it first.
read_dns() {
	local address
	while read -r address _; do
		case $address in
		*:*) DNS_ADDRESSES6+=("$address") ;;
		*) DNS_ADDRESSES+=("$address") ;;
		esac
	done < <({ timeout 10 getent ahosts "$DNS_NAME" 2>/dev/null || true; } | sort -u -k1,1)
	if [ "${#DNS_ADDRESSES[@]}" -eq 0 ] && [ "${#DNS_ADDRESSES6[@]}" -eq 0 ]; then
		DNS_PROBLEMS+=("$DNS_NAME does not resolve (seen from the VPS)")
	else
		if [ "${#DNS_ADDRESSES[@]}" -eq 0 ]; then
			DNS_PROBLEMS+=("$DNS_NAME has no A record (seen from the VPS); it should be $RELAY_ADDRESS")
		elif [ "${DNS_ADDRESSES[*]}" != "$RELAY_ADDRESS" ]; then
			DNS_PROBLEMS+=("$DNS_NAME resolves to ${DNS_ADDRESSES[*]}, not to $RELAY_ADDRESS alone")
		fi
		if [ -z "$RELAY_ADDRESS6" ]; then
			[ "${#DNS_ADDRESSES6[@]}" -eq 0 ] ||
				DNS_PROBLEMS+=("$DNS_NAME has an AAAA record (${DNS_ADDRESSES6[*]}), but the relay has no IPv6 front door: IPv6 visitors go there")
		elif [ "${#DNS_ADDRESSES6[@]}" -eq 0 ]; then
			DNS_PROBLEMS+=("$DNS_NAME has no AAAA record (seen from the VPS); it should be $RELAY_ADDRESS6")
		elif [ "${DNS_ADDRESSES6[*]}" != "$RELAY_ADDRESS6" ]; then
			DNS_PROBLEMS+=("$DNS_NAME resolves over IPv6 to ${DNS_ADDRESSES6[*]}, not to $RELAY_ADDRESS6 alone")
		fi
	fi
	[ "${#DNS_PROBLEMS[@]}" -gt 0 ] || DNS_OK=true
}

probe_one() { printf '%s %s %s\n' "$1" "$2" "$(probe_"$3" "$4" "$5")"; }

# Every forward at the home's IPv4 tunnel address, and at its IPv6 one when the tunnel carries IPv6 and the home
# server itself is the target (a LAN host is IPv4 only); a range at its first port. "FORWARD FAMILY RESULT" lines.
probe_all() {
	local i proto target host running=0
	# UDP probes one at a time, on their own (see probe_udp: the home rate-limits its answers).
	probe_udp_forwards &
	for i in "${!FORWARDS[@]}"; do
		IFS=/ read -r proto _ target host <<<"${FORWARDS[i]}"
		[ "$proto" = tcp ] || continue
		# shellcheck disable=SC2153 # a setting, like HOME_ADDRESS6
		probe_one "$i" 4 "$proto" "$HOME_ADDRESS" "${target%-*}" &
		running=$((running + 1))
		if [ -n "$HOME_ADDRESS6" ] && [[ $host == home* ]]; then
			probe_one "$i" 6 "$proto" "$HOME_ADDRESS6" "${target%-*}" &
			running=$((running + 1))
		fi
		while [ "$running" -ge "$PROBES_AT_ONCE" ]; do
			wait -n || true
			running=$((running - 1))
		done
	done
	wait
}

probe_udp_forwards() {
	local i proto target host probed=0
	for i in "${!FORWARDS[@]}"; do
		IFS=/ read -r proto _ target host <<<"${FORWARDS[i]}"
		[ "$proto" = udp ] || continue
		probed=$((probed + 1))
		if [ "$probed" -gt "$UDP_PROBES_AT_MOST" ]; then
			printf '%s 4 unprobed\n' "$i"
			continue
		fi
		probe_one "$i" 4 udp "$HOME_ADDRESS" "${target%-*}"
		if [ -n "$HOME_ADDRESS6" ] && [[ $host == home* ]]; then probe_one "$i" 6 udp "$HOME_ADDRESS6" "${target%-*}"; fi
	done
}

run_probes() {
	local i family result
	while read -r i family result; do
		if [ "$family" = 4 ]; then PROBE4[i]=$result; else PROBE6[i]=$result; fi
	done < <(probe_all)
}

# Not probed (past UDP_PROBES_AT_MOST) counts as getting through: nothing says otherwise.
gets_through() { [ "$1" = answered ] || [ "$1" = reached ] || [ "$1" = unprobed ]; }

# answers I: every address forward I was probed at answered (TCP) or let the datagram through (UDP).
answers() {
	[ -n "${PROBE4[$1]:-}" ] && gets_through "${PROBE4[$1]}" && { [ -z "${PROBE6[$1]:-}" ] || gets_through "${PROBE6[$1]}"; }
}

# The home answered some probe: a TCP answer or refusal, or a datagram let through.
home_heard() {
	local i
	for i in "${!FORWARDS[@]}"; do
		case "${PROBE4[i]:-}/${PROBE6[i]:-}" in *answered* | *refused* | *reached*) return 0 ;; esac
	done
	return 1
}

word() {
	case "$1" in
	answered) echo answers ;;
	reached) echo "gets through" ;;
	unprobed) echo "not probed" ;;
	'') echo - ;;
	*) echo "$1" ;;
	esac
}

# state I: what the probes of forward I found, e.g. "answers", "refused", "IPv4 answers, IPv6 silent".
state() {
	local p4=${PROBE4[$1]:-} p6=${PROBE6[$1]:-}
	if [ -z "$p6" ] || [ "$p6" = "$p4" ]; then word "$p4"; else echo "IPv4 $(word "$p4"), IPv6 $(word "$p6")"; fi
}

name_of() {
	local proto port
	IFS=/ read -r proto port _ <<<"${FORWARDS[$1]}"
	echo "$proto/$port"
}

judge() {
	local i down=() degraded=()
	if [ "$TUNNEL_UP" != true ]; then
		down+=("the tunnel interface $IFACE is not up on the VPS")
	elif [ -z "$HANDSHAKE_AGE" ]; then
		down+=("no WireGuard handshake with the home server since the tunnel came up")
	elif [ "$HANDSHAKE_AGE" -gt "$HANDSHAKE_MAX_AGE" ]; then
		down+=("no WireGuard handshake with the home server for $HANDSHAKE_AGE s")
	elif ! home_heard; then
		down+=("the home server answers no probe (powered off, or something there drops every forward)")
	else
		for i in "${!FORWARDS[@]}"; do
			answers "$i" || degraded+=("$(name_of "$i") $(state "$i")")
		done
	fi
	degraded+=("${DNS_PROBLEMS[@]}")
	if [ "${#down[@]}" -gt 0 ]; then
		VERDICT=down REASONS=("${down[@]}")
	elif [ "${#degraded[@]}" -gt 0 ]; then
		VERDICT=degraded REASONS=("${degraded[@]}")
	else
		VERDICT=ok REASONS=()
	fi
}

# The last line: "ok", or "degraded: REASON; REASON...", or "down: REASON...".
verdict_line() {
	local line=$VERDICT reason sep=": "
	for reason in "${REASONS[@]}"; do
		line+=$sep$reason
		sep="; "
	done
	echo "$line"
}

# human_bytes N: 1.5 KiB, 20.3 MiB; "-" when unknown.
human_bytes() {
	local n=${1:-} unit=0 units=(B KiB MiB GiB TiB PiB)
	if [ -z "$n" ]; then echo -; return; fi
	if [ "$n" -lt 1024 ]; then echo "$n B"; return; fi
	n=$((n * 10))
	while [ "$n" -ge 10240 ] && [ "$unit" -lt 5 ]; do
		n=$((n / 1024))
		unit=$((unit + 1))
	done
	echo "$((n / 10)).$((n % 10)) ${units[unit]}"
}

print_text() {
	local i proto port target host mark to
	local relay=$RELAY_ADDRESS${RELAY_ADDRESS6:+ $RELAY_ADDRESS6} seen=("${DNS_ADDRESSES[@]}" "${DNS_ADDRESSES6[@]}")
	if [ "$DNS_OK" = true ]; then
		printf 'relay     %s; %s resolves to %s (seen from the VPS)\n' "$relay" "$DNS_NAME" "$([ -z "$RELAY_ADDRESS6" ] && echo it || echo them)"
	elif [ "${#seen[@]}" -eq 0 ]; then
		printf 'relay     %s; %s does not resolve (seen from the VPS)\n' "$relay" "$DNS_NAME"
	else
		printf 'relay     %s; %s resolves to %s (seen from the VPS)\n' "$relay" "$DNS_NAME" "${seen[*]}"
	fi
	if [ "$TUNNEL_UP" != true ]; then
		printf 'tunnel    %s is not up\n' "$IFACE"
	else
		printf 'tunnel    %s up; %s; home at %s; %s to home, %s from home\n' "$IFACE" \
			"$(if [ -n "$HANDSHAKE_AGE" ]; then echo "last handshake $HANDSHAKE_AGE s ago"; else echo "no handshake yet"; fi)" \
			"${HOME_ENDPOINT:-(not known)}" "$(human_bytes "$BYTES_TO_HOME")" "$(human_bytes "$BYTES_FROM_HOME")"
	fi
	printf 'forwards  counted since the tunnel came up or the forwards last changed\n'
	printf '  %-16s %-24s %-14s %11s %9s %10s\n' forward target now connections packets bytes
	for i in "${!FORWARDS[@]}"; do
		IFS=/ read -r proto port target host <<<"${FORWARDS[i]}"
		mark=${FORWARD_MARKS[i]}
		case "$host" in
		home) to="home:$target" ;;
		home-snat) to="home:$target (snat)" ;;
		*) to="$host:$target" ;;
		esac
		printf '  %-16s %-24s %-14s %11s %9s %10s\n' "$proto/$port" "$to" "$(state "$i")" \
			"${CONNECTIONS[$mark]:--}" "${PACKETS[$mark]:--}" "$(human_bytes "${BYTES[$mark]:-}")"
	done
	verdict_line
}

# json_string VALUE: sets J to VALUE as a JSON string, every character that needs it escaped.
json_string() {
	local s=$1 out="" c i
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	if [[ $s == *[[:cntrl:]]* ]]; then
		for ((i = 0; i < ${#s}; i++)); do
			c=${s:i:1}
			if [[ $c == [[:cntrl:]] ]]; then printf -v c '\\u%04x' "'$c"; fi
			out+=$c
		done
		s=$out
	fi
	J="\"$s\""
}

# json_text_or_null VALUE: J is VALUE as a JSON string, or null when empty.
json_text_or_null() { if [ -n "$1" ]; then json_string "$1"; else J=null; fi; }

# json_number VALUE: J is VALUE when it is a whole number, else null.
json_number() { if [[ $1 =~ ^(0|[1-9][0-9]*)$ ]]; then J=$1; else J=null; fi; }

# json_strings VALUE...: J is a JSON array of strings.
json_strings() {
	local list="" item
	for item in "$@"; do
		json_string "$item"
		list+="${list:+, }$J"
	done
	J="[$list]"
}

print_json() {
	local i proto port target host mark first last tfirst tlast target_host client_ip fields sep=""
	printf '{\n'
	json_string "$VERDICT"
	printf '  "verdict": %s,\n' "$J"
	json_strings "${REASONS[@]}"
	printf '  "reasons": %s,\n' "$J"
	json_string "$CHECKED_AT"
	printf '  "checkedAt": %s,\n' "$J"
	json_string "$RELAY_ADDRESS"
	fields="\"address\": $J"
	json_text_or_null "$RELAY_ADDRESS6"
	fields+=", \"address6\": $J"
	json_string "$DNS_NAME"
	fields+=", \"dnsName\": $J"
	json_strings "${DNS_ADDRESSES[@]}"
	fields+=", \"dnsAddresses\": $J"
	json_strings "${DNS_ADDRESSES6[@]}"
	fields+=", \"dnsAddresses6\": $J, \"dnsResolvesToRelay\": $DNS_OK"
	printf '  "relay": {%s},\n' "$fields"
	json_string "$IFACE"
	fields="\"interface\": $J, \"up\": $TUNNEL_UP"
	json_number "$HANDSHAKE_AGE"
	fields+=", \"handshakeAgeSeconds\": $J"
	json_text_or_null "$HOME_ENDPOINT"
	fields+=", \"homeEndpoint\": $J"
	json_number "$BYTES_TO_HOME"
	fields+=", \"bytesToHome\": $J"
	json_number "$BYTES_FROM_HOME"
	fields+=", \"bytesFromHome\": $J"
	printf '  "tunnel": {%s},\n' "$fields"
	printf '  "forwards": ['
	for i in "${!FORWARDS[@]}"; do
		IFS=/ read -r proto port target host <<<"${FORWARDS[i]}"
		mark=${FORWARD_MARKS[i]}
		first=${port%-*} last=${port#*-} tfirst=${target%-*} tlast=${target#*-}
		case "$host" in
		home) target_host=home client_ip=transparent ;;
		home-snat) target_host=home client_ip=snat ;;
		*) target_host=$host client_ip=snat ;;
		esac
		json_string "$proto"
		fields="\"protocol\": $J, \"port\": $first, \"portLast\": $last, \"targetPort\": $tfirst, \"targetPortLast\": $tlast"
		json_string "$target_host"
		fields+=", \"target\": $J"
		json_string "$client_ip"
		fields+=", \"clientIp\": $J, \"mark\": $mark"
		json_number "${CONNECTIONS[$mark]:-}"
		fields+=", \"newConnections\": $J"
		json_number "${PACKETS[$mark]:-}"
		fields+=", \"packets\": $J"
		json_number "${BYTES[$mark]:-}"
		fields+=", \"bytes\": $J"
		json_text_or_null "${PROBE4[i]:-}"
		fields+=", \"probe\": $J"
		json_text_or_null "${PROBE6[i]:-}"
		fields+=", \"probe6\": $J"
		if answers "$i"; then fields+=", \"answers\": true"; else fields+=", \"answers\": false"; fi
		printf '%s\n    {%s}' "$sep" "$fields"
		sep=,
	done
	printf '\n  ]\n}\n'
}

main() {
	[ "$(id -u)" -eq 0 ] || { log "error: run as root (wg and nft need it)"; exit "$EXIT_UNKNOWN"; }
	[ "${#FORWARDS[@]}" -eq "${#FORWARD_MARKS[@]}" ] || { log "error: FORWARDS and FORWARD_MARKS differ in length"; exit "$EXIT_UNKNOWN"; }
	CHECKED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	read_tunnel
	read_counters
	read_dns
	# Probes only through a tunnel that works: through a dead one they would only wait.
	if [ "$TUNNEL_UP" = true ] && [ -n "$HANDSHAKE_AGE" ] && [ "$HANDSHAKE_AGE" -le "$HANDSHAKE_MAX_AGE" ]; then
		run_probes
	fi
	judge
	case "$OUTPUT" in
	json) print_json ;;
	*) print_text ;;
	esac
	case "$VERDICT" in
	ok) EXIT_STATUS=$EXIT_OK ;;
	degraded) EXIT_STATUS=$EXIT_DEGRADED ;;
	*) EXIT_STATUS=$EXIT_DOWN ;;
	esac
}

main "$@"
