# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The lab's checks. Each returns non-zero and sets REASON when it fails; `check NAME FUNCTION` prints the line.

# expected_peer MODE: the address a home service must see a visitor at.
expected_peer() { if [ "$1" = snat ]; then echo "$VPS_TUNNEL"; else echo "$CLIENT_ADDR"; fi; }

# forwards_answer [FILE]: from the client, every forward in FILE (default: all of the stack's) reaches its home
# service, which sees the expected address.
forwards_answer() {
	local proto port target mode want got bad=()
	: >"$RUN/answering.new"
	while read -r proto port target mode <&3; do
		want=$(expected_peer "$mode")
		if ! got=$(probe client "$proto" "$VPS_PUBLIC" "$port" 1); then
			bad+=("$proto/$port: $got")
		elif [ "$got" != "$want" ]; then
			bad+=("$proto/$port->$target: the service saw $got, expected $want ($mode)")
		else
			echo "$proto $port $target $mode" >>"$RUN/answering.new"
		fi
	done 3<"${1:-$RUN/forwards}"
	[ "${#bad[@]}" -eq 0 ] || fail_because "$(join '; ' "${bad[@]}")"
}

# recovered: the forwards that answered in check 1 answer again (a forward broken from the start is check 1's
# failure, not a failed recovery: the recovery checks name it and wait for the others).
recovered() {
	[ -s "$RUN/answering" ] || fail_because "no forward answered in check 1" || return 1
	forwards_answer "$RUN/answering"
}

broken_from_start() {
	local broken
	broken=$(grep -vxFf "$RUN/answering" "$RUN/forwards" | awk '{printf "%s/%s ", $1, $2}') || true
	[ -z "$broken" ] || printf '; not counted, broken since check 1: %s' "${broken% }"
}

join() {
	local sep=$1 out=$2
	shift 2
	for item in "$@"; do out+=$sep$item; done
	printf '%s' "$out"
}

check_forwards() {
	local rc=0
	forwards_answer || rc=$?
	mv "$RUN/answering.new" "$RUN/answering"
	[ "$rc" -eq 0 ] || return 1
	local proto port target mode seen=()
	while read -r proto port target mode <&3; do
		seen+=("$proto/$port=$(expected_peer "$mode")")
	done 3<"$RUN/forwards"
	NOTE="service saw ${seen[*]}"
}

# published PROTO PORT: true when PORT is a public port of a forward of PROTO.
published() { grep -q "^$1 $2 " "$RUN/forwards"; }

check_closed() {
	local probes=("tcp $CLOSED_PORT" "udp $CLOSED_PORT" "tcp 22") proto port target mode p bad=() got
	while read -r proto port target mode <&3; do
		published "$proto" "$target" || probes+=("$proto $target")
	done 3<"$RUN/forwards"
	mapfile -t probes < <(printf '%s\n' "${probes[@]}" | sort -u)
	for p in "${probes[@]}"; do
		# shellcheck disable=SC2086 # "proto port"
		if got=$(probe client ${p% *} "$VPS_PUBLIC" ${p#* } 1); then bad+=("${p/ //} answers the internet: $got"); fi
	done
	# From the VPS (say it was taken over), the home answers only on the forwarded ports.
	for proto in tcp udp; do
		if got=$(probe vps "$proto" "$HOME_TUNNEL" "$CLOSED_PORT" 1); then
			bad+=("$proto/$CLOSED_PORT at $HOME_TUNNEL answers the VPS: $got")
		fi
	done
	if in_host vps ping -n -c 1 -W 1 "$HOME_TUNNEL" >/dev/null 2>&1; then bad+=("the home answers ping from the VPS"); fi
	while read -r proto port target mode <&3; do
		got=$(probe vps "$proto" "$HOME_TUNNEL" "$target" 1) || bad+=("$proto/$target does not answer the VPS: $got")
	done 3<"$RUN/forwards"
	[ "${#bad[@]}" -eq 0 ] || fail_because "$(join '; ' "${bad[@]}")"
	NOTE="internet: ${probes[*]/ //} closed; VPS: only the forwarded ports answer"
}

# home_egress_via ADDRESS: a service on the internet sees the home's own connections (TCP and UDP) come from ADDRESS.
home_egress_via() {
	local proto got
	for proto in tcp udp; do
		got=$(probe home "$proto" "$CLIENT_ADDR" "$CLIENT_SERVICE_PORT" 2) || fail_because "home $proto: $got" || return 1
		[ "$got" = "$1" ] || fail_because "home's $proto connection arrived from $got, not the CGNAT address $1" || return 1
	done
}

check_home_egress() {
	home_egress_via "$CGNAT_WAN" || return 1
	NOTE="seen from $CGNAT_WAN"
}

# The carrier gives the home a new public address: the old mappings go, keepalives find the VPS from the new one.
check_cgnat_change() {
	local start
	start=$(now_ms)
	cmd in_ns cgnat ip addr del "$CGNAT_WAN/24" dev wan
	cmd in_ns cgnat ip addr add "$CGNAT_WAN_NEXT/24" dev wan
	cmd in_ns cgnat ip route replace default via 198.51.100.1
	cmd in_ns cgnat conntrack -F
	wait_until 120 recovered || fail_because "not recovered after 120 s: $REASON" || return 1
	local took=$(($(now_ms) - start))
	home_egress_via "$CGNAT_WAN_NEXT" || return 1
	NOTE="$CGNAT_WAN -> $CGNAT_WAN_NEXT, recovered in $(ms_to_s "$took") s$(broken_from_start)"
	RECOVERY_CGNAT_MS=$took
}

ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

check_reboot() {
	local host=$1 start took
	start=$(now_ms)
	reboot "$host" || return 1
	wait_until 240 recovered || fail_because "not recovered 240 s after the reboot: $REASON" || return 1
	took=$(($(now_ms) - start))
	NOTE="forwards answer $(ms_to_s "$took") s after power-on$(broken_from_start)"
}

check_idempotent() {
	local host
	for host in "${HOSTS[@]}"; do snapshot "$host" before-reapply || fail_because "snapshot of $host failed" || return 1; done
	render "$STACK" "$RUN/render-again" || fail_because "the second render failed: $(head -c 300 "$RUN/render-again.err")" || return 1
	for host in "${HOSTS[@]}"; do
		cmp -s "$RUN/render/$host/apply.cmd" "$RUN/render-again/$host/apply.cmd" ||
			fail_because "the second render of $host/apply.cmd differs from the first" || return 1
	done
	apply vps "$RUN/render-again" || fail_because "second apply on vps failed" || return 1
	apply home "$RUN/render-again" || fail_because "second apply on home failed" || return 1
	for host in "${HOSTS[@]}"; do
		snapshot "$host" after-reapply || fail_because "snapshot of $host failed" || return 1
		same_snapshot "$host" before-reapply after-reapply || return 1
	done
	NOTE="ruleset, rules, routes, wg showconf, wireguard-go pid, files, ip_forward unchanged on both"
}

# The wireguard-go process of each host (the hosts share a PID namespace: tell them apart by network namespace).
wireguard_go_pids() {
	local host pid own
	for host in "${HOSTS[@]}"; do
		own=$(in_host "$host" readlink /proc/self/ns/net)
		printf '%s=' "$host"
		for pid in $(pgrep -x wireguard-go); do
			[ "$(readlink "/proc/$pid/ns/net")" != "$own" ] || printf '%s ' "$pid"
		done
	done
}

# A user adds a port (tcp and udp $CLOSED_PORT, whose home services already run): the firewall tables and the home's
# routing rules reload in place, the tunnel keeps running, and the new port answers with the visitor's address.
# Then the original stack goes back, and the port is closed again.
check_add_port() {
	local pids plus=$RUN/Pulumi.plus.yaml added=$RUN/forwards.added
	pids=$(wireguard_go_pids)
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" add-forwards "$STACK" "$plus" "$CLOSED_PORT"
	render "$plus" "$RUN/render-plus" || fail_because "render with the added port failed" || return 1
	apply vps "$RUN/render-plus" || fail_because "apply on vps failed" || return 1
	grep -q "reloading the firewall table in place" "$LAST_SSH_ERR" || fail_because "vps did not reload in place: $(tail -n 2 "$LAST_SSH_ERR")" || return 1
	apply home "$RUN/render-plus" || fail_because "apply on home failed" || return 1
	grep -q "reloading the firewall table in place" "$LAST_SSH_ERR" || fail_because "home did not reload in place: $(tail -n 2 "$LAST_SSH_ERR")" || return 1
	printf '%s\n' "tcp $CLOSED_PORT $CLOSED_PORT transparent" "udp $CLOSED_PORT $CLOSED_PORT transparent" >"$added"
	wait_until 20 forwards_answer "$added" || return 1
	[ "$(wireguard_go_pids)" = "$pids" ] || fail_because "the tunnel restarted: wireguard-go $pids -> $(wireguard_go_pids)" || return 1
	apply vps "$RUN/render" || fail_because "apply of the original stack on vps failed" || return 1
	apply home "$RUN/render" || fail_because "apply of the original stack on home failed" || return 1
	local proto got
	for proto in tcp udp; do
		if got=$(probe client "$proto" "$VPS_PUBLIC" "$CLOSED_PORT" 1); then
			fail_because "$proto/$CLOSED_PORT still answers after the port was removed: $got" || return 1
		fi
	done
	NOTE="tcp+udp/$CLOSED_PORT added and removed; wireguard-go ${pids% } kept"
}

check_remove() {
	local host
	remove home "$RUN/render" || fail_because "remove on home failed" || return 1
	remove vps "$RUN/render" || fail_because "remove on vps failed" || return 1
	for host in "${HOSTS[@]}"; do
		snapshot "$host" removed || fail_because "snapshot of $host failed" || return 1
		same_snapshot "$host" pristine removed || return 1
	done
	NOTE="both hosts as before the first apply"
}

# host_files_listing: every file on the hosts' disks (a booted machine's configuration: its journal and logs change
# by themselves).
host_files_listing() {
	local host dir
	for host in "${HOSTS[@]}"; do
		dir=$(host_disk "$host")
		[ "$DRIVER" != machine ] || dir=$dir/etc
		find "$dir" -type f -printf "$host %P %m %s %T@\n"
	done | sort
}

check_bad_input() {
	local seq=$SSH_SEQ before rc=0 err=$RUN/render-bad.err
	before=$(host_files_listing)
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" bad-stack "$STACK" "$RUN/Pulumi.bad.yaml" ||
		fail_because "cannot write the bad stack" || return 1
	deploy "$RUN/Pulumi.bad.yaml" "$RUN/render-bad" || rc=$?
	[ "$rc" -eq 2 ] || fail_because "deploy of bad settings returned $rc, expected 2 (refused by the CLI)" || return 1
	[ "$SSH_SEQ" -eq "$seq" ] || fail_because "a host was contacted" || return 1
	[ "$(host_files_listing)" = "$before" ] || fail_because "host files changed" || return 1
	[ ! -e "$RUN/render-bad" ] || fail_because "the CLI wrote output for bad settings" || return 1
	grep -qF 'forwards[0].port' "$err" || fail_because "no message names forwards[0].port: $(tr '\n' '|' <"$err")" || return 1
	grep -qw 'mtu' "$err" || fail_because "no message names mtu: $(tr '\n' '|' <"$err")" || return 1
	NOTE="exit 2, no host touched: $(tr '\n' '|' <"$err" | head -c 240)"
}

# secrets_pattern FILE: every secret of this run, one per line (from the state and the apply stdin).
secrets_pattern() {
	{
		awk '{print $2}' "$RUN/render/vps/apply.stdin" "$RUN/render/home/apply.stdin"
		/usr/bin/python3 -c 'import json,sys
for k, v in json.load(open(sys.argv[1])).items():
    if k != "Rotation": print(v)' "$STATE/keys.json"
	} | grep -v '^$' | sort -u >"$1"
}

# leaks PATH...: files under PATH that hold a secret, except the hosts' 0600 key files.
leaks() {
	local pattern=$STATE/secrets.pattern file files rc=0
	[ -s "$pattern" ] || secrets_pattern "$pattern"
	files=$(timeout 120 grep -rlsF -D skip -f "$pattern" "$@") || rc=$?
	# grep: 0 found, 1 none, 2 some file unreadable (sockets, /run/netns): only a timeout means "not searched".
	[ "$rc" -ne 124 ] || echo "(the search timed out)"
	[ -n "$files" ] || return 0
	while read -r file; do
		case "$file" in
		"$RUN"/hosts/*/etc-wireguard/wg0.key | "$RUN"/hosts/*/etc-wireguard/wg0.psk | \
			"$RUN"/hosts/*/upper/etc/wireguard/wg0.key | "$RUN"/hosts/*/upper/etc/wireguard/wg0.psk)
			[ "$(stat -c %a "$file")" = 600 ] || echo "$file (mode $(stat -c %a "$file"))"
			;;
		*) echo "$file" ;;
		esac
	done <<<"$files"
}

# The machine's shared directories, leaving out the lab's own output (the state and apply.stdin hold the keys by
# design, and the repository may well be cloned under /tmp).
machine_leaks() {
	local files=()
	mapfile -d '' -t files < <(find "$@" -xdev -path "$OUT" -prune -o -type f -size -4M -print0 2>/dev/null)
	[ "${#files[@]}" -eq 0 ] || leaks "${files[@]}"
}

# A host's private /run (its TMPDIR, wireguard-go's socket dir), seen only from inside its mount namespace.
host_run_leaks() {
	local rc=0 found
	found=$(in_host "$1" timeout 60 grep -rlsF -D skip -f - /run <"$STATE/secrets.pattern") || rc=$?
	[ "$rc" -ne 124 ] || echo "($1:/run: the search timed out)"
	[ -z "$found" ] || printf '%s\n' "$found" | sed "s|^|$1:|"
}

# While the tunnel is installed: the keys are on the hosts only in their 0600 key files.
scan_hosts_installed() {
	HOST_LEAKS=$(leaks "$(host_disk vps)" "$(host_disk home)")
}

check_no_secrets() {
	local found rendered
	[ -s "$RUN/render/vps/apply.stdin" ] || fail_because "no apply.stdin to take the keys from" || return 1
	# What the operator side keeps besides the state and apply.stdin: logs, outputs, rendered public files.
	mapfile -t rendered < <(find "$RUN"/render* -type f ! -name apply.stdin ! -name cloud-init.yaml)
	found=$(
		leaks "$LOGS" "$LAB_LOG" "$RUN/snapshots" "${rendered[@]}" "$(host_disk vps)" "$(host_disk home)"
		machine_leaks /tmp /var/tmp /run /etc
		host_run_leaks vps
		host_run_leaks home
		[ -z "$HOST_LEAKS" ] || printf '%s\n' "$HOST_LEAKS"
	)
	[ -z "$found" ] || fail_because "a key appears in: $(printf '%s' "$found" | tr '\n' ' ')" || return 1
	NOTE="$(wc -l <"$STATE/secrets.pattern") secrets; $(find "$LOGS" -type f | wc -l) logs, ${#rendered[@]} rendered files, host files, each host's /run, the machine's /tmp /var/tmp /run /etc"
}
