# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# What the operator does to the hosts: render with the core CLI, deliver over ssh exactly as Pulumi's remote
# commands do (`ssh root@host "$(cat apply.cmd)" < apply.stdin`), snapshot their state; and what a host does by
# itself: boot, run its services.

SSH_SEQ=0
LAST_SSH_OUT=""
LAST_SSH_ERR=""

# host_ssh HOST LABEL COMMAND [STDIN_FILE]: runs COMMAND on HOST over the pinned ssh path. Its stdout and stderr are
# kept apart under $LOGS/ssh (LAST_SSH_OUT and LAST_SSH_ERR name the files); the lab log records the call and its status.
host_ssh() {
	local host=$1 label=$2 command=$3 input=${4:-/dev/null} base rc=0
	SSH_SEQ=$((SSH_SEQ + 1))
	base=$(printf '%s/ssh/%03d-%s-%s' "$LOGS" "$SSH_SEQ" "$host" "$label")
	LAST_SSH_OUT=$base.out
	LAST_SSH_ERR=$base.err
	timeout 180 ssh -F "$RUN/ssh/config" "$host" "$command" <"$input" >"$base.out" 2>"$base.err" || rc=$?
	printf '+ ssh %s@%s (%s, %d bytes) < %s -> exit %d, %s.{out,err}\n' \
		"$(host_user "$host")" "$host" "$label" "${#command}" "${input#"$RUN"/}" "$rc" "${base#"$RUN"/}" >>"$LAB_LOG"
	return "$rc"
}

# The CLI, built once per run from the working tree into the lab's own artifacts directory, so that the build
# neither uses nor disturbs the bin/obj of someone building the same projects meanwhile.
build_cli() {
	local build=$OUT/build
	# No build servers: they would outlive the run holding the lab's lock (fd 9), refusing the next run.
	cmd timeout 600 dotnet build "$REPO/components/HomeRelay.Cli/HomeRelay.Cli.csproj" -c Release \
		--artifacts-path "$build" --disable-build-servers -nologo -v quiet 9>&- || die "the CLI does not build (see $LAB_LOG)"
	CLI_DLL=$(find "$build/bin/HomeRelay.Cli" -name home-relay-render.dll -print -quit)
	[ -n "$CLI_DLL" ] || die "no home-relay-render.dll under $build"
}

# render STACK OUTDIR: the CLI's render; its stdout/stderr land in OUTDIR.log/.err; returns the CLI's status.
render() {
	local stack=$1 dir=$2 rc=0
	rm -rf "$dir"
	printf '+ render --stack %s --out %s\n' "$stack" "${dir#"$RUN"/}" >>"$LAB_LOG"
	timeout 120 dotnet "$CLI_DLL" render --stack "$stack" --state "$STATE" --vps-address "$VPS_PUBLIC" \
		--home-host "$HOME_LAN" --out "$dir" >"$dir.log" 2>"$dir.err" || rc=$?
	printf '  -> exit %d\n' "$rc" >>"$LAB_LOG"
	return "$rc"
}

# apply HOST RENDERED: the host's apply.cmd with apply.stdin, as the Pulumi remote command sends it.
apply() { host_ssh "$1" apply "$(cat "$2/$1/apply.cmd")" "$2/$1/apply.stdin"; }
remove() { host_ssh "$1" remove "$(cat "$2/$1/remove.cmd")"; }

# deploy STACK RENDERED: what `pulumi up` does to the hosts. Returns 2 (touching no host) when the CLI refuses the
# settings, 1 when a host step fails.
deploy() {
	local rc=0
	render "$1" "$2" || rc=$?
	[ "$rc" -eq 0 ] || return "$rc"
	apply vps "$2" || return 1
	apply home "$2" || return 1
	host_ssh vps check "$(cat "$2/vps/check.cmd")" || return 1
}

# A host's state as the idempotence and teardown checks compare it. Keys never leave the host: the key lines of
# `wg showconf` are masked remotely (whether the running keys are the files' ones is printed instead), files are
# listed by mode and hash. SNAPSHOT_MODE=config leaves out what differs between two correct runs that restarted the
# tunnel: the daemon's pid, the home's random listen port, the home endpoint the VPS learned.
# shellcheck disable=SC2016 # runs on the host
readonly SNAPSHOT_SCRIPT='export LC_ALL=C
# A host without nftables has an empty ruleset (packages stay installed after remove).
echo "## nft -s list ruleset"; if command -v nft >/dev/null; then nft -s list ruleset; fi
echo "## ip rule"; ip -4 rule show; ip -6 rule show
# Link-local (fe80::) addresses are made anew with each interface: not part of the state.
echo "## ip route show table all"; ip -4 route show table all; ip -6 route show table all | grep -v "fe80::"
echo "## wg showconf wg0"
if ip link show wg0 >/dev/null 2>&1; then
	if [ "$SNAPSHOT_MODE" = config ]; then volatile="ListenPort|Endpoint"; else volatile="-"; fi
	wg showconf wg0 | sed -E "s/^(PrivateKey|PresharedKey) = .*/\1 = (masked)/; /^($volatile) = /d"
	echo "public key $(wg show wg0 public-key)"
	key=$(wg pubkey </etc/wireguard/wg0.key 2>/dev/null) || key=none
	if [ "$key" = "$(wg show wg0 public-key)" ]; then echo "private key: as in wg0.key"; else echo "private key: NOT as in wg0.key"; fi
	if [ "$(wg show wg0 preshared-keys | cut -f2)" = "$(cat /etc/wireguard/wg0.psk 2>/dev/null)" ]; then
		echo "preshared key: as in wg0.psk"
	else
		echo "preshared key: NOT as in wg0.psk"
	fi
fi
echo "## wireguard-go"
self=$(readlink /proc/self/ns/net)
for pid in $(pgrep -x wireguard-go); do
	if [ "$(readlink "/proc/$pid/ns/net")" = "$self" ]; then
		if [ "$SNAPSHOT_MODE" = config ]; then echo running; else echo "pid $pid"; fi
	fi
done
echo "## forwarding"; sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding
echo "## files"
find /etc/wireguard /etc/sysctl.d -type f 2>/dev/null | sort | while read -r f; do
	echo "$f $(stat -c %a "$f") $(sha256sum <"$f" | cut -c1-16)"
done'

# as_root HOST SCRIPT: SCRIPT as a command that runs as root over HOST's ssh (through sudo -n, as the rendered
# commands do, when the operator's account is not root).
as_root() {
	if [ "$(host_user "$1")" = root ]; then
		printf '%s' "$2"
	else
		printf 'sudo -n bash -c %q' "$2"
	fi
}

# snapshot HOST NAME [full|config]: saves HOST's state as $RUN/snapshots/HOST.NAME.
snapshot() {
	mkdir -p "$RUN/snapshots"
	host_ssh "$1" "snapshot-$2" "$(as_root "$1" "SNAPSHOT_MODE=${3:-full}; $SNAPSHOT_SCRIPT")" || return 1
	cp "$LAST_SSH_OUT" "$RUN/snapshots/$1.$2"
}

# same_snapshot HOST A B: true when the two snapshots are equal; else REASON holds the first differences.
same_snapshot() {
	local a=$RUN/snapshots/$1.$2 b=$RUN/snapshots/$1.$3
	cmp -s "$a" "$b" && return 0
	REASON="$1 differs: $(diff "$a" "$b" | grep '^[<>]' | head -n 4 | tr '\n' ';' | tr -s ' \t' ' ')"
	diff -u "$a" "$b" >>"$LAB_LOG" || true
	return 1
}

# holder_boot HOST: what systemd does at boot on a host that was set up: systemd-sysctl applies /etc/sysctl.d,
# then wg-quick@wg0 (enabled by apply) starts the tunnel from the installed files.
holder_boot() {
	local host=$1
	# shellcheck disable=SC2016 # runs on the host
	in_host "$host" bash -c 'for f in /etc/sysctl.d/*.conf; do [ ! -f "$f" ] || sysctl -q -p "$f"; done'
	if in_host "$host" test -f /etc/wireguard/wg0.conf; then
		cmd in_host "$host" env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go wg-quick up wg0
	fi
}

# holder_reboot HOST: power cut (processes, namespace, veths gone), then the host comes back with its disk and boots.
holder_reboot() {
	ns_down "$1"
	host_up "$1"
	holder_boot "$1"
}

# power_off HOST: the power cut, whatever the host is (a booted machine's PID 1 killed and its disk unmounted, or a
# holder's processes); its namespace and veths go too.
power_off() {
	if [ "$DRIVER" = machine ]; then machine_down "$1"; fi
	ns_down "$1"
}

# power_on HOST: the host comes back with its disk and boots (systemd, or what it would do), services included.
power_on() {
	host_up "$1"
	if [ "$DRIVER" = holder ]; then holder_boot "$1"; fi
	if [ "$1" = home ]; then home_services; fi
}

# reboot HOST: the host reboots (the driver's way) and its services start again.
reboot() {
	"${DRIVER}_reboot" "$1" || return 1
	if [ "$1" = home ]; then home_services; fi
}

# The services at home: one per forwarded target port, plus one that is not forwarded (tcp and udp on
# $CLOSED_PORT). Each answers with the address it sees the peer at.
home_services() {
	local specs=()
	# shellcheck disable=SC2153 # STACK is the run's stack file (tests/lab/run)
	read -r -a specs < <(/usr/bin/python3 "$LAB_DIR/lib/labnet.py" services "$STACK" home)
	specs+=("tcp:$CLOSED_PORT" "udp:$CLOSED_PORT")
	HOME_SERVICE_STARTS=$((${HOME_SERVICE_STARTS:-0} + 1))
	local log=$LOGS/services-home.$HOME_SERVICE_STARTS.log
	local fallbacks=(--fallback "$HOME_TUNNEL")
	[ "$HOME_TUNNEL6" = - ] || fallbacks+=(--fallback "$HOME_TUNNEL6")
	spawn home "$log" /usr/bin/python3 "$HOST_LIB/labnet.py" serve "${fallbacks[@]}" \
		--udp-reply "$UDP_REPLY" "${specs[@]}"
	HOME_SERVICES_PID=$SPAWNED
	wait_until 10 grep -q serving "$log" || die "the home services did not start (see $log)"
}

# The services of the LAN targets (on the nas), on their target ports.
nas_services() {
	local specs=()
	read -r -a specs < <(/usr/bin/python3 "$LAB_DIR/lib/labnet.py" services "$STACK" "$NAS_ADDR")
	[ "${#specs[@]}" -gt 0 ] || return 0
	spawn nas "$LOGS/services-nas.log" /usr/bin/python3 "$LAB_DIR/lib/labnet.py" serve "${specs[@]}"
	wait_until 10 grep -q serving "$LOGS/services-nas.log" || die "the nas services did not start"
}

# A service on the internet (in client) that tells the home where its connections come from.
client_service() {
	spawn client "$LOGS/services-client.log" \
		/usr/bin/python3 "$LAB_DIR/lib/labnet.py" serve "tcp:$CLIENT_SERVICE_PORT" "udp:$CLIENT_SERVICE_PORT"
	wait_until 10 grep -q serving "$LOGS/services-client.log" || die "the client service did not start"
}

# probe WHERE PROTO HOST PORT: what the service answers (the address it saw us at), from namespace or host WHERE.
probe() {
	local where=$1
	shift
	if [ "$where" = vps ] || [ "$where" = home ]; then
		in_host "$where" /usr/bin/python3 "$HOST_LIB/labnet.py" probe "$@" 2>&1
	else
		in_ns "$where" /usr/bin/python3 "$LAB_DIR/lib/labnet.py" probe "$@" 2>&1
	fi
}
