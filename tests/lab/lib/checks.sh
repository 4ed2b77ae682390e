# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The lab's checks. Each returns non-zero and sets REASON when it fails; `check NAME FUNCTION` prints the line.

# expected_peer MODE FAMILY HOST: the address a service must see a visitor at (FAMILY 4 or 6): a LAN target sees
# the home server's LAN address (it is masqueraded there).
expected_peer() {
	[ "${3:-home}" = home ] || { echo "$HOME_LAN" && return; }
	case "$1/$2" in
	snat/4) echo "$VPS_TUNNEL" ;;
	snat/6) echo "$VPS_TUNNEL6" ;;
	*/4) echo "$CLIENT_ADDR" ;;
	*/6) echo "$CLIENT_ADDR6" ;;
	esac
}

# The address families of the front door for a forward to HOST: IPv4, and IPv6 unless the stack turns it off or the
# forward goes to a LAN host (IPv4 only: nothing translates IPv6 to IPv4).
families() { if [ "$HOME_TUNNEL6" = - ] || [ "${1:-home}" != home ]; then echo 4; else echo 4 6; fi; }

relay_address() { if [ "$1" = 6 ]; then echo "$VPS_PUBLIC6"; else echo "$VPS_PUBLIC"; fi; }

# forwards_answer [FILE]: from the client, every forward in FILE (default: all of the stack's) reaches its home
# service over each family, and the service sees the expected address.
forwards_answer() {
	local proto port target mode host want got bad=() family ok
	: >"$RUN/answering.new"
	while read -r proto port target mode host <&3; do
		ok=1
		for family in $(families "$host"); do
			want=$(expected_peer "$mode" "$family" "$host")
			if ! got=$(probe client "$proto" "$(relay_address "$family")" "$port" 1); then
				bad+=("$proto/$port (IPv$family): $got") && ok=0
			elif [ "$got" != "$want" ]; then
				bad+=("$proto/$port->$target (IPv$family): the service saw $got, expected $want ($mode)") && ok=0
			fi
		done
		[ "$ok" -eq 0 ] || echo "$proto $port $target $mode $host" >>"$RUN/answering.new"
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
	local proto port target mode host seen=() family
	while read -r proto port target mode host <&3; do
		for family in $(families "$host"); do seen+=("$proto/$port=$(expected_peer "$mode" "$family" "$host")"); done
	done 3<"$RUN/forwards"
	NOTE="service saw ${seen[*]}"
}

# published PROTO PORT: true when PORT is a public port of a forward of PROTO.
published() { grep -q "^$1 $2 " "$RUN/forwards"; }

check_closed() {
	local probes=("tcp $CLOSED_PORT" "udp $CLOSED_PORT" "tcp 22") proto port target mode host p bad=() got
	while read -r proto port target mode host <&3; do
		published "$proto" "$target" || probes+=("$proto $target")
		# A LAN target over IPv6: the VPS must not pass it on (it could reach nothing).
		if [ "$host" != home ] && [ "$HOME_TUNNEL6" != - ] && got=$(probe client "$proto" "$VPS_PUBLIC6" "$port" 1); then
			bad+=("$proto/$port (IPv6) to the LAN host $host answers: $got")
		fi
	done 3<"$RUN/forwards"
	mapfile -t probes < <(printf '%s\n' "${probes[@]}" | sort -u)
	local family relay tunnel
	for family in $(families); do
		relay=$(relay_address "$family")
		for p in "${probes[@]}"; do
			# shellcheck disable=SC2086 # "proto port"
			if got=$(probe client ${p% *} "$relay" ${p#* } 1); then bad+=("${p/ //} (IPv$family) answers the internet: $got"); fi
		done
	done
	# From the VPS (say it was taken over), the home answers only on the forwarded ports.
	for tunnel in "$HOME_TUNNEL" ${HOME_TUNNEL6/#-/}; do
		for proto in tcp udp; do
			if got=$(probe vps "$proto" "$tunnel" "$CLOSED_PORT" 1); then
				bad+=("$proto/$CLOSED_PORT at $tunnel answers the VPS: $got")
			fi
		done
		if in_host vps ping -n -c 1 -W 1 "$tunnel" >/dev/null 2>&1; then bad+=("the home answers ping from the VPS at $tunnel"); fi
		while read -r proto port target mode host <&3; do
			[ "$host" = home ] || [ "$tunnel" = "$HOME_TUNNEL" ] || continue
			got=$(probe vps "$proto" "$tunnel" "$target" 1) || bad+=("$proto/$target does not answer the VPS at $tunnel: $got")
		done 3<"$RUN/forwards"
	done
	[ "${#bad[@]}" -eq 0 ] || fail_because "$(join '; ' "${bad[@]}")"
	NOTE="internet (IPv$(families | sed 's/ / and IPv/')): ${probes[*]/ //} closed; VPS: only the forwarded ports answer"
}

# home_egress_via ADDRESS [SERVICE]: a service on the internet (the client's, by default over IPv4) sees the home's
# own connections (TCP and UDP) come from ADDRESS.
home_egress_via() {
	local proto got
	for proto in tcp udp; do
		got=$(probe home "$proto" "${2:-$CLIENT_ADDR}" "$CLIENT_SERVICE_PORT" 2) || fail_because "home $proto: $got" || return 1
		[ "$got" = "$1" ] || fail_because "home's $proto connection to ${2:-$CLIENT_ADDR} arrived from $got, not $1" || return 1
	done
}

# The home's own traffic: IPv4 through the carrier's NAT, IPv6 natively from its own address (never the tunnel).
check_home_egress() {
	home_egress_via "$CGNAT_WAN" || return 1
	home_egress_via "$HOME_NATIVE6" "$CLIENT_ADDR6" || return 1
	NOTE="IPv4 seen from $CGNAT_WAN, IPv6 from $HOME_NATIVE6"
}

# The carrier gives the home a new public address: the old mappings go, and the VPS learns the new one from the
# home's next packet, a keepalive at the latest: recovery takes up to one keepalive. The time is taken from the
# change itself (cgnat_change_address) to the first answer to overlapping probes of a TCP forward (every 50 ms; the
# coarser all-forwards round follows). A figure, not a criterion: the bench measures it (--bench keepalive).
check_cgnat_change() {
	local keepalive proto port target mode json first="" all
	keepalive=$(in_host home wg show wg0 persistent-keepalive | cut -f2)
	read -r proto port target mode < <(awk '$1 == "tcp"' "$RUN/answering") || true
	cgnat_change_address "$CGNAT_WAN_NEXT"
	if [ -n "${port:-}" ]; then
		json=$(recovery_json "$port" "$(expected_peer "$mode" 4)" 120) ||
			fail_because "$proto/$port did not answer within 120 s of the change" || return 1
		first=$(json_field "$json" ms)
	fi
	wait_until 120 recovered || fail_because "not recovered after 120 s: $REASON" || return 1
	all=$(($(now_ms) - CHANGED_AT_MS))
	home_egress_via "$CGNAT_WAN_NEXT" || return 1
	NOTE="$CGNAT_WAN -> $CGNAT_WAN_NEXT; ${first:+tcp/$port answered again $(ms_to_s "$first") s after the change, }all forwards by $(ms_to_s "$all") s (bound: one keepalive, $keepalive s)$(broken_from_start)"
	RECOVERY_CGNAT_MS=${first:-$all}
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
	local start took=()
	for host in "${HOSTS[@]}"; do
		start=$(now_ms)
		apply "$host" "$RUN/render-again" || fail_because "second apply on $host failed" || return 1
		took+=("$host $(elapsed_s "$start") s")
		[ "$(cat "$LAST_SSH_ERR")" = "home-relay: no change" ] || fail_because "the second apply on $host said more than \"no change\": $(tr '\n' '|' <"$LAST_SSH_ERR")" || return 1
	done
	for host in "${HOSTS[@]}"; do
		snapshot "$host" after-reapply || fail_because "snapshot of $host failed" || return 1
		same_snapshot "$host" before-reapply after-reapply || return 1
	done
	NOTE="ruleset, rules, routes, wg showconf, wireguard-go pid, files, forwarding unchanged on both; each said only \"no change\" (${took[*]}, ssh included)"
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
	printf '%s\n' "tcp $CLOSED_PORT $CLOSED_PORT transparent home" "udp $CLOSED_PORT $CLOSED_PORT transparent home" >"$added"
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

# A UDP service at home starts a flow from its forwarded port (a TURN relay sending to a peer, a game server
# registering with its master server): the internet sees it come from the VPS's address at the public port, over each
# family, and the answer finds its way back. Two forwards added for the check, served by nothing at home: one at its
# own port, one translated (public FIRST+1 to home FIRST+2); the home sends from the home port of each. (The home
# serves $CLOSED_PORT: the ports start above it.)
check_udp_from_home() {
	local first plus=$RUN/Pulumi.udp.yaml family client public from want got seen=()
	first=$(unused_ports 3)
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" add-forward "$STACK" "$plus.1" udp "$first"
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" add-forward "$plus.1" "$plus" udp "$((first + 1))" "$((first + 2))"
	render "$plus" "$RUN/render-udp" || fail_because "render with the added UDP forwards failed" || return 1
	apply vps "$RUN/render-udp" || fail_because "apply on vps failed" || return 1
	apply home "$RUN/render-udp" || fail_because "apply on home failed" || return 1
	for family in $(families); do
		client=$CLIENT_ADDR
		[ "$family" = 4 ] || client=$CLIENT_ADDR6
		want=$(relay_address "$family")
		for public in "$first" "$((first + 1))"; do
			from=$public
			[ "$public" = "$first" ] || from=$((first + 2))
			got=$(probe home udp "$client" "$CLIENT_SERVICE_PORT" 2 "$from") ||
				fail_because "home's datagram from port $from to $client got no answer: $got" || return 1
			[ "$got" = "$want" ] ||
				fail_because "home's datagram from port $from reached $client from $got, not from the relay's $want" || return 1
			grep -qxF "udp $CLIENT_SERVICE_PORT from $want port $public" "$LOGS/services-client.log" ||
				fail_because "the client saw home's datagram from port $from as $(grep -F "udp $CLIENT_SERVICE_PORT from $want" "$LOGS/services-client.log" | tail -n 1), not port $public" || return 1
			seen+=("$from->[$want]:$public")
		done
	done
	apply vps "$RUN/render" || fail_because "apply of the original stack on vps failed" || return 1
	apply home "$RUN/render" || fail_because "apply of the original stack on home failed" || return 1
	NOTE="home port -> what the client saw: ${seen[*]}"
}

# The home's WireGuard port is random, from the ephemeral ports, where forwarded UDP ranges lie too (WebRTC media,
# game servers): when it falls inside one, WireGuard's own datagrams must still leave by the home's line, not be taken
# for a UDP service's and loop into the tunnel. A UDP forward is added for the check, and the home's tunnel is moved
# onto its port; every forward must answer as before.
check_wireguard_port_in_a_forward() {
	local port plus=$RUN/Pulumi.wgport.yaml
	port=$(unused_ports 1)
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" add-forward "$STACK" "$plus" udp "$port"
	render "$plus" "$RUN/render-wgport" || fail_because "render with the added UDP forward failed" || return 1
	apply vps "$RUN/render-wgport" || fail_because "apply on vps failed" || return 1
	apply home "$RUN/render-wgport" || fail_because "apply on home failed" || return 1
	cmd in_host home wg set wg0 listen-port "$port" || fail_because "cannot move the home's tunnel to port $port" || return 1
	local start=$SECONDS
	wait_until 30 forwards_answer || fail_because "with the home's WireGuard on forwarded port udp/$port: $REASON" || return 1
	NOTE="home's WireGuard on udp/$port, a forwarded port: every forward answered $((SECONDS - start)) s later"
	# Back to a random port and the original stack.
	cmd in_host home wg set wg0 listen-port 0 || fail_because "cannot give the home's tunnel a random port again" || return 1
	apply vps "$RUN/render" || fail_because "apply of the original stack on vps failed" || return 1
	apply home "$RUN/render" || fail_because "apply of the original stack on home failed" || return 1
	wait_until 30 forwards_answer || fail_because "after the home's port went back: $REASON" || return 1
}

# unused_ports N: the first of N neighbouring ports above $CLOSED_PORT (which the home serves) that no forward of the
# stack probes, for a check's own forwards.
unused_ports() {
	local first=$((CLOSED_PORT + 1)) i clash=1
	while [ "$clash" = 1 ]; do
		clash=0
		for ((i = 0; i < $1; i++)); do
			if grep -qE "^[a-z]+ $((first + i)) " "$RUN/forwards"; then clash=1 && first=$((first + $1)) && break; fi
		done
	done
	echo "$first"
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

# secrets_pattern FILE: every secret of this run, one per line (from the state and the apply stdin of every render,
# so keys replaced by a rotation count too). 0600, like every file of the state.
secrets_pattern() {
	(umask 077 && : >"$1")
	{
		cat "$RUN"/render*/*/apply.stdin | awk '{print $2}'
		/usr/bin/python3 -c 'import json,sys
for k, v in json.load(open(sys.argv[1])).items():
    if k != "Rotation": print(v)' "$STATE/keys.json"
	} | grep -v '^$' | sort -u >"$1"
}

# leaks PATH...: files under PATH that hold a secret, except the hosts' 0600 key files.
leaks() {
	local pattern=$STATE/secrets.pattern file files rc=0
	secrets_pattern "$pattern"
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

# The home's own firewall drops by default (common: a `table inet filter` with `policy drop` on input). The deploy
# check must fail, naming the rule to add, for UDP forwards as well as TCP ones; apply warns; once the user adds the
# rule, both are content.
check_home_firewall() {
	local rule="iifname \"wg0\" ct mark 51821 accept"
	in_host home nft -f - <<-EOF || fail_because "cannot load the home's drop-by-default firewall" || return 1
		table inet filter {
			chain input {
				type filter hook input priority filter; policy drop;
				ct state established,related accept
				iif "lo" accept
				iifname "mgmt0" tcp dport 22 accept
			}
		}
	EOF
	local rc=0
	apply home "$RUN/render" || rc=1
	grep -qF "add to it: $rule" "$LAST_SSH_ERR" || rc=2
	host_ssh vps check "$(cat "$RUN/render/vps/check.cmd")" && rc=3
	local err=$LAST_SSH_ERR
	if [ "$rc" -eq 0 ]; then
		grep -qF "FAIL udp/" "$err" || rc=4
		grep -qF "FAIL tcp/" "$err" || rc=4
		grep -qF "$rule" "$err" || rc=4
	fi
	# The user's fix, at the end of their chain.
	in_host home nft add rule inet filter input "$rule"
	if [ "$rc" -eq 0 ]; then
		host_ssh vps check "$(cat "$RUN/render/vps/check.cmd")" || rc=5
		apply home "$RUN/render" || rc=6
		! grep -q warning "$LAST_SSH_ERR" || rc=7
	fi
	in_host home nft delete table inet filter
	case "$rc" in
	0) NOTE="the check failed with: $(grep -m 1 'FAIL udp/' "$err" | cut -c1-160)...; it passed after the user added the rule" ;;
	1) fail_because "apply on home failed with the firewall in place" ;;
	2) fail_because "apply did not warn about the home's firewall: $(tr '\n' '|' <"$LAST_SSH_ERR")" ;;
	3) fail_because "the deploy check passed although the home's firewall drops every forward" ;;
	4) fail_because "the deploy check failed without naming the TCP and UDP forwards and the rule to add: $(tr '\n' '|' <"$err")" ;;
	5) fail_because "the deploy check still fails after the rule was added: $(tr '\n' '|' <"$LAST_SSH_ERR")" ;;
	6) fail_because "apply on home failed after the rule was added" ;;
	7) fail_because "apply still warns after the rule was added: $(tr '\n' '|' <"$LAST_SSH_ERR")" ;;
	esac
	[ "$rc" -eq 0 ]
}

# A stack of 1000 forwards, mostly ranges (issue 11): it renders, both rulesets pass `nft -c` on their hosts, both
# hosts apply it (times reported: the goal is under 2 s each), a forward from the generated ones answers with the
# visitor's address over both families, the stack's own forwards still do, a second apply changes nothing; then
# the original stack goes back.
check_many_forwards() {
	local big=$RUN/Pulumi.many.yaml dir=$RUN/render-many host file start took=() again=() port=50000
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" many-forwards "$STACK" "$big" 1000
	render "$big" "$dir" || fail_because "render of 1000 forwards failed: $(head -c 300 "$dir.err")" || return 1
	for host in "${HOSTS[@]}"; do
		for file in "$dir/$host/files/etc/wireguard/"*.nft; do
			in_host "$host" nft -c -f /dev/stdin <"$file" >>"$LAB_LOG" 2>&1 || fail_because "nft -c refuses $host's ${file##*/}" || return 1
		done
	done
	for host in "${HOSTS[@]}"; do
		start=$(now_ms)
		apply "$host" "$dir" || fail_because "apply of 1000 forwards on $host failed: $(tail -n 2 "$LAST_SSH_ERR" | tr '\n' ' ')" || return 1
		took+=("$host $(elapsed_s "$start") s")
	done
	spawn home "$LOGS/services-many.log" /usr/bin/python3 "$HOST_LIB/labnet.py" serve "tcp:$port" "tcp:40401" "udp:40401"
	local service=$SPAWNED rc=0
	wait_until 10 grep -q serving "$LOGS/services-many.log" || rc=1
	printf '%s\n' "tcp $port $port transparent home" "tcp 40401 40401 transparent home" "udp 40401 40401 transparent home" >"$RUN/forwards.many"
	[ "$rc" -ne 0 ] || wait_until 20 forwards_answer "$RUN/forwards.many" || rc=2
	kill "$service" 2>/dev/null || true
	[ "$rc" -ne 0 ] || forwards_answer || rc=3
	if [ "$rc" -eq 0 ]; then
		for host in "${HOSTS[@]}"; do
			start=$(now_ms)
			apply "$host" "$dir" || rc=4
			again+=("$host $(elapsed_s "$start") s")
			[ "$(cat "$LAST_SSH_ERR")" = "home-relay: no change" ] || rc=5
		done
	fi
	back_to "$RUN/render" || return 1
	case "$rc" in
	1) fail_because "the service on the generated ports did not start" ;;
	2) fail_because "a generated forward does not answer: $REASON" ;;
	3) fail_because "with 1000 forwards, the stack's own forwards do not all answer: $REASON" ;;
	4 | 5) fail_because "a second apply of 1000 forwards failed or changed something: $(tr '\n' '|' <"$LAST_SSH_ERR")" ;;
	esac
	[ "$rc" -eq 0 ] || return 1
	NOTE="apply.cmd vps $(wc -c <"$dir/vps/apply.cmd") bytes, home $(wc -c <"$dir/home/apply.cmd") bytes; apply ${took[*]} (goal: under 2 s each); no-change apply ${again[*]}; tcp/$port, tcp/40401, udp/40401 answer"
}
