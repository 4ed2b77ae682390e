# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# Interrupted applies (issue 8): an apply is stopped at a chosen step, the way an operator's apply really stops
# (SIGKILL, SIGTERM, or the ssh connection dropping), then a plain re-run must bring the host to the very state an
# uninterrupted apply reaches, with no copy of a key left behind.
#
# To stop an apply at a known step, the lab makes one host tool slow for one call: a wrapper bound over the tool in
# that host's own mount namespace sleeps before running the real tool when its arguments match a pattern, and
# leaves a marker when it starts sleeping. The rendered scripts know nothing of this.

readonly SLOW_DIR=/run/lab-slow
readonly SLOW_SECONDS=4

# slow_tools_install HOST: copies of wg, wg-quick and nft, and wrappers bound over the real ones (disarmed).
slow_tools_install() {
	local host=$1 tool path
	in_host "$host" mkdir -p "$SLOW_DIR"
	for tool in wg wg-quick nft; do
		path=$(in_host "$host" bash -c "command -v $tool") || return 1
		in_host "$host" cp "$path" "$SLOW_DIR/real-$tool"
		# shellcheck disable=SC2016 # the wrapper's own variables
		in_host "$host" bash -c 'cat >"$1" <<-WRAPPER
			#!/bin/bash
			# lab: sleeps once before the real tool when armed with an argument pattern (see tests/lab/lib/interrupt.sh).
			arm=$2/$3.arm
			if [ -f "\$arm" ] && [[ "\$*" == \$(cat "\$arm") ]]; then
				rm -f "\$arm"
				: >"$2/$3.hit"
				sleep $4
			fi
			exec "$2/real-$3" "\$@"
		WRAPPER
		chmod 0755 "$1"' wrapper "$SLOW_DIR/$tool" "$SLOW_DIR" "$tool" "$SLOW_SECONDS"
		in_host "$host" mount --bind "$SLOW_DIR/$tool" "$path"
	done
}

slow_tools_remove() {
	local host=$1 tool path
	for tool in wg wg-quick nft; do
		path=$(in_host "$host" bash -c "command -v $tool") || continue
		in_host "$host" umount "$path" 2>/dev/null || true
	done
	in_host "$host" rm -rf "$SLOW_DIR"
}

# arm HOST TOOL PATTERN: the next call of TOOL whose arguments match the bash PATTERN sleeps first.
arm() {
	in_host "$1" rm -f "$SLOW_DIR/$2.hit"
	# shellcheck disable=SC2016 # expanded by the host's bash
	in_host "$1" bash -c 'printf "%s\n" "$2" >"$1"' arm "$SLOW_DIR/$2.arm" "$3"
}

# apply_pids HOST: the processes of apply sessions on HOST (the hosts share a PID namespace: tell them by network).
apply_pids() {
	local own pid
	own=$(in_host "$1" readlink /proc/self/ns/net)
	for pid in $(pgrep -f home-relay-apply); do
		[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "$own" ] || echo "$pid"
	done
}

no_apply_running() { [ -z "$(apply_pids "$1")" ]; }

# descendants PID: PID and every process under it.
descendants() {
	local child
	echo "$1"
	for child in $(pgrep -P "$1"); do descendants "$child"; done
}

# interrupted_apply HOST RENDERED TOOL PATTERN HOW: runs HOST's apply of RENDERED, and when TOOL is called with
# arguments matching PATTERN, stops it: HOW is kill (SIGKILL to the whole ssh session on the host: nothing can clean
# up), term (SIGTERM to the whole session, as a service manager stopping it sends) or drop (the operator's ssh
# client dies, as with a closed laptop or a lost connection).
interrupted_apply() {
	local host=$1 dir=$2 tool=$3 pattern=$4 how=$5 ssh_pid pid pgid
	arm "$host" "$tool" "$pattern"
	# Its stderr: bash's own "Killed" notice about the lab's ssh would land on the terminal otherwise.
	apply "$host" "$dir" 2>/dev/null &
	ssh_pid=$!
	if ! wait_until 60 in_host "$host" test -e "$SLOW_DIR/$tool.hit"; then
		wait "$ssh_pid" || true
		fail_because "apply on $host never reached $tool $pattern" || return 1
	fi
	case "$how" in
	kill | term)
		# sshd starts each session's command as a process group leader: the group is the whole apply.
		pid=$(apply_pids "$host" | head -n 1)
		pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
		kill "-${how^^}" -- "-$pgid"
		;;
	drop)
		# The ssh client itself (somewhere under the background job), as when a laptop's lid closes.
		for pid in $(descendants "$ssh_pid"); do
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != ssh ] || kill -KILL "$pid"
		done
		;;
	esac
	wait "$ssh_pid" 2>/dev/null || true
	# Whatever the interrupted run still does on the host (a rollback, the slow tool finishing) ends by itself.
	if ! wait_until 30 no_apply_running "$host"; then
		fail_because "the interrupted apply on $host never ended: $(apply_pids "$host" | xargs -r ps -o pid=,stat=,wchan:16=,args= -p | cut -c1-100 | tr '\n' ';')" || return 1
	fi
}

# A correct state to compare with: an uninterrupted apply of RENDERED, snapshotted as NAME (config mode).
reference_state() {
	local dir=$1 name=$2 host
	for host in "${HOSTS[@]}"; do
		apply "$host" "$dir" || fail_because "apply of $dir on $host failed" || return 1
	done
	wait_until 60 forwards_answer || fail_because "no forward answers after applying $dir: $REASON" || return 1
	for host in "${HOSTS[@]}"; do snapshot "$host" "$name" config || return 1; done
}

# back_to RENDERED: both hosts as an uninterrupted apply of RENDERED leaves them (the starting point of a scenario).
back_to() {
	local host
	for host in "${HOSTS[@]}"; do apply "$host" "$1" || fail_because "apply of $1 on $host failed" || return 1; done
}

# scenario NAME HOST RENDERED REFERENCE TOOL PATTERN HOW: from the original stack, HOST's apply of RENDERED is
# interrupted; the other host gets it normally; then a plain re-run on HOST must reach REFERENCE.
scenario() {
	local name=$1 host=$2 dir=$3 reference=$4 tool=$5 pattern=$6 how=$7 other
	back_to "$RUN/render" || return 1
	for other in "${HOSTS[@]}"; do
		[ "$other" = "$host" ] || apply "$other" "$dir" || fail_because "$name: apply on $other failed" || return 1
	done
	interrupted_apply "$host" "$dir" "$tool" "$pattern" "$how" || { REASON="$name: $REASON" && return 1; }
	apply "$host" "$dir" || fail_because "$name: the re-run of apply on $host failed: $(tail -n 2 "$LAST_SSH_ERR" | tr '\n' ' ')" || return 1
	wait_until 60 forwards_answer "$RUN/forwards.$reference" ||
		fail_because "$name: after the re-run, forwards do not answer: $REASON" || return 1
	snapshot "$host" "$name" config || return 1
	same_snapshot "$host" "$reference" "$name" || { REASON="$name: the re-run did not restore the state: $REASON" && return 1; }
	local found
	found=$(leaks "$(host_disk "$host")"; host_run_leaks "$host")
	[ -z "$found" ] || fail_because "$name: a key copy is left on $host: $found" || return 1
}

# reset HOST: after a failed scenario, HOST from scratch (remove, then the original stack), so the next one starts clean.
reset() {
	remove "$1" "$RUN/render" && apply "$1" "$RUN/render"
}

check_interrupted_apply() {
	local rotated=$RUN/Pulumi.rotated.yaml plus=$RUN/Pulumi.plus.yaml host failed=() spec
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" set "$STACK" "$rotated" keyRotation interrupted
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" add-forwards "$STACK" "$plus" "$CLOSED_PORT"
	render "$rotated" "$RUN/render-rotated" || fail_because "render of the rotated stack failed" || return 1
	render "$plus" "$RUN/render-plus" || fail_because "render of the stack with a port added failed" || return 1
	cp "$RUN/forwards" "$RUN/forwards.rotated"
	{
		cat "$RUN/forwards"
		printf '%s\n' "tcp $CLOSED_PORT $CLOSED_PORT transparent home" "udp $CLOSED_PORT $CLOSED_PORT transparent home"
	} >"$RUN/forwards.plus"
	reference_state "$RUN/render-rotated" rotated || return 1
	reference_state "$RUN/render-plus" plus || return 1
	for host in "${HOSTS[@]}"; do slow_tools_install "$host" || fail_because "cannot install the slow tools on $host" || return 1; done
	# NAME HOST RENDER REFERENCE TOOL PATTERN HOW, one per line.
	while IFS='|' read -r -a spec; do
		REASON=""
		if ! scenario "${spec[@]}"; then
			failed+=("$REASON")
			reset "${spec[1]}" >/dev/null 2>&1 || true
		fi
	done <<-EOF
		kill-before-restart|vps|$RUN/render-rotated|rotated|wg-quick|down wg0|kill
		term-before-restart|home|$RUN/render-rotated|rotated|wg-quick|down wg0|term
		kill-during-restart|home|$RUN/render-rotated|rotated|wg|set wg0 private-key*|kill
		kill-during-reload|vps|$RUN/render-plus|plus|nft|-f /etc/wireguard/wg0-fwd.nft|kill
		dropped-connection|vps|$RUN/render-rotated|rotated|wg-quick|down wg0|drop
	EOF
	for host in "${HOSTS[@]}"; do slow_tools_remove "$host"; done
	back_to "$RUN/render" || failed+=("$REASON")
	[ "${#failed[@]}" -eq 0 ] || fail_because "$(join '; ' "${failed[@]}")" || return 1
	NOTE="killed or stopped before the restart, killed during it and during the firewall reload, connection dropped: each re-run restored the uninterrupted state; no key copy left"
}
