# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The benchmark: the relay against the VPS reached directly, in one run, with the client's link shaped (unshaped
# veths run at ~10 Gbit/s against a few hundred Mbit/s for userspace WireGuard, which would measure wireguard-go,
# not the relay). Writes tests/lab/out/bench.json and prints a table.

readonly BENCH_RATE=100mbit
readonly BENCH_SECONDS=10
readonly BENCH_CONNECTS=200
readonly DIRECT_PORT=7001
readonly DIRECT_IPERF_PORT=5201

# The client's link, both ways: the visitor's access line.
shape_client_link() {
	cmd in_ns client tc qdisc replace dev eth0 root tbf rate "$BENCH_RATE" burst 256kb latency 20ms
	cmd in_ns inet tc qdisc replace dev to-client root tbf rate "$BENCH_RATE" burst 256kb latency 20ms
}

unshape_client_link() {
	cmd in_ns client tc qdisc del dev eth0 root
	cmd in_ns inet tc qdisc del dev to-client root
}

# first_tcp_forward: "PORT TARGET" of the first TCP forward of the stack.
first_tcp_forward() { awk '$1 == "tcp" {print $2, $3; exit}' "$RUN/forwards"; }

# iperf_mbit PORT SECONDS NAME [ADDRESS]: client -> ADDRESS:PORT (default VPS_PUBLIC) throughput in Mbit/s
# (received), JSON kept in the logs.
iperf_mbit() {
	local json=$LOGS/iperf-$3.json address=${4:-$VPS_PUBLIC}
	in_ns client timeout $(($2 + 20)) iperf3 -c "$address" -p "$1" -t "$2" -J >"$json" 2>>"$LAB_LOG" ||
		die "iperf3 $3 failed (see $json)"
	/usr/bin/python3 -c 'import json,sys
print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6, 1))' "$json"
}

# latency_ms PORT NAME: median TCP connect time client -> VPS_PUBLIC:PORT.
latency_ms() {
	in_ns client /usr/bin/python3 "$LAB_DIR/lib/labnet.py" latency "$VPS_PUBLIC" "$1" "$BENCH_CONNECTS" \
		>"$LOGS/latency-$2.json" || die "connect latency $2 failed"
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median_ms"])' "$LOGS/latency-$2.json"
}

elapsed_s() { ms_to_s $(($(now_ms) - $1)); }

first_byte() { probe client tcp "$VPS_PUBLIC" "$1" 1 >/dev/null; }

# A bare WireGuard tunnel between the same two hosts (wg9, 10.77.0.0/24, the same MTU), with plain routing and no
# nftables or policy rules of ours (the relay is removed first): client -> VPS -> wg9 -> home and back. What is left
# of the relay's cost when this is compared with it is ours (DNAT, the tables, the marks and the policy rules).
readonly BARE_NET=10.77.0
bare_tunnel_up() {
	local mtu=$1 vps_key home_key
	umask 077
	wg genkey >"$STATE/bare-vps.key"
	wg genkey >"$STATE/bare-home.key"
	vps_key=$(wg pubkey <"$STATE/bare-vps.key")
	home_key=$(wg pubkey <"$STATE/bare-home.key")
	cmd in_host vps wireguard-go wg9
	cmd in_host vps wg set wg9 listen-port 51830 private-key "$STATE/bare-vps.key" peer "$home_key" allowed-ips "$BARE_NET.2/32"
	cmd in_host vps ip addr add "$BARE_NET.1/24" dev wg9
	cmd in_host vps ip link set wg9 mtu "$mtu" up
	cmd in_host vps sysctl -q -w net.ipv4.ip_forward=1
	cmd in_host home wireguard-go wg9
	cmd in_host home wg set wg9 private-key "$STATE/bare-home.key" peer "$vps_key" endpoint "$VPS_PUBLIC:51830" \
		allowed-ips "$BARE_NET.0/24,192.0.2.0/24" persistent-keepalive 5
	cmd in_host home ip addr add "$BARE_NET.2/24" dev wg9
	cmd in_host home ip link set wg9 mtu "$mtu" up
	cmd in_host home ip route add 192.0.2.0/24 dev wg9
	cmd in_ns inet ip route add "$BARE_NET.0/24" via "$VPS_PUBLIC"
	wait_until 20 in_ns client ping -n -c 1 -W 1 "$BARE_NET.2" || die "the bare tunnel does not carry the client's packets"
}

bare_tunnel_down() {
	cmd in_ns inet ip route del "$BARE_NET.0/24" via "$VPS_PUBLIC"
	cmd in_host home ip link del wg9
	cmd in_host vps ip link del wg9
	rm -f "$STATE"/bare-*.key
}

# bench_many_forwards PORT: the relay's connect latency and shaped throughput on PORT once the stack holds 1000
# forwards (mostly ranges), against the stack's own, on the same forward and link. Latency in three alternating rounds
# (own, 1000, own, 1000...): the difference sought is far smaller than this machine's run-to-run spread.
bench_many_forwards() {
	local big=$RUN/Pulumi.many.yaml host round base=() many=()
	/usr/bin/python3 "$LAB_DIR/lib/labnet.py" many-forwards "$STACK" "$big" 1000
	render "$big" "$RUN/render-many" || die "render of 1000 forwards failed"
	for round in 1 2 3; do
		base+=("$(latency_ms "$1" "relay-own-$round")")
		for host in "${HOSTS[@]}"; do apply "$host" "$RUN/render-many" || die "apply of 1000 forwards on $host failed"; done
		many+=("$(latency_ms "$1" "relay-1000-$round")")
		if [ "$round" -eq 3 ]; then TPUT_MANY=$(iperf_mbit "$1" "$BENCH_SECONDS" relay-1000); fi
		for host in "${HOSTS[@]}"; do apply "$host" "$RUN/render" || die "apply of the original stack on $host failed"; done
	done
	LAT_OWN=$(printf '%s\n' "${base[@]}" | sort -g | sed -n 2p)
	LAT_MANY=$(printf '%s\n' "${many[@]}" | sort -g | sed -n 2p)
	LAT_ROUNDS="own ${base[*]}; 1000 ${many[*]}"
}

bench() {
	local port target start first_byte_s deploy_s nochange_vps_s nochange_home_s
	read -r port target < <(first_tcp_forward)
	[ -n "${port:-}" ] || die "the bench needs a TCP forward in $STACK"
	shape_client_link

	say "bench: empty hosts -> first forwarded byte (tcp/$port)"
	start=$(now_ms)
	render "$STACK" "$RUN/render" || die "render failed: $(cat "$RUN/render.err")"
	apply vps "$RUN/render" || die "apply on vps failed"
	apply home "$RUN/render" || die "apply on home failed"
	WAIT_STEP=0.05 wait_until 60 first_byte "$port" || die "no forwarded byte within 60 s"
	first_byte_s=$(elapsed_s "$start")
	host_ssh vps check "$(cat "$RUN/render/vps/check.cmd")" || die "check.cmd failed"
	deploy_s=$(elapsed_s "$start")

	say "bench: no-change apply"
	start=$(now_ms)
	apply vps "$RUN/render" || die "second apply on vps failed"
	nochange_vps_s=$(elapsed_s "$start")
	start=$(now_ms)
	apply home "$RUN/render" || die "second apply on home failed"
	nochange_home_s=$(elapsed_s "$start")

	say "bench: connect latency ($BENCH_CONNECTS connects each)"
	spawn vps "$LOGS/services-vps.log" /usr/bin/python3 "$HOST_LIB/labnet.py" serve "tcp:$DIRECT_PORT"
	wait_until 10 grep -q serving "$LOGS/services-vps.log" || die "the direct service did not start"
	local lat_relay lat_direct
	lat_relay=$(latency_ms "$port" relay)
	lat_direct=$(latency_ms "$DIRECT_PORT" direct)

	say "bench: iperf3 ${BENCH_SECONDS}s each, client link $BENCH_RATE"
	kill "$HOME_SERVICES_PID"
	wait_until 5 pids_gone "$HOME_SERVICES_PID" || die "the home services do not stop"
	spawn home "$LOGS/iperf-server-home.log" iperf3 -s -p "$target"
	spawn vps "$LOGS/iperf-server-vps.log" iperf3 -4 -s -p "$DIRECT_IPERF_PORT"
	wait_until 10 in_host home bash -c "exec 3<>/dev/tcp/127.0.0.1/$target" || die "iperf3 does not listen at home"
	wait_until 10 in_host vps bash -c "exec 3<>/dev/tcp/127.0.0.1/$DIRECT_IPERF_PORT" || die "iperf3 does not listen on the vps"
	local tput_relay tput_direct tput_relay6 raw_relay raw_direct raw_bare mtu
	tput_relay=$(iperf_mbit "$port" "$BENCH_SECONDS" relay)
	tput_direct=$(iperf_mbit "$DIRECT_IPERF_PORT" "$BENCH_SECONDS" direct)
	tput_relay6=$(iperf_mbit "$port" "$BENCH_SECONDS" relay-ipv6 "$VPS_PUBLIC6")
	say "bench: the relay holding 1000 forwards (mostly ranges), same forward, same link"
	bench_many_forwards "$port"
	unshape_client_link
	say "bench: iperf3 5s each, unshaped (what wireguard-go itself manages)"
	raw_relay=$(iperf_mbit "$port" 5 relay-unshaped)
	raw_direct=$(iperf_mbit "$DIRECT_IPERF_PORT" 5 direct-unshaped)
	say "bench: a bare WireGuard tunnel between the same hosts, no rules of ours, unshaped"
	mtu=$(awk -F' = ' '$1 == "MTU" {print $2}' "$RUN/render/vps/files/etc/wireguard/wg0.conf")
	remove home "$RUN/render" || die "remove on home failed"
	remove vps "$RUN/render" || die "remove on vps failed"
	bare_tunnel_up "$mtu"
	raw_bare=$(iperf_mbit "$target" 5 bare-unshaped "$BARE_NET.2")
	bare_tunnel_down

	/usr/bin/python3 - "$OUT/bench.json" <<-EOF | tee -a "$LAB_LOG"
		import json, sys
		def ratio(a, b): return round(a / b, 3) if b else None
		r = {
		    "stack": "$STACK",
		    "forward": "tcp/$port -> home:$target",
		    "client_link": "tbf rate $BENCH_RATE (both ways)",
		    "throughput_mbit": {"relay": $tput_relay, "direct": $tput_direct, "ratio": ratio($tput_relay, $tput_direct)},
		    "throughput_ipv6_mbit": {"relay_ipv6": $tput_relay6, "relay_ipv4": $tput_relay, "ratio": ratio($tput_relay6, $tput_relay)},
		    "relay_with_1000_forwards": {"throughput_mbit": $TPUT_MANY, "throughput_ratio_to_base": ratio($TPUT_MANY, $tput_relay),
		                                 "connect_latency_median_ms": $LAT_MANY, "connect_latency_own_stack_ms": $LAT_OWN,
		                                 "connect_latency_delta_ms": round($LAT_MANY - $LAT_OWN, 3),
		                                 "connect_latency_rounds_ms": "$LAT_ROUNDS"},
		    "throughput_unshaped_mbit": {"relay": $raw_relay, "direct": $raw_direct, "ratio": ratio($raw_relay, $raw_direct),
		                                 "bare_wireguard": $raw_bare, "relay_to_bare_ratio": ratio($raw_relay, $raw_bare)},
		    "connect_latency_median_ms": {"relay": $lat_relay, "direct": $lat_direct, "ratio": ratio($lat_relay, $lat_direct),
		                                  "connects": $BENCH_CONNECTS},
		    "empty_hosts_to_first_forwarded_byte_s": $first_byte_s,
		    "empty_hosts_to_first_forwarded_byte_covers": "render + apply vps + apply home + first TCP answer at the client",
		    "deploy_with_check_s": $deploy_s,
		    "no_change_apply_s": {"vps": $nochange_vps_s, "home": $nochange_home_s},
		}
		json.dump(r, open(sys.argv[1], "w"), indent=2)
		t, u, l = r["throughput_mbit"], r["throughput_unshaped_mbit"], r["connect_latency_median_ms"]
		v, m = r["throughput_ipv6_mbit"], r["relay_with_1000_forwards"]
		print(f"{'':40} {'relay':>10} {'compared':>10} {'ratio':>7}")
		print(f"{'TCP throughput, Mbit/s (shaped), direct':40} {t['relay']:>10} {t['direct']:>10} {t['ratio']:>7}")
		print(f"{'TCP connect, median ms, direct':40} {l['relay']:>10} {l['direct']:>10} {l['ratio']:>7}")
		print(f"{'IPv6 visitor vs IPv4 (shaped)':40} {v['relay_ipv6']:>10} {v['relay_ipv4']:>10} {v['ratio']:>7}")
		print(f"{'1000 forwards vs stack (shaped)':40} {m['throughput_mbit']:>10} {t['relay']:>10} {m['throughput_ratio_to_base']:>7}")
		print(f"{'1000 forwards vs stack, connect ms':40} {m['connect_latency_median_ms']:>10} {m['connect_latency_own_stack_ms']:>10} {m['connect_latency_delta_ms']:>+7}")
		print(f"{'TCP throughput (unshaped), direct':40} {u['relay']:>10} {u['direct']:>10} {u['ratio']:>7}")
		print(f"{'TCP throughput (unshaped), bare WireGuard':40} {u['relay']:>10} {u['bare_wireguard']:>10} {u['relay_to_bare_ratio']:>7}")
		print(f"empty hosts -> first forwarded byte: {r['empty_hosts_to_first_forwarded_byte_s']} s"
		      f" (with check.cmd: {r['deploy_with_check_s']} s)")
		print(f"no-change apply: vps {r['no_change_apply_s']['vps']} s, home {r['no_change_apply_s']['home']} s")
	EOF
	say "bench: wrote $OUT/bench.json"
}
