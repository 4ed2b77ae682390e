# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# `./relay status` in the lab (check 12): the very status command the CLI renders, run on the lab's VPS over the
# pinned ssh path, as `./relay status` runs it on a real one.

# The name the stack gives the relay resolves, on the VPS, to the relay's public address: a hosts file of the VPS's
# own (its holder binds it over /etc/hosts), standing in for the Cloudflare record.
lab_hosts_file() {
	install -d -m 0755 "$RUN/hosts/vps"
	{
		cat /etc/hosts
		lab_dns_records
	} >"$RUN/hosts/vps/etc-hosts"
}

# The stack's dnsName as its A record (and its AAAA record, with the IPv6 front door) would resolve, in hosts syntax.
lab_dns_records() {
	local name
	name=$(lab_dns_name)
	[ -n "$name" ] || return 0
	printf '# the lab: the stack'"'"'s dnsName, as its A and AAAA records would resolve\n'
	printf '%s %s\n' "$VPS_PUBLIC" "$name"
	[ "$HOME_TUNNEL6" = - ] || printf '%s %s\n' "$VPS_PUBLIC6" "$name"
}

# The relay's IPv6 as the stack's ipv6Address output gives it: empty without the IPv6 front door.
lab_relay_address6() { if [ "$HOME_TUNNEL6" = - ]; then echo ""; else echo "$VPS_PUBLIC6"; fi; }

lab_dns_name() {
	/usr/bin/python3 -c 'import sys, yaml
print((yaml.safe_load(open(sys.argv[1])) or {}).get("config", {}).get("home-relay:dnsName") or "")' "$STACK"
}

# The status commands for this run's stack: text (what a person reads) and JSON (what the counters are read from).
status_commands() {
	local format args
	install -d -m 0755 "$RUN/status"
	for format in text json; do
		args=(status --stack "$STACK" --vps-address "$VPS_PUBLIC")
		[ "$HOME_TUNNEL6" = - ] || args+=(--vps-address6 "$VPS_PUBLIC6")
		[ "$format" = text ] || args+=(--json)
		printf '+ %s\n' "${args[*]}" >>"$LAB_LOG"
		timeout 120 dotnet "$CLI_DLL" "${args[@]}" >"$RUN/status/$format.cmd" 2>"$RUN/status/$format.err" || return 1
	done
}

# run_status text|json LABEL: the status command on the vps; STATUS_RC is its exit status, STATUS_OUT its stdout.
# The text report goes into the lab log.
run_status() {
	STATUS_RC=0
	host_ssh vps "status-$2" "$(cat "$RUN/status/$1.cmd")" || STATUS_RC=$?
	STATUS_OUT=$LAST_SSH_OUT
	if [ "$1" = text ]; then
		printf '  status (%s), exit %d:\n' "$2" "$STATUS_RC" >>"$LAB_LOG"
		sed 's/^/  | /' "$STATUS_OUT" >>"$LAB_LOG"
	fi
}

status_verdict() { tail -n 1 "$STATUS_OUT"; }

status_is_ok() {
	run_status text "$1"
	[ "$STATUS_RC" -eq 0 ] && [ "$(status_verdict)" = ok ]
}

# The forward the visitor uses: the stack's first TCP forward (else its first), at its first public port.
visited_forward() {
	awk '$1 == "tcp" {print $1, $2; found = 1; exit} END {if (!found) exit 1}' "$RUN/forwards" ||
		awk 'NR == 1 {print $1, $2}' "$RUN/forwards"
}

# compare_counters BEFORE AFTER PROTO PORT N: after N new connections to PROTO/PORT, its counters moved (N new
# connections, at least 3 packets each: SYN, SYN-ACK, ACK) and no other forward's did. Prints the note, or the problems.
compare_counters() {
	/usr/bin/python3 - "$@" <<-'EOF'
		import json, sys
		before, after = (json.load(open(p)) for p in sys.argv[1:3])
		proto, port, n = sys.argv[3], int(sys.argv[4].split("-")[0]), int(sys.argv[5])
		counters = ("newConnections", "packets", "bytes")
		old = {(f["protocol"], f["port"]): f for f in before["forwards"]}
		problems, note = [], ""
		for doc in (before, after):
		    if doc["verdict"] != "ok":
		        problems.append("a JSON status said %s: %s" % (doc["verdict"], "; ".join(doc["reasons"])))
		for f in after["forwards"]:
		    key = (f["protocol"], f["port"])
		    moved = {c: f[c] - old[key][c] for c in counters}
		    name = "%s/%d" % key
		    if key == (proto, port):
		        if moved["newConnections"] != n or moved["packets"] < 3 * n or moved["bytes"] <= 0:
		            problems.append("%s after %d connections moved by %s" % (name, n, moved))
		        note = "%s: +%d new connections, +%d packets, +%d bytes" % (name, moved["newConnections"], moved["packets"], moved["bytes"])
		    elif any(moved.values()):
		        problems.append("%s moved too: %s" % (name, moved))
		tunnel = {k: after["tunnel"][k] - before["tunnel"][k] for k in ("bytesToHome", "bytesFromHome")}
		if min(tunnel.values()) <= 0:
		    problems.append("the tunnel's byte counts did not grow: %s" % tunnel)
		print("; ".join(problems) if problems else note + "; no other forward moved")
		sys.exit(1 if problems else 0)
	EOF
}

# relay_status [HOST_KEY_FILE]: `./relay status --stack NAME` as an operator runs it, with a stand-in `pulumi` on PATH
# that gives the lab's stack outputs (the VPS at its management address, the address ssh reaches it at, and its host
# key, or HOST_KEY_FILE's) and the operator's key as the secret sshPrivateKey. RELAY_RC is its exit status,
# RELAY_OUT/RELAY_ERR its output files. Its temporary files go to a directory of the lab's, which must end empty.
relay_status() {
	local dir=$RUN/status/relay stack_name=${STACK##*/Pulumi.} key=${1:-$RUN/ssh/vps_host_ed25519_key.pub}
	stack_name=${stack_name%.yaml}
	install -d -m 0700 "$dir" "$dir/bin" "$dir/tmp"
	printf '{\n  "dnsName": "%s",\n  "ipv4Address": "%s",\n  "ipv6Address": "%s",\n  "vpsHostKey": "%s"\n}\n' \
		"$(lab_dns_name)" "${MGMT_ADDR[vps]}" "$(lab_relay_address6)" "$(cut -d' ' -f1,2 "$key")" >"$dir/outputs.json"
	cat >"$dir/bin/pulumi" <<-EOF
		#!/bin/bash
		case "\$*" in
		"stack output --json --stack $stack_name") cat "$dir/outputs.json" ;;
		"config get sshPrivateKey --stack $stack_name") cat "$RUN/ssh/id_ed25519" ;;
		*) echo "the lab's pulumi: unexpected arguments: \$*" >&2 && exit 1 ;;
		esac
	EOF
	chmod 0755 "$dir/bin/pulumi"
	RELAY_RC=0 RELAY_OUT=$dir/out RELAY_ERR=$dir/err
	printf '+ ./relay status --stack %s (pulumi: %s)\n' "$stack_name" "$dir/bin/pulumi" >>"$LAB_LOG"
	PATH=$dir/bin:$PATH TMPDIR=$dir/tmp HOME_RELAY_RENDER_DLL=$CLI_DLL timeout 120 "$REPO/relay" status --stack "$stack_name" \
		>"$RELAY_OUT" 2>"$RELAY_ERR" || RELAY_RC=$?
	printf '  -> exit %d: %s\n' "$RELAY_RC" "$(tail -n 1 "$RELAY_OUT")$(tr '\n' ' ' <"$RELAY_ERR")" >>"$LAB_LOG"
	[ -z "$(ls -A "$dir/tmp")" ] || fail_because "./relay status left files in its temporary directory: $(ls -A "$dir/tmp")"
}

# The operator's path: ./relay status reaches the VPS with the pinned host key only. The stand-in outputs name the
# VPS by its management address, which the DNS name does not resolve to: degraded, saying so (exit 1).
check_relay_status() {
	relay_status || return 1
	[ "$RELAY_RC" -eq 1 ] && [ "$(tail -n 1 "$RELAY_OUT")" = "degraded: $(lab_dns_name) resolves to $VPS_PUBLIC, not to ${MGMT_ADDR[vps]} alone" ] ||
		fail_because "./relay status: exit $RELAY_RC, '$(tail -n 1 "$RELAY_OUT")' $(head -c 300 "$RELAY_ERR")" || return 1
	# Another host key (the home's) pinned for the VPS: refused, no output from the VPS, exit 3.
	relay_status "$RUN/ssh/home_host_ed25519_key.pub" || return 1
	[ "$RELAY_RC" -eq 3 ] && [ ! -s "$RELAY_OUT" ] && grep -q "cannot reach root@" "$RELAY_ERR" ||
		fail_because "./relay status with a wrong host key: exit $RELAY_RC, $(head -c 300 "$RELAY_OUT" "$RELAY_ERR")" || return 1
}

# ok with exit 0; the counters of the one forward a visitor used, and of no other; down with exit 2 while the home
# is powered off (and ok again once it is back).
check_status() {
	status_commands || fail_because "the CLI did not render the status command: $(head -c 300 "$RUN/status/"*.err)" || return 1
	status_is_ok first || fail_because "status said '$(status_verdict)' (exit $STATUS_RC), expected ok (exit 0)" || return 1

	local proto port i got note
	read -r proto port < <(visited_forward)
	run_status json before
	[ "$STATUS_RC" -eq 0 ] || fail_because "the JSON status exited $STATUS_RC: $(head -c 300 "$STATUS_OUT")" || return 1
	cp "$STATUS_OUT" "$RUN/status/before.json"
	for i in 1 2 3; do
		got=$(probe client "$proto" "$VPS_PUBLIC" "${port%-*}" 1) || fail_because "the visitor's $proto/$port connection $i failed: $got" || return 1
	done
	run_status json after
	cp "$STATUS_OUT" "$RUN/status/after.json"
	note=$(compare_counters "$RUN/status/before.json" "$RUN/status/after.json" "$proto" "$port" 3) ||
		fail_because "counters: $note" || return 1

	# The power cut of check 5a, without the boot: the VPS's tunnel is up and its last handshake recent, but nothing
	# at home answers.
	local down_rc down_verdict start
	power_off home
	start=$(now_ms)
	run_status text home-off
	down_rc=$STATUS_RC down_verdict=$(status_verdict)
	local took=$(($(now_ms) - start))
	power_on home
	wait_until 120 status_is_ok home-back || fail_because "status not ok 120 s after the home came back: '$(status_verdict)'" || return 1
	[ "$down_rc" -eq 2 ] && [[ $down_verdict == "down: "* ]] ||
		fail_because "with the home off, status said '$down_verdict' (exit $down_rc), expected down (exit 2)" || return 1
	# ./relay status, where the stack file is the repository's own (as it is for an operator).
	local relay_note="./relay status not run: the stack file is not the repository's"
	if [ "$STACK" = "$REPO/$(basename "$STACK")" ]; then
		check_relay_status || return 1
		relay_note="./relay status: exit 1 for DNS, exit 3 for a wrong host key"
	fi
	NOTE="ok, exit 0; $note; $relay_note; home off: exit 2 in $(ms_to_s "$took") s, '$down_verdict'"
}
