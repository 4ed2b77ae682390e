# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The booted-machine host driver (--boot): vps and home are Debian systems booted with systemd under systemd-nspawn,
# each inside its lab network namespace (wired as in the fast lab), on an overlay whose lower layer is the cached
# image (lib/images.sh) and whose upper layer is the host's "disk" for this run, $RUN/hosts/HOST/upper. A reboot
# restarts nspawn on the same disk; the rest of the lab sees the same functions as with the holder driver:
# machine_up, machine_down (power cut), machine_reboot, machine_exec, machine_spawn/_unspawn, machine_disk.
#
# Before its first boot, each disk gets what the provider or the installer would have put there: the VPS a NoCloud
# seed with the exact user-data the core renders and a meta-data document (instance-id, hostname, the operator's
# key); the home a non-root operator account with passwordless sudo and its SSH host key. Both get an sshd drop-in
# that listens on the management address only (the VPS's SSH port is closed to the internet by Hetzner's firewall in
# production, and the home's port 22 is a forward target in the example stack).

readonly HOST_LIB_IN_MACHINE=/run/lab
readonly LOGS_IN_MACHINE=/run/lab-logs
readonly HOME_OPERATOR=admin
declare -A BOOT_T=()
# The image each host boots (--release for the VPS, --home-release for the home).
declare -A HOST_IMAGE=()

machine_dir() { printf '%s/hosts/%s' "$RUN" "$1"; }

# machine_mount HOST: the host's disk as an overlay of the image (kept mounted across the host's reboots).
machine_mount() {
	local dir
	dir=$(machine_dir "$1")
	! mountpoint -q "$dir/root" || return 0
	install -d -m 0755 "$dir/upper" "$dir/work" "$dir/root"
	cmd mount -t overlay "$(ns "$1")-disk" -o "lowerdir=${HOST_IMAGE[$1]},upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
}

machine_unmount() {
	local root
	root=$(machine_dir "$1")/root
	if mountpoint -q "$root"; then cmd umount "$root" || cmd umount -l "$root"; fi
}

# sshd listens on the management address only, as the lab's sshd does in the fast lab.
machine_sshd_listen() {
	install -d -m 0755 "$1/etc/ssh/sshd_config.d"
	cat >"$1/etc/ssh/sshd_config.d/90-lab-management.conf" <<-EOF
		# The lab: the operator reaches this host on its management address only (tests/lab/lib/machine.sh).
		ListenAddress ${MGMT_ADDR[$2]}:22
	EOF
}

# The VPS as Hetzner hands it over: an image, the user-data and the metadata; cloud-init does the rest at first boot.
machine_provision_vps() {
	local root=$1 seed=$1/var/lib/cloud/seed/nocloud
	install -d -m 0700 "$seed"
	install -m 0600 "$RUN/render/cloud-init.yaml" "$seed/user-data"
	cat >"$seed/meta-data" <<-EOF
		instance-id: lab-$(basename "$RUN")-$(date +%s)
		local-hostname: relay-vps
		public-keys:
		  - $(cat "$RUN/ssh/id_ed25519.pub")
	EOF
	# The lab's stand-in for the stack's DNS records, as the fast lab's VPS has them (see lab_hosts_file).
	lab_dns_records >>"$root/etc/hosts"
	machine_sshd_listen "$root" vps
}

# The home server as its owner installed it: Debian without cloud-init running, an operator account with sudo.
machine_provision_home() {
	local root=$1 user=$HOME_OPERATOR
	echo home >"$root/etc/hostname"
	printf '127.0.1.1\thome\n' >>"$root/etc/hosts"
	touch "$root/etc/cloud/cloud-init.disabled"
	install -m 0600 "$RUN/ssh/home_host_ed25519_key" "$root/etc/ssh/ssh_host_ed25519_key"
	install -m 0644 "$RUN/ssh/home_host_ed25519_key.pub" "$root/etc/ssh/ssh_host_ed25519_key.pub"
	cmd chroot "$root" useradd --create-home --shell /bin/bash --groups sudo "$user" || return 1
	install -m 0440 /dev/stdin "$root/etc/sudoers.d/90-$user" <<<"$user ALL=(ALL) NOPASSWD:ALL"
	install -d -m 0700 "$root/home/$user/.ssh"
	install -m 0600 "$RUN/ssh/id_ed25519.pub" "$root/home/$user/.ssh/authorized_keys"
	cmd chroot "$root" chown -R "$user:$user" "/home/$user/.ssh"
	machine_sshd_listen "$root" home
}

# machine_child HOST: the machine's PID 1 (nspawn's child in a PID namespace of its own), saved in $RUN/HOST.init.
machine_child() {
	local nspawn child
	nspawn=$(cat "$RUN/$1.nspawn")
	for child in $(pgrep -P "$nspawn"); do
		if [ "$(readlink "/proc/$child/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
			echo "$child" >"$RUN/$1.init"
			return 0
		fi
	done
	return 1
}

# machine_cgroups HOST: the machine's own cgroup in each hierarchy that nspawn and the machine's systemd use (the
# unified one and the named "systemd" v1 one, on this machine's hybrid layout). nspawn --keep-unit moves itself to
# "supervisor" and the machine to "payload" below the cgroup it starts in: started in the root cgroup, two machines
# would share "payload", and each machine's systemd would kill the other's processes when it stops a unit.
machine_cgroups() {
	awk -v name="$(ns "$1")" '/ - cgroup2 / || / - cgroup .*name=systemd/ {print $5 "/home-relay-lab/" name}' /proc/self/mountinfo
}

# machine_cgroups_remove HOST: the machine's cgroups, empty once it is down (deepest first).
machine_cgroups_remove() {
	local dir
	for dir in $(machine_cgroups "$1"); do
		[ ! -d "$dir" ] || find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
		rmdir "${dir%/*}" 2>/dev/null || true
	done
}

# machine_start HOST: boots the machine on its disk, in its network namespace and cgroups. nspawn runs in the
# background as a child of the lab's shell (so that `wait` gives its exit status: 133 after a reboot).
machine_start() {
	local host=$1 root pid cgroups
	root=$(machine_dir "$host")/root
	rm -f "$RUN/$host.init"
	mapfile -t cgroups < <(machine_cgroups "$host")
	printf '+ systemd-nspawn --boot -D %s (%s, cgroups %s)\n' "$root" "$(ns "$host")" "${cgroups[*]}" >>"$LAB_LOG"
	# --register=no --keep-unit: there is no systemd (nor machined) on the machine running the lab.
	# CAP_NET_ADMIN and /dev/net/tun: wireguard-go. API_VFS_WRITABLE=network: net sysctls (ip_forward, rp_filter).
	(
		for dir in "${cgroups[@]}"; do
			mkdir -p "$dir"
			echo "$BASHPID" >"$dir/cgroup.procs"
		done
		exec env SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn --boot --quiet --register=no --keep-unit \
			--directory="$root" --machine="$(ns "$host")" --network-namespace-path="/run/netns/$(ns "$host")" \
			--capability=CAP_NET_ADMIN --bind=/dev/net/tun --bind-ro="$LAB_DIR/lib:$HOST_LIB_IN_MACHINE" \
			--bind="$LOGS:$LOGS_IN_MACHINE" --link-journal=no --resolv-conf=off --timezone=off --console=read-only
	) </dev/null >>"$LOGS/console-$host.log" 2>&1 8>&- 9>&- &
	pid=$!
	echo "$pid" >"$RUN/$host.nspawn"
	echo "$pid" >>"$RUN/nspawn.pids"
	# The timings are those of the first boot.
	[ -n "${BOOT_T[$host.start]:-}" ] || mark "$host.start"
	wait_until 20 machine_child "$host" || die "$host: nspawn did not start the machine (see $LOGS/console-$host.log)"
}

# machine_ssh_ready HOST: sshd answers and shows the pinned host key (StrictHostKeyChecking yes).
machine_ssh_ready() { ssh -F "$RUN/ssh/config" -o ConnectTimeout=2 "$1" true; }

machine_wait_ssh() {
	WAIT_STEP=0.2 wait_until 180 machine_ssh_ready "$1" ||
		die "$1: no ssh with the pinned host key 180 s after start (see $LOGS/console-$1.log)"
	[ -n "${BOOT_T[$1.ssh]:-}" ] || mark "$1.ssh"
}

machine_up() {
	local host=$1 dir
	dir=$(machine_dir "$host")
	if [ ! -d "$dir/upper" ]; then
		machine_mount "$host" || die "cannot mount the disk of $host"
		"machine_provision_$host" "$dir/root" >>"$LAB_LOG" 2>&1 || die "cannot set up the disk of $host (see $LAB_LOG)"
	fi
	machine_mount "$host"
	machine_start "$host"
	machine_wait_ssh "$host"
}

# is_nspawn_of HOST PID: PID is the nspawn of HOST in this run (not a reused pid).
is_nspawn_of() { { tr '\0' ' ' <"/proc/$2/cmdline"; } 2>/dev/null | grep -qF -- "--directory=$(machine_dir "$1")/root"; }

# machine_down HOST: the power cut (the machine's PID 1 killed, everything in its PID namespace goes with it), and
# the disk unmounted. Also clears what a run killed hard left.
machine_down() {
	local host=$1 pid init
	if [ -f "$RUN/$host.nspawn" ]; then
		pid=$(cat "$RUN/$host.nspawn")
		if is_nspawn_of "$host" "$pid"; then
			init=$(cat "$RUN/$host.init" 2>/dev/null || true)
			[ -z "$init" ] || kill -KILL "$init" 2>/dev/null || true
			wait_until 10 pids_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
			wait_until 5 pids_gone "$pid" || say "lab: nspawn $pid of $host survives"
			# Collects its status (when it is this shell's child), which keeps bash from reporting its end.
			wait "$pid" 2>/dev/null || true
		fi
		rm -f "$RUN/$host.nspawn" "$RUN/$host.init"
	fi
	# nspawn's runtime files for the machine (left when nspawn is killed): its directory and the lock on its root.
	rm -rf "/run/systemd/nspawn/propagate/$(ns "$host")"
	rm -f "$(machine_lock_file "$host")"
	machine_unmount "$host"
	machine_cgroups_remove "$host"
}

# machine_lock_file HOST: the lock nspawn takes on the machine's root directory (named by device and inode).
machine_lock_file() {
	local root
	root=$(machine_dir "$1")/root
	mountpoint -q "$root" || return 0
	stat -c '/run/systemd/nspawn/locks/inode-%d:%i' "$root"
}

# machine_reboot HOST: `systemctl reboot` in the machine; nspawn exits with 133 and the lab boots the same disk
# again, in a fresh network namespace wired as before: the kernel's state (nft tables, ip rules, routes, sysctls)
# does not survive a real reboot either, so what comes back comes from systemd and the files on the disk.
machine_reboot() {
	local host=$1 pid rc=0
	pid=$(cat "$RUN/$host.nspawn")
	cmd in_host "$host" systemctl reboot || fail_because "systemctl reboot failed on $host" || return 1
	wait_until 90 pids_gone "$pid" || fail_because "$host did not shut down within 90 s" || return 1
	wait "$pid" || rc=$?
	[ "$rc" -eq 133 ] || fail_because "nspawn of $host exited with $rc, not 133 (reboot)" || return 1
	rm -f "$RUN/$host.nspawn" "$RUN/$host.init"
	machine_cgroups_remove "$host"
	ns_down "$host"
	"wire_$host"
	machine_start "$host"
	machine_wait_ssh "$host"
}

machine_exec() {
	local host=$1
	shift
	nsenter -t "$(cat "$RUN/$host.init")" -a -- "$@"
}

# machine_spawn HOST LOG ARGS...: ARGS as a service of the machine (a transient unit started by its systemd), output
# appended to LOG (the lab's logs are bound into the machine); SPAWNED is the unit's name. Not a process nsenter
# forks: at a clean shutdown systemd stops every process (SIGSTOP first), and nsenter, which waits outside the
# machine, stops itself with its child and is never continued, so the machine would never finish shutting down.
machine_spawn() {
	local host=$1 log=$2 unit
	shift 2
	SPAWN_SEQ=$((${SPAWN_SEQ:-0} + 1))
	unit=lab-spawn-$SPAWN_SEQ
	: >>"$log"
	cmd in_host "$host" systemd-run --quiet --collect --unit="$unit" --setenv=PYTHONDONTWRITEBYTECODE=1 \
		--property="StandardOutput=append:$LOGS_IN_MACHINE/${log#"$LOGS"/}" --property=StandardError=inherit \
		-- "$@" || die "could not start $1 in $host"
	SPAWNED=$unit
}

machine_unspawn() { cmd in_host "$1" systemctl stop "$2" || true; }

# machine_leftovers: nspawn processes and runtime directories of this run still there.
machine_leftovers() {
	local host pid
	if [ -f "$RUN/nspawn.pids" ]; then
		while read -r pid; do
			for host in "${HOSTS[@]}"; do
				! is_nspawn_of "$host" "$pid" || echo "nspawn $pid ($host)"
			done
		done <"$RUN/nspawn.pids"
	fi
	local dir
	for host in "${HOSTS[@]}"; do
		[ ! -e "/run/systemd/nspawn/propagate/$(ns "$host")" ] || echo "nspawn runtime dir of $(ns "$host")"
		for dir in $(machine_cgroups "$host"); do [ ! -d "$dir" ] || echo "cgroup $dir"; done
	done
}

# The disk: what changed on the host since the image (its upper layer).
machine_disk() { printf '%s/upper' "$(machine_dir "$1")"; }
