# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# Two benchmarks of issue 8 and the address change of check 4:
#   --bench keepalive: per keepalive value, recovery after the CGNAT's public address changes (at a random moment)
#                      and the tunnel's idle traffic, counted at the CGNAT's wan -> out/bench-keepalive.json
#   --bench mtu:       per tunnel MTU and link MTU of the path between home and VPS (a black hole: ICMP
#                      "fragmentation needed" / "packet too big" dropped), whether a 5 MB download through the relay
#                      passes or stalls -> out/bench-mtu.json
# Figures only: nothing here passes or fails on a time (the machine is shared); a bench dies only when the lab breaks.

# What the keepalive bench varies and how often it measures (the environment can narrow it while working on it).
read -r -a KA_VALUES <<<"${HOME_RELAY_BENCH_KEEPALIVES:-1 5 10 25}"
readonly KA_TRIALS=${HOME_RELAY_BENCH_TRIALS:-7}
# The idle traffic is counted over whole rekey periods (from one handshake to the Nth next), so that the handshakes
# WireGuard makes about every 2 minutes count exactly as often as they happen.
readonly KA_REKEYS=${HOME_RELAY_BENCH_REKEYS:-3}
read -r -a MTU_TUNNEL <<<"${HOME_RELAY_BENCH_MTUS:-1420 1380 1280 1240 1200}"
read -r -a MTU_LINK <<<"${HOME_RELAY_BENCH_LINKS:-1500 1400 1300}"
readonly MTU_BYTES=5000000
readonly MTU_TIMEOUT=${HOME_RELAY_BENCH_FETCH_TIMEOUT:-10}
readonly MTU_TRIES=2

CGNAT_ADDR=$CGNAT_WAN
CHANGED_AT_MS=0

measure() { /usr/bin/python3 "$LAB_DIR/lib/measure.py" "$@"; }

# stack_setting STACK KEY DEFAULT: the stack's home-relay:KEY, or DEFAULT.
stack_setting() { measure setting "$@"; }

# cgnat_change_address NEW: the carrier gives the home a new public address. The old address goes and the new one
# comes in one `ip -batch` (a few milliseconds); CHANGED_AT_MS is the moment it returns: the change, from which
# recovery is measured. The flush of the carrier's connection table follows (masquerade has already dropped the
# mappings of the old address).
cgnat_change_address() {
	local new=$1 start
	start=$(now_ms)
	printf '%s\n' "address del $CGNAT_ADDR/24 dev wan" "address add $new/24 dev wan" \
		"route replace default via 198.51.100.1" | in_ns cgnat ip -batch - >>"$LAB_LOG" 2>&1 ||
		die "cannot change the cgnat's address to $new"
	CHANGED_AT_MS=$(now_ms)
	printf '+ cgnat: %s -> %s at %s (ip -batch took %d ms)\n' "$CGNAT_ADDR" "$new" "$CHANGED_AT_MS" \
		$((CHANGED_AT_MS - start)) >>"$LAB_LOG"
	CGNAT_ADDR=$new
	cmd in_ns cgnat conntrack -F
}

# recovery_json PORT WANT TIMEOUT: from the client, overlapping TCP probes of VPS_PUBLIC:PORT every 50 ms until one
# is answered with WANT; prints measure.py's JSON ("ms" since CHANGED_AT_MS).
recovery_json() {
	in_ns client /usr/bin/python3 "$LAB_DIR/lib/measure.py" recover "$VPS_PUBLIC" "$1" "$2" "$CHANGED_AT_MS" "$3"
}

json_field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# --- keepalive ---

# Counters for the tunnel's UDP flow at the CGNAT's wan (on the wire between the carrier and the internet); nft
# counts IP packets: IP and UDP headers plus the WireGuard message, without link-layer framing.
tunnel_counters_up() {
	local wg_port=$1
	in_ns cgnat nft -f - <<-EOF
		table inet hrbench {
			counter tunnel_out {}
			counter tunnel_in {}
			chain forward {
				type filter hook forward priority filter - 10; policy accept;
				oifname "wan" ip daddr $VPS_PUBLIC udp dport $wg_port counter name "tunnel_out"
				iifname "wan" ip saddr $VPS_PUBLIC udp sport $wg_port counter name "tunnel_in"
			}
		}
	EOF
}

# idle_sample: "MS OUT_PACKETS OUT_BYTES IN_PACKETS IN_BYTES HOME_RX HOME_TX VPS_RX VPS_TX" now.
idle_sample() {
	local ms counters home vps
	ms=$(now_ms)
	counters=$(in_ns cgnat nft -j list counters table inet hrbench | measure counters |
		awk '{v[$1] = $2 " " $3} END {print v["tunnel_out"], v["tunnel_in"]}')
	home=$(in_host home wg show wg0 transfer | awk '{print $2, $3}')
	vps=$(in_host vps wg show wg0 transfer | awk '{print $2, $3}')
	echo "$ms $counters $home $vps"
}

latest_handshake() { in_host home wg show wg0 latest-handshakes | awk '{print $2}'; }

# next_handshake: waits (up to 240 s) until the home's latest handshake changes; false if it does not.
next_handshake() {
	local was
	was=$(latest_handshake)
	WAIT_STEP=0.2 wait_until 240 handshake_after "$was"
}

handshake_after() { [ "$(latest_handshake)" != "$1" ]; }

# idle_traffic K: samples the counters at KA_REKEYS + 1 consecutive handshakes of the home (its rekeys, about every
# 2 minutes), nothing else crossing the tunnel; each period between two handshakes is a line of idle.tsv.
idle_traffic() {
	local k=$1 period prev now
	next_handshake || die "keepalive $k: no handshake within 240 s"
	prev=$(idle_sample)
	for period in $(seq 1 "$KA_REKEYS"); do
		next_handshake || die "keepalive $k: no handshake within 240 s"
		now=$(idle_sample)
		echo "$k $period $prev $now" >>"$BENCH_DIR/idle.tsv"
		prev=$now
	done
}

answers_visitor() { [ "$(probe client tcp "$VPS_PUBLIC" "$1" 1)" = "$CLIENT_ADDR" ]; }

# recovery_trials K PORT: KA_TRIALS times: a forward answers (which also restarts the home's keepalive timer: it
# runs from the last packet through the tunnel), a random wait of 0 to K s, the address changes, and the time until
# a forward answers the visitor again is taken. (Above 10 s the cycle is not the keepalive alone: the VPS answers
# a visitor's last packet with a keepalive of its own 10 s later, and the home retries a handshake 15 s after data
# that went unanswered.)
recovery_trials() {
	local k=$1 port=$2 trial delay json next
	for trial in $(seq 1 "$KA_TRIALS"); do
		wait_until 60 answers_visitor "$port" || die "keepalive $k: tcp/$port does not answer before trial $trial"
		delay=$(shuf -i "0-$((k * 1000 - 1))" -n 1)
		sleep "$(ms_to_s "$delay")"
		if [ "$CGNAT_ADDR" = "$CGNAT_WAN" ]; then next=$CGNAT_WAN_NEXT; else next=$CGNAT_WAN; fi
		cgnat_change_address "$next"
		json=$(recovery_json "$port" "$CLIENT_ADDR" 120) || die "keepalive $k: no recovery within 120 s (trial $trial)"
		say "bench: keepalive $k s, trial $trial: changed ${delay} ms after an answer, recovered in $(json_field "$json" ms) ms"
		echo "$k $trial $delay $(json_field "$json" ms) $(json_field "$json" first_probe_ms) $(json_field "$json" probes)" \
			>>"$BENCH_DIR/recovery.tsv"
	done
}

bench_keepalive() {
	local port k derived wg_port
	read -r port _ < <(awk '$1 == "tcp" && $4 == "transparent" {print $2, $3; exit}' "$RUN/forwards")
	[ -n "${port:-}" ] || die "the keepalive bench needs a transparent TCP forward in $STACK"
	wg_port=$(stack_setting "$STACK" wireguardPort 51820)
	BENCH_DIR=$RUN/bench-keepalive
	mkdir -p "$BENCH_DIR"
	: >"$BENCH_DIR/recovery.tsv"
	: >"$BENCH_DIR/idle.tsv"
	tunnel_counters_up "$wg_port"
	for k in "${KA_VALUES[@]}"; do
		derived=$RUN/Pulumi.keepalive-$k.yaml
		/usr/bin/python3 "$LAB_DIR/lib/labnet.py" set "$STACK" "$derived" keepalive "$k"
		say "bench: keepalive $k s: deploy"
		deploy "$derived" "$RUN/render-keepalive-$k" || die "keepalive $k: the deployment failed"
		[ "$(in_host home wg show wg0 persistent-keepalive | cut -f2)" = "$k" ] || die "keepalive $k: not set at home"
		wait_until 60 answers_visitor "$port" || die "keepalive $k: tcp/$port does not answer"
		say "bench: keepalive $k s: idle traffic over $KA_REKEYS rekey periods (about $((KA_REKEYS * 2)) minutes)"
		idle_traffic "$k"
		say "bench: keepalive $k s: $KA_TRIALS address changes"
		recovery_trials "$k" "$port"
	done
	/usr/bin/python3 - "$BENCH_DIR" "$OUT/bench-keepalive.json" "$STACK" "$port" "$KA_TRIALS" "$KA_REKEYS" \
		<<-'EOF' | tee -a "$LAB_LOG"
		import json, statistics, sys
		bench_dir, out, stack, port, trials, rekeys = sys.argv[1:7]
		rows = {}
		for line in open(f"{bench_dir}/recovery.tsv"):
		    k, trial, delay, ms, first, probes = map(int, line.split())
		    rows.setdefault(k, {"recovery": [], "idle": []})["recovery"].append(
		        {"trial": trial, "changed_ms_after_answer": delay, "recovered_ms": ms, "first_probe_ms": first, "probes": probes})
		for line in open(f"{bench_dir}/idle.tsv"):
		    v = list(map(int, line.split()))
		    k, period, a, b = v[0], v[1], v[2:11], v[11:20]
		    d = [y - x for x, y in zip(a, b)]
		    seconds = d[0] / 1000
		    rows.setdefault(k, {"recovery": [], "idle": []})["idle"].append({
		        "period": period, "seconds": seconds,
		        "wan_out": {"packets": d[1], "bytes": d[2]}, "wan_in": {"packets": d[3], "bytes": d[4]},
		        "wg_transfer": {"home_rx": d[5], "home_tx": d[6], "vps_rx": d[7], "vps_tx": d[8]},
		        "packets_per_day": round((d[1] + d[3]) * 86400 / seconds),
		        "bytes_per_day": round((d[2] + d[4]) * 86400 / seconds)})
		def spread(values):
		    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
		result = {
		    "stack": stack, "forward": f"tcp/{port}, answered with the visitor's address",
		    "recovery_method": "the cgnat's public address changes (ip -batch: old address deleted, new added; then "
		        "conntrack -F) changed_ms_after_answer (random, 0..keepalive) after a forward last answered; recovered_ms is the time "
		        "from the change until the first of TCP probes started every 50 ms from the client is answered with the "
		        "client's own address",
		    "idle_method": "nft counters at the cgnat's wan for udp to/from the VPS's WireGuard port: IP packets (IP + UDP "
		        "header + WireGuard message, no link-layer framing), over whole rekey periods (one handshake of the home "
		        "to the next); wg_transfer is `wg show wg0 transfer` on both ends over the same period (WireGuard "
		        "messages only)",
		    "trials_per_value": int(trials), "rekey_periods_per_value": int(rekeys), "values": []}
		for k in sorted(rows):
		    r = rows[k]
		    rec = [t["recovered_ms"] / 1000 for t in r["recovery"]]
		    bpd = [p["bytes_per_day"] for p in r["idle"]]
		    ppd = [p["packets_per_day"] for p in r["idle"]]
		    idle_s = sum(p["seconds"] for p in r["idle"])
		    total_bytes = sum(p["wan_out"]["bytes"] + p["wan_in"]["bytes"] for p in r["idle"])
		    total_packets = sum(p["wan_out"]["packets"] + p["wan_in"]["packets"] for p in r["idle"])
		    result["values"].append({
		        "keepalive_s": k, "recovery_s": spread(rec) if rec else None, "trials": r["recovery"],
		        "idle_seconds": round(idle_s, 1),
		        "bytes_per_day": round(total_bytes * 86400 / idle_s) if idle_s else None,
		        "packets_per_day": round(total_packets * 86400 / idle_s) if idle_s else None,
		        "bytes_per_day_by_period": spread(bpd) if bpd else None,
		        "packets_per_day_by_period": spread(ppd) if ppd else None,
		        "periods": r["idle"]})
		json.dump(result, open(out, "w"), indent=2)
		print(f"{'keepalive':>9}  {'recovery s: median':>18} {'min-max':>13} {'n':>2}  {'idle: pkts/day':>14} {'MB/day':>7} {'MB/day by period':>17} {'idle s':>6}")
		for v in result["values"]:
		    r, b = v["recovery_s"], v["bytes_per_day_by_period"]
		    rec = f"{r['median']:>18.2f} {r['min']:>6.2f}-{r['max']:<6.2f} {r['n']:>2}" if r else f"{'-':>18} {'':>13} {'':>2}"
		    idle = (f"{v['packets_per_day']:>14} {v['bytes_per_day'] / 1e6:>7.3f} {b['min'] / 1e6:>8.3f}-{b['max'] / 1e6:<8.3f} {v['idle_seconds']:>6.0f}"
		            if b else "")
		    print(f"{v['keepalive_s']:>7} s  {rec}  {idle}")
	EOF
	say "bench: wrote $OUT/bench-keepalive.json"
}

# --- mtu ---

# A black hole on the path between home and VPS, as on many lines: the routers there (cgnat, inet) drop the ICMP
# that would tell a sender its packet was too big. The dropped messages are counted.
black_hole_up() {
	local where
	for where in cgnat inet; do
		in_ns "$where" nft -f - <<-'EOF'
			table inet hrblackhole {
				counter too_big {}
				chain output {
					type filter hook output priority filter - 10; policy accept;
					icmp type destination-unreachable icmp code frag-needed counter name "too_big" drop
					icmpv6 type packet-too-big counter name "too_big" drop
				}
				chain forward {
					type filter hook forward priority filter - 10; policy accept;
					icmp type destination-unreachable icmp code frag-needed counter name "too_big" drop
					icmpv6 type packet-too-big counter name "too_big" drop
				}
			}
		EOF
	done
}

too_big_dropped() {
	local where total=0 packets
	for where in cgnat inet; do
		packets=$(in_ns "$where" nft -j list counters table inet hrblackhole | measure counters | awk '{print $2}')
		total=$((total + packets))
	done
	echo "$total"
}

# path_mtu L: the link between the CGNAT and the internet (both ends of the veth pair) carries L bytes; the hosts
# forget any path MTU they may have learnt.
path_mtu() {
	cmd in_ns cgnat ip link set dev wan mtu "$1"
	cmd in_ns inet ip link set dev to-cgnat mtu "$1"
	local host
	for host in "${HOSTS[@]}"; do
		cmd in_host "$host" ip -4 route flush cache
		cmd in_host "$host" ip -6 route flush cache
	done
}

fetch_json() { in_ns client /usr/bin/python3 "$LAB_DIR/lib/measure.py" fetch "$@"; }
fetch_ok() { fetch_json "$@" | grep -q '"ok": true'; }

bench_mtu() {
	local port target m l family derived tunnel6 host relay try json dropped
	read -r port target < <(first_tcp_forward)
	[ -n "${port:-}" ] || die "the mtu bench needs a TCP forward in $STACK"
	BENCH_DIR=$RUN/bench-mtu
	mkdir -p "$BENCH_DIR"
	: >"$BENCH_DIR/results.tsv"
	# The home's service: each connection asks for N bytes and gets them.
	kill "$HOME_SERVICES_PID"
	wait_until 5 pids_gone "$HOME_SERVICES_PID" || die "the home services do not stop"
	spawn home "$LOGS/blob-home.log" /usr/bin/python3 "$LAB_DIR/lib/measure.py" blob "$target"
	wait_until 10 grep -q serving "$LOGS/blob-home.log" || die "the blob service did not start"
	black_hole_up
	for m in "${MTU_TUNNEL[@]}"; do
		derived=$RUN/Pulumi.mtu-$m.yaml
		/usr/bin/python3 "$LAB_DIR/lib/labnet.py" set "$STACK" "$derived" mtu "$m"
		# Below 1280 the tunnel cannot carry IPv6 (the settings refuse it).
		if [ "$m" -lt 1280 ]; then /usr/bin/python3 "$LAB_DIR/lib/labnet.py" set "$derived" "$derived" ipv6 false; fi
		read -r _ _ _ tunnel6 < <(/usr/bin/python3 "$LAB_DIR/lib/labnet.py" tunnel "$derived")
		path_mtu 1500
		say "bench: tunnel mtu $m: deploy"
		render "$derived" "$RUN/render-mtu-$m" || die "mtu $m: render failed: $(cat "$RUN/render-mtu-$m.err")"
		apply vps "$RUN/render-mtu-$m" || die "mtu $m: apply on vps failed"
		apply home "$RUN/render-mtu-$m" || die "mtu $m: apply on home failed"
		for host in "${HOSTS[@]}"; do
			[ "$(in_host "$host" cat /sys/class/net/wg0/mtu)" = "$m" ] || die "mtu $m: wg0 on $host has another MTU"
		done
		wait_until 30 fetch_ok "$VPS_PUBLIC" "$port" 1 2 || die "mtu $m: the forward does not answer"
		for l in "${MTU_LINK[@]}"; do
			path_mtu "$l"
			for family in 4 6; do
				if [ "$family" = 6 ] && [ "$tunnel6" = - ]; then continue; fi
				relay=$(relay_address "$family")
				for try in $(seq 1 "$MTU_TRIES"); do
					dropped=$(too_big_dropped)
					json=$(fetch_json "$relay" "$port" "$MTU_BYTES" "$MTU_TIMEOUT")
					dropped=$(($(too_big_dropped) - dropped))
					say "bench: tunnel mtu $m, link mtu $l, IPv$family, try $try: $json (ICMP too-big dropped: $dropped)"
					echo "$m $l $family $try $dropped $json" >>"$BENCH_DIR/results.tsv"
				done
			done
		done
	done
	path_mtu 1500
	/usr/bin/python3 - "$BENCH_DIR/results.tsv" "$OUT/bench-mtu.json" "$STACK" "$port" "$MTU_BYTES" "$MTU_TIMEOUT" \
		<<-'EOF' | tee -a "$LAB_LOG"
		import json, statistics, sys
		tsv, out, stack, port, size, timeout = sys.argv[1:7]
		cells = {}
		for line in open(tsv):
		    m, l, family, attempt, dropped, rest = line.split(maxsplit=5)
		    r = json.loads(rest)
		    r.update({"try": int(attempt), "icmp_too_big_dropped": int(dropped)})
		    cells.setdefault((int(m), int(l), int(family)), []).append(r)
		result = {
		    "stack": stack, "download": f"{size} bytes from the home service (tcp/{port}) through the relay to the client",
		    "timeout_s": float(timeout),
		    "path": "the cgnat's wan veth pair (cgnat wan <-> inet to-cgnat) set to the link MTU; the tunnel runs over IPv4 "
		        "(wireguard-go: DF set); ICMP frag-needed and packet-too-big dropped at cgnat and inet (a black hole)",
		    "cells": []}
		for (m, l, family), tries in sorted(cells.items(), key=lambda c: (-c[0][0], -c[0][1], c[0][2])):
		    passed = sum(t["ok"] for t in tries)
		    secs = [t["seconds"] for t in tries if t["ok"]]
		    result["cells"].append({
		        "tunnel_mtu": m, "link_mtu": l, "family": f"IPv{family}", "tunnel_packet_max": m + 60,
		        "fits": m + 60 <= l, "result": "pass" if passed == len(tries) else "stall" if passed == 0 else "mixed",
		        "passed": passed, "tries": tries, "median_seconds_of_passes": statistics.median(secs) if secs else None})
		json.dump(result, open(out, "w"), indent=2)
		links = sorted({c["link_mtu"] for c in result["cells"]}, reverse=True)
		families = sorted({c["family"] for c in result["cells"]})
		print(f"{'tunnel mtu':>10} {'+60':>5}  " + "  ".join(f"{'link ' + str(l) + ' ' + f:>16}" for l in links for f in families))
		for m in sorted({c["tunnel_mtu"] for c in result["cells"]}, reverse=True):
		    row = []
		    for l in links:
		        for f in families:
		            c = next((c for c in result["cells"] if (c["tunnel_mtu"], c["link_mtu"], c["family"]) == (m, l, f)), None)
		            row.append(f"{'-' if c is None else c['result'] + ' ' + str(c['passed']) + '/' + str(len(c['tries'])):>16}")
		    print(f"{m:>10} {m + 60:>5}  " + "  ".join(row))
	EOF
	say "bench: wrote $OUT/bench-mtu.json"
}
