# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The checks only the boot lab can make (hosts booted with systemd): the VPS's first boot through cloud-init, the
# wg-quick@wg0 unit through apply, reboot and remove, and the timings from an empty machine to the first forwarded
# byte. Each returns non-zero and sets REASON when it fails, as in checks.sh.

readonly UNIT=wg-quick@wg0
# What the rendered sshd drop-in sets, as `sshd -T` reports it. Debian's sshd_config sets X11Forwarding yes after its
# Include line: "no" shows the drop-in (which sorts before cloud-init's 50-cloud-init.conf) is in force.
readonly SSHD_EXPECTED='kbdinteractiveauthentication no
passwordauthentication no
permitemptypasswords no
permitrootlogin without-password
x11forwarding no'

# The first boot of the VPS: cloud-init ran from the NoCloud seed without any error, planted the host key that the
# first ssh connection checked (StrictHostKeyChecking yes against vps-host-key.pub alone), installed the user-data's
# packages from the lab's mirror, wrote the sshd drop-in (in force) and turned unattended-upgrades on. It runs after
# the deployment, which started as soon as sshd answered, as Pulumi's does: the apply's wait_for_cloud_init waited.
check_first_boot() {
	local out
	host_ssh vps cloud-init-wait "timeout 600 cloud-init status --wait --long" ||
		fail_because "cloud-init status --wait: exit $? ($(grep -E '^(status|detail|errors)' "$LAST_SSH_OUT" | tr '\n' ' '))" || return 1
	host_ssh vps cloud-init-result 'cat /run/cloud-init/result.json' || fail_because "no /run/cloud-init/result.json" || return 1
	cp "$LAST_SSH_OUT" "$RUN/cloud-init.result.json"
	host_ssh vps cloud-init-status 'cat /run/cloud-init/status.json' || fail_because "no /run/cloud-init/status.json" || return 1
	cp "$LAST_SSH_OUT" "$RUN/cloud-init.status.json"
	# shellcheck disable=SC2016 # runs on the host
	host_ssh vps clock 'read -r up _ </proc/uptime && echo "$up $(date +%s.%N)"' || fail_because "cannot read the vps's clock" || return 1
	local uptime epoch
	read -r uptime epoch <"$LAST_SSH_OUT"
	BOOT_T["vps.cloud_init"]=$(/usr/bin/python3 "$LAB_DIR/lib/labnet.py" cloud-finished "$RUN/cloud-init.status.json" "$uptime" "$epoch")
	out=$(/usr/bin/python3 "$LAB_DIR/lib/labnet.py" cloud-errors "$RUN/cloud-init.result.json" "$RUN/cloud-init.status.json") ||
		fail_because "cloud-init reported: $(printf '%s' "$out" | head -n 3 | tr '\n' ';')" || return 1
	[ "$(cut -d' ' -f2- "$RUN/ssh/vps_host_ed25519_key.pub" | cut -d' ' -f1)" = "$(cut -d' ' -f2 "$RUN/render/vps-host-key.pub")" ] ||
		fail_because "known_hosts does not pin the rendered vps-host-key.pub" || return 1
	local packages
	packages=$(/usr/bin/python3 "$LAB_DIR/lib/labnet.py" cloud-packages "$RUN/render/cloud-init.yaml" | tr '\n' ' ')
	# shellcheck disable=SC2016 # runs on the host
	host_ssh vps packages "dpkg-query -W -f='\${Package} \${db:Status-Status}\n' $packages" ||
		fail_because "the user-data's packages are not all installed: $(tr '\n' ' ' <"$LAST_SSH_ERR")" || return 1
	if grep -qv ' installed$' "$LAST_SSH_OUT"; then
		fail_because "not installed: $(grep -v ' installed$' "$LAST_SSH_OUT" | tr '\n' ' ')" || return 1
	fi
	grep -q '^203\.0\.113\.10 .*"GET /.*\.deb' "$LOGS/mirror.log" || fail_because "the VPS fetched no package from the lab's mirror" || return 1
	host_ssh vps sshd-T "test -f /etc/ssh/sshd_config.d/00-home-relay.conf && sshd -T | sort" ||
		fail_because "no sshd drop-in, or sshd -T failed: $(head -c 200 "$LAST_SSH_ERR")" || return 1
	out=$(grep -E "^($(cut -d' ' -f1 <<<"$SSHD_EXPECTED" | paste -sd'|')) " "$LAST_SSH_OUT")
	[ "$out" = "$SSHD_EXPECTED" ] || fail_because "sshd -T shows: $(tr '\n' ';' <<<"$out")" || return 1
	# The running sshd too (started after cloud-init wrote the drop-in): it offers public keys only.
	out=$(ssh -F "$RUN/ssh/config" -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive \
		-o LogLevel=INFO vps true 2>&1 </dev/null) && fail_because "the vps let ssh in without a key" && return 1
	grep -q 'Permission denied (publickey)' <<<"$out" || fail_because "the running sshd answers: $(tr '\n' ' ' <<<"$out")" || return 1
	host_ssh vps unattended-upgrades 'apt-config dump APT::Periodic::Unattended-Upgrade' || return 1
	grep -q '"1"' "$LAST_SSH_OUT" || fail_because "unattended-upgrades is not on: $(cat "$LAST_SSH_OUT")" || return 1
	NOTE="cloud-init done $(span vps.start vps.cloud_init) s after power-on, no errors"
	if [ -n "${BOOT_T[apply_vps.start]:-}" ] && [ "${BOOT_T[apply_vps.start]}" -lt "${BOOT_T[vps.cloud_init]}" ]; then
		NOTE+=" (apply vps waited $(span apply_vps.start vps.cloud_init) s for it)"
	fi
	NOTE+="; host key pinned; $packages"
	NOTE+="from the lab mirror; sshd -T: ${SSHD_EXPECTED//$'\n'/, }"
}

# unit_state HOST: "ENABLED ACTIVE" of wg-quick@wg0 on HOST.
unit_state() {
	host_ssh "$1" unit-state "echo \$(systemctl is-enabled $UNIT 2>&1) \$(systemctl is-active $UNIT 2>&1)" || true
	tr -d '\n' <"$LAST_SSH_OUT"
}

check_units_active() {
	local host state bad=()
	for host in "${HOSTS[@]}"; do
		state=$(unit_state "$host")
		[ "$state" = "enabled active" ] || bad+=("$host: $UNIT is $state")
	done
	[ "${#bad[@]}" -eq 0 ] || fail_because "$(join '; ' "${bad[@]}")" || return 1
	NOTE="$UNIT enabled and active on vps and home"
}

# What home-relay may have left: its files, and the unit's enablement link.
# shellcheck disable=SC2016 # runs on the host
readonly LEFT_FILES_SCRIPT='find /etc/wireguard /etc/sysctl.d /etc/systemd/system \( -name "wg0*" -o -name "*home-relay*" -o -name "wg-quick@wg0*" \) -print 2>/dev/null || true'

# not_enabled STATE: wg-quick@wg0 is neither enabled nor active ("disabled inactive", or "failed" after a failed start).
not_enabled() {
	case "$1" in "disabled inactive" | "disabled failed") return 0 ;; *) return 1 ;; esac
}

check_units_removed() {
	local host state bad=()
	for host in "${HOSTS[@]}"; do
		state=$(unit_state "$host")
		[ "$state" = "disabled inactive" ] || bad+=("$host: $UNIT is $state")
		host_ssh "$host" left-files "$(as_root "$host" "$LEFT_FILES_SCRIPT")" || bad+=("$host: cannot list files")
		[ ! -s "$LAST_SSH_OUT" ] || bad+=("$host keeps $(tr '\n' ' ' <"$LAST_SSH_OUT")")
	done
	[ "${#bad[@]}" -eq 0 ] || fail_because "$(join '; ' "${bad[@]}")" || return 1
	NOTE="$UNIT disabled and inactive on both; no wg0*, home-relay or unit file left"
}

# A first apply that fails once the unit is started: the VPS's TUN device is unusable (/dev/null bound over
# /dev/net/tun inside the machine, as on a VPS without TUN), so wireguard-go cannot start. Apply must fail, and leave
# the host as it found it, wg-quick@wg0 not enabled (else the next boot starts a tunnel without files). (Taking the
# WireGuard port instead is no sure failure: wireguard-go binds when the interface goes up, and only logs the error.)
check_failed_first_apply() {
	local rc=0 state
	cmd in_host vps mount --bind /dev/null /dev/net/tun || fail_because "cannot hide /dev/net/tun on the vps" || return 1
	apply vps "$RUN/render" || rc=$?
	cmd in_host vps umount /dev/net/tun || fail_because "cannot give /dev/net/tun back to the vps" || return 1
	[ "$rc" -ne 0 ] || fail_because "apply succeeded without a usable TUN device" || return 1
	state=$(unit_state vps)
	not_enabled "$state" || fail_because "after the failed apply (exit $rc), $UNIT is $state: the next boot starts it" || return 1
	snapshot vps failed-apply || fail_because "snapshot of vps failed" || return 1
	same_snapshot vps pristine failed-apply || return 1
	NOTE="no usable TUN device: apply exit $rc, rolled back; $UNIT $state"
}

# deploy_timed STACK RENDERED: deploy, with the timings of each step and of the first forwarded byte.
deploy_timed() {
	local rc=0 port target
	read -r port target < <(first_tcp_forward)
	render "$1" "$2" || rc=$?
	[ "$rc" -eq 0 ] || return "$rc"
	mark apply_vps.start
	apply vps "$2" || return 1
	mark apply_vps.end
	apply home "$2" || return 1
	mark apply_home.end
	WAIT_STEP=0.05 wait_until 60 first_byte "$port" || fail_because "no forwarded byte 60 s after apply home" || return 1
	mark first_byte
	host_ssh vps check "$(cat "$2/vps/check.cmd")" || return 1
}

# mark NAME: records the instant NAME (milliseconds) for the timings.
mark() { BOOT_T[$1]=$(now_ms); }

# span FROM TO: seconds between two recorded instants ("" when one is missing).
span() {
	[ -n "${BOOT_T[$1]:-}" ] && [ -n "${BOOT_T[$2]:-}" ] || return 0
	ms_to_s $((BOOT_T[$2] - BOOT_T[$1]))
}

# span_after_cloud_init: how long apply vps ran once cloud-init was done (it starts as soon as sshd answers).
span_after_cloud_init() {
	local from=apply_vps.start
	[ -n "${BOOT_T[vps.cloud_init]:-}" ] && [ -n "${BOOT_T[apply_vps.start]:-}" ] || return 0
	[ "${BOOT_T[vps.cloud_init]}" -lt "${BOOT_T[apply_vps.start]}" ] || from=vps.cloud_init
	span "$from" apply_vps.end
}

# boot_timings: prints the timings (and with --bench writes them to out/bench.json).
boot_timings() {
	local first
	first=$(span vps.start first_byte)
	/usr/bin/python3 - "$OUT/bench.json" "$BENCH" <<-EOF | tee -a "$LAB_LOG" >&2
		import json, sys
		def num(v): return float(v) if v else None
		r = {
		    "mode": "boot", "release": "$RELEASE", "home_release": "$HOME_RELEASE", "cache": "$CACHE_STATE",
		    "image_build_s": num("$(ms_to_s "$IMAGE_BUILD_MS")"), "package_download_s": num("$(ms_to_s "$MIRROR_DOWNLOAD_MS")"),
		    "home_start_to_ssh_s": num("$(span home.start home.ssh)"),
		    "vps_start_to_ssh_pinned_key_s": num("$(span vps.start vps.ssh)"),
		    "vps_start_to_cloud_init_done_s": num("$(span vps.start vps.cloud_init)"),
		    "apply_vps_s": num("$(span apply_vps.start apply_vps.end)"),
		    "apply_vps_after_cloud_init_s": num("$(span_after_cloud_init)"),
		    "apply_home_s": num("$(span apply_vps.end apply_home.end)"),
		    "apply_home_to_first_forwarded_byte_s": num("$(span apply_home.end first_byte)"),
		    "vps_start_to_first_forwarded_byte_s": num("$first"),
		    "vps_start_to_first_forwarded_byte_covers": "nspawn start of an empty VPS, first boot with cloud-init (packages from the lab mirror), render, apply vps, apply home, first TCP answer at the client; not the package download",
		    "goal_s": 60,
		    "whole_run_s": num("$(ms_to_s $(($(now_ms) - RUN_START_MS)))"),
		}
		if sys.argv[2] == "1":
		    json.dump(r, open(sys.argv[1], "w"), indent=2)
		def s(v): return "-" if v is None else f"{v:.1f} s"
		home = "" if r["home_release"] == r["release"] else f", home Debian {r['home_release']}"
		print(f"timings (Debian {r['release']}{home}, {r['cache']} cache):")
		print(f"  image build (debootstrap)              {s(r['image_build_s']) if r['image_build_s'] else 'cached'}")
		print(f"  package download (mirror)              {s(r['package_download_s']) if r['package_download_s'] else 'cached'}")
		print(f"  home: start -> sshd answers            {s(r['home_start_to_ssh_s'])}")
		print(f"  vps: start -> sshd with the pinned key {s(r['vps_start_to_ssh_pinned_key_s'])}")
		print(f"  vps: start -> cloud-init done          {s(r['vps_start_to_cloud_init_done_s'])}")
		print(f"  apply vps (waits for cloud-init)       {s(r['apply_vps_s'])}, {s(r['apply_vps_after_cloud_init_s'])} after cloud-init done")
		print(f"  apply home                             {s(r['apply_home_s'])}")
		print(f"  empty vps -> first forwarded byte      {s(r['vps_start_to_first_forwarded_byte_s'])} (goal: 60 s)")
		print(f"  whole run (build, boot, every check)   {s(r['whole_run_s'])}")
	EOF
	[ "$BENCH" -eq 0 ] || say "bench: wrote $OUT/bench.json"
}
