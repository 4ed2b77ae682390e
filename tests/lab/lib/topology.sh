# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The lab's network: five namespaces on documentation ranges, a management path from the root namespace (the
# "operator", where ssh runs as Pulumi would) to the two hosts, and per host a holder process whose private mount
# namespace gives the host its own /etc/wireguard, /etc/sysctl.d and /run (with its TMPDIR, /run/tmp).
#
#   client 192.0.2.10 2001:db8:c::10 ── inet (router) ── vps 203.0.113.10 2001:db8:5::1
#                          │
#                        cgnat wan 198.51.100.2 2001:db8:d::2
#                          └─ bridge lan 192.168.1.1 2001:db8:e::1 ─┬─ home 192.168.1.20 2001:db8:e::2
#                                                                   └─ nas  192.168.1.30 (a LAN target)
#   root ns: hrl-m-vps 198.18.0.1/30 ── vps mgmt0 198.18.0.2;  hrl-m-home 198.18.0.5/30 ── home mgmt0 198.18.0.6
#
# cgnat plays the home router and the carrier's NAT in one: IPv4 reaches the LAN only through its masquerade; IPv6
# is routed to it (2001:db8:e::/64), as on a DS-Lite line, behind the usual router firewall (only answers get in).
# The management /30s carry no default route: home reaches the internet only through cgnat.

# Several labs can run on one machine at once (two clones, say): HOME_RELAY_LAB_SLOT (0-9) gives each its own
# namespace names, root-namespace veths and management addresses. Slot 0 is the plain "hrl".
slot_prefix() { if [ "$1" = 0 ]; then printf hrl; else printf 'hrl%s' "$1"; fi; }

# slot_foreign SLOT: the slot's veths are in the root network namespace while none of its namespaces is in this
# machine's /run/netns: a lab run that this shell can't see holds it (one in another mount namespace: a container,
# a CI job on the same kernel), and tearing it down would break that run. A run killed here leaves its namespaces
# too, and the next run in the slot clears them.
slot_foreign() {
	local prefix name
	prefix=$(slot_prefix "$1")
	ip -o link show | awk -F': ' -v p="$prefix-" 'index($2, p) == 1 {found = 1} END {exit !found}' || return 1
	for name in vps home inet; do [ ! -e "/run/netns/$prefix-$name" ] || return 1; done
}

# pick_slot: HOME_RELAY_LAB_SLOT when set (refused when a run out of sight holds it), else the first slot that no
# such run holds.
pick_slot() {
	local slot
	if [ -n "${HOME_RELAY_LAB_SLOT:-}" ]; then
		[[ $HOME_RELAY_LAB_SLOT =~ ^[0-9]$ ]] || { echo "HOME_RELAY_LAB_SLOT is a digit 0-9" >&2; exit 64; }
		if slot_foreign "$HOME_RELAY_LAB_SLOT"; then
			echo "lab: slot $HOME_RELAY_LAB_SLOT is held by a lab run not visible here (veths $(slot_prefix "$HOME_RELAY_LAB_SLOT")-* exist, its namespaces don't); pick another HOME_RELAY_LAB_SLOT" >&2
			exit 64
		fi
		LAB_SLOT=$HOME_RELAY_LAB_SLOT
		return
	fi
	for slot in 0 1 2 3 4 5 6 7 8 9; do
		if ! slot_foreign "$slot"; then
			LAB_SLOT=$slot
			case $slot in
			0) ;;
			1) echo "lab: slot 0 is held by a lab run not visible here (veths hrl-* exist, its namespaces don't); this run uses slot 1" >&2 ;;
			*) echo "lab: slots 0-$((slot - 1)) are held by lab runs not visible here (their veths exist, their namespaces don't); this run uses slot $slot" >&2 ;;
			esac
			return
		fi
	done
	echo "lab: every slot (0-9) is held by a lab run not visible here" >&2
	exit 64
}

pick_slot
readonly LAB_SLOT
NS_PREFIX=$(slot_prefix "$LAB_SLOT")
readonly NS_PREFIX
readonly NAMESPACES=(inet vps cgnat home client nas)
readonly HOSTS=(vps home)
# The order hosts come up in (the boot lab starts the home first: it is the server already running at home).
UP_ORDER=(vps home)
readonly VPS_PUBLIC=203.0.113.10
readonly HOME_LAN=192.168.1.20
readonly NAS_ADDR=192.168.1.30
readonly CLIENT_ADDR=192.0.2.10
readonly CGNAT_WAN=198.51.100.2
readonly CGNAT_WAN_NEXT=198.51.100.3
readonly VPS_PUBLIC6=2001:db8:5::1
readonly CLIENT_ADDR6=2001:db8:c::10
readonly HOME_NATIVE6=2001:db8:e::2
readonly -A MGMT_ADDR=([vps]=198.18.$LAB_SLOT.2 [home]=198.18.$LAB_SLOT.6)
readonly -A MGMT_PEER=([vps]=198.18.$LAB_SLOT.1/30 [home]=198.18.$LAB_SLOT.5/30)

ns() { printf '%s-%s' "$NS_PREFIX" "$1"; }

# in_ns NS ARGS...: runs ARGS in a network namespace that has no host on it (inet, cgnat, client).
in_ns() {
	local name=$1
	shift
	ip netns exec "$(ns "$name")" "$@"
}

holder_pid() { cat "$RUN/$1.holder"; }

# The host driver: holder (processes in private namespaces, the fast lab) or machine (booted systems, --boot; see
# lib/machine.sh). Each provides _up, _down (power cut), _reboot, _exec, _spawn and _disk for a host.
DRIVER=${DRIVER:-holder}

is_host() { [ "$1" = vps ] || [ "$1" = home ]; }

# in_host HOST ARGS...: runs ARGS inside HOST, like a process on that machine.
in_host() { "${DRIVER}_exec" "$@"; }

holder_exec() {
	local host=$1 pid
	shift
	pid=$(holder_pid "$host")
	nsenter -t "$pid" -m -n -- "$@"
}

# spawn WHERE LOG ARGS...: starts ARGS in the background in host or namespace WHERE, output appended to LOG;
# SPAWNED is its pid (nsenter and ip netns exec exec the command, so it is the command's own pid).
spawn() {
	local where=$1 log=$2
	shift 2
	if is_host "$where"; then
		"${DRIVER}_spawn" "$where" "$log" "$@"
	else
		# Without the run lock (fd 9): a process that outlives a run killed hard must not hold the next run back.
		ip netns exec "$(ns "$where")" "$@" </dev/null >>"$log" 2>&1 9>&- &
		SPAWNED=$!
	fi
}

holder_spawn() {
	local where=$1 log=$2
	shift 2
	nsenter -t "$(holder_pid "$where")" -m -n -- "$@" </dev/null >>"$log" 2>&1 9>&- &
	SPAWNED=$!
}

# unspawn WHERE ID: stops what spawn started (ID is SPAWNED).
unspawn() {
	if is_host "$1"; then
		"${DRIVER}_unspawn" "$1" "$2"
	else
		kill "$2" 2>/dev/null || true
	fi
}

holder_unspawn() { kill "$2" 2>/dev/null || true; }

# host_disk HOST: the directory that holds what HOST wrote to its disk (kept across its reboots).
host_disk() { "${DRIVER}_disk" "$1"; }
holder_disk() { printf '%s/hosts/%s' "$RUN" "$1"; }

# host_user HOST: the account the operator's ssh logs in as (the home's operator is not root in the boot lab).
host_user() { if [ "$DRIVER" = machine ] && [ "$1" = home ]; then echo "$HOME_OPERATOR"; else echo root; fi; }

ns_exists() { [ -e "/run/netns/$(ns "$1")" ]; }

# A namespace with IPv6 on, but no duplicate address detection (addresses usable at once) and no router
# advertisements (every address and route is the lab's own).
ns_create() {
	cmd ip netns add "$(ns "$1")"
	in_ns "$1" sysctl -q -w net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
	in_ns "$1" ip link set lo up
}

# veth NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair with one end in each namespace ("-" is the root namespace).
veth() {
	local a=(netns "$(ns "$1")") b=(netns "$(ns "$4")")
	[ "$1" != - ] || a=()
	[ "$4" != - ] || b=()
	cmd ip link add "$2" "${a[@]}" type veth peer name "$5" "${b[@]}"
	ns_ip "$1" addr add "$3" dev "$2"
	ns_ip "$4" addr add "$6" dev "$5"
	ns_ip "$1" link set "$2" up
	ns_ip "$4" link set "$5" up
}

ns_ip() {
	local name=$1
	shift
	if [ "$name" = - ]; then cmd ip "$@"; else cmd ip -n "$(ns "$name")" "$@"; fi
}

forwarding() { in_ns "$1" sysctl -q -w net.ipv4.ip_forward="$2" net.ipv6.conf.all.forwarding="$2"; }

# addr6 NS IF ADDRESS/PREFIX: an IPv6 address ("-" is the root namespace).
addr6() { ns_ip "$1" -6 addr add "$3" dev "$2" nodad; }

wire_inet() {
	ns_create inet
	forwarding inet 1
}

wire_client() {
	ns_create client
	veth inet to-client 192.0.2.1/24 client eth0 "$CLIENT_ADDR/24"
	ns_ip client route add default via 192.0.2.1
	addr6 inet to-client 2001:db8:c::1/64
	addr6 client eth0 "$CLIENT_ADDR6/64"
	ns_ip client -6 route add default via 2001:db8:c::1
}

# The home router and the carrier's NAT: lan -> wan masqueraded; nothing from the internet gets in unless it answers
# a connection. The LAN is a bridge, so that more than one host can sit on it.
wire_cgnat() {
	ns_create cgnat
	ns_ip cgnat link add lan type bridge
	# Where br_netfilter is loaded (Docker loads it), bridged frames would go through the router's forward chain.
	if in_ns cgnat test -d /proc/sys/net/bridge; then
		in_ns cgnat sysctl -q -w net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
	fi
	ns_ip cgnat addr add 192.168.1.1/24 dev lan
	addr6 cgnat lan 2001:db8:e::1/64
	ns_ip cgnat link set lan up
	veth inet to-cgnat 198.51.100.1/24 cgnat wan "$CGNAT_WAN/24"
	ns_ip cgnat route add default via 198.51.100.1
	addr6 inet to-cgnat 2001:db8:d::1/64
	addr6 cgnat wan 2001:db8:d::2/64
	ns_ip cgnat -6 route add default via 2001:db8:d::1
	ns_ip inet -6 route add 2001:db8:e::/64 via 2001:db8:d::2
	forwarding cgnat 1
	# IPv4 masqueraded; IPv6 routed; for both, only answers get in (the home router's usual firewall).
	in_ns cgnat nft -f - <<-'EOF'
		table inet cgnat {
			chain forward {
				type filter hook forward priority filter; policy drop;
				ct state established,related accept
				iifname "lan" oifname "wan" accept
				icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept
			}
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				meta nfproto ipv4 oifname "wan" masquerade
			}
		}
	EOF
}

wire_vps() {
	ns_create vps
	veth inet to-vps 203.0.113.1/24 vps eth0 "$VPS_PUBLIC/24"
	ns_ip vps route add default via 203.0.113.1
	addr6 inet to-vps 2001:db8:5::ffff/64
	addr6 vps eth0 "$VPS_PUBLIC6/64"
	ns_ip vps -6 route add default via 2001:db8:5::ffff
	veth - "$NS_PREFIX-m-vps" "${MGMT_PEER[vps]}" vps mgmt0 "${MGMT_ADDR[vps]}/30"
}

# lan_port NS ADDRESS/PREFIX: NS's eth0 on the home LAN (a port of cgnat's bridge), with its default routes.
lan_port() {
	local name=$1
	cmd ip link add "lan-$name" netns "$(ns cgnat)" type veth peer name eth0 netns "$(ns "$name")"
	ns_ip cgnat link set "lan-$name" master lan up
	ns_ip "$name" addr add "$2" dev eth0
	ns_ip "$name" link set eth0 up
	ns_ip "$name" route add default via 192.168.1.1
}

wire_home() {
	ns_create home
	lan_port home "$HOME_LAN/24"
	addr6 home eth0 "$HOME_NATIVE6/64"
	ns_ip home -6 route add default via 2001:db8:e::1
	veth - "$NS_PREFIX-m-home" "${MGMT_PEER[home]}" home mgmt0 "${MGMT_ADDR[home]}/30"
}

# Another host of the home LAN, which the home server passes a forward on to.
wire_nas() {
	ns_create nas
	lan_port nas "$NAS_ADDR/24"
}

# The holder: a process in the host's network namespace and in a private mount namespace, where the host's own
# directories (kept under $RUN/hosts/HOST, so they survive a "reboot") are bound over the machine's. It lives as
# long as the lab's shell and no longer.
holder_start() {
	local host=$1 dir=$RUN/hosts/$1
	install -d -m 0700 "$dir/etc-wireguard"
	install -d -m 0755 "$dir/etc-sysctl.d"
	rm -f "$dir/ready"
	# shellcheck disable=SC2016 # expanded by the holder's shell
	ip netns exec "$(ns "$host")" unshare --mount --propagation private -- /bin/bash -c '
		set -e
		mount --bind "$1/etc-wireguard" /etc/wireguard
		mount --bind "$1/etc-sysctl.d" /etc/sysctl.d
		mount -t tmpfs -o mode=0755,size=16m "lab-run-$3" /run
		mkdir -m 0755 /run/sshd /run/wireguard /run/cloud-init
		# The host'"'"'s own temporary files (sshd hands TMPDIR to every command). Not a bind over /tmp: that would
		# hide the lab itself wherever the repository is cloned under /tmp.
		mkdir -m 1777 /run/tmp
		# The hosts share the machine'"'"'s /usr, which may hold cloud-init: let it report "done", as on a server
		# that booted (apply waits for it, and "not run" would make it wait its full 900 s).
		echo "{\"v1\": {\"datasource\": null, \"init\": {\"errors\": [], \"start\": 1, \"finished\": 2}}}" >/run/cloud-init/status.json
		echo "{\"v1\": {\"datasource\": null, \"errors\": []}}" >/run/cloud-init/result.json
		# A hosts file of the host'"'"'s own, where the lab made one (the VPS: its DNS name, see lib/status.sh).
		if [ -f "$1/etc-hosts" ]; then mount --bind "$1/etc-hosts" /etc/hosts; fi
		: >"$1/ready"
		exec tail --pid="$2" -f /dev/null' holder "$dir" "$$" "$host" </dev/null >>"$LOGS/holder-$host.log" 2>&1 &
	echo "$!" >"$RUN/$host.holder"
	wait_until 10 test -e "$dir/ready" || die "the holder of $host did not start (see $LOGS/holder-$host.log)"
	# The scripts must take their no-systemd path, as on a machine without it.
	in_host "$host" test ! -e /run/systemd/system || die "$host sees /run/systemd/system"
}

# The operator's key, and each host's ed25519 host key pinned in known_hosts. A host key already there (the VPS's
# in the boot lab, which the render made for cloud-init) is pinned as it is.
ssh_keys() {
	install -d -m 0700 "$RUN/ssh"
	cmd ssh-keygen -q -t ed25519 -N '' -C lab-operator -f "$RUN/ssh/id_ed25519"
	install -m 0600 "$RUN/ssh/id_ed25519.pub" "$RUN/ssh/authorized_keys"
	local host
	for host in "${HOSTS[@]}"; do
		[ -f "$RUN/ssh/${host}_host_ed25519_key.pub" ] ||
			cmd ssh-keygen -q -t ed25519 -N '' -C "$host" -f "$RUN/ssh/${host}_host_ed25519_key"
		printf '%s %s\n' "${MGMT_ADDR[$host]}" "$(cut -d' ' -f1,2 "$RUN/ssh/${host}_host_ed25519_key.pub")"
	done >"$RUN/ssh/known_hosts"
	{
		for host in "${HOSTS[@]}"; do
			printf 'Host %s\n\tHostName %s\n\tUser %s\n' "$host" "${MGMT_ADDR[$host]}" "$(host_user "$host")"
		done
		cat <<-EOF
			Host *
			    User root
			    IdentityFile $RUN/ssh/id_ed25519
			    IdentitiesOnly yes
			    UserKnownHostsFile $RUN/ssh/known_hosts
			    GlobalKnownHostsFile /dev/null
			    StrictHostKeyChecking yes
			    BatchMode yes
			    ConnectTimeout 5
			    ServerAliveInterval 5
			    ServerAliveCountMax 3
			    LogLevel ERROR
		EOF
	} >"$RUN/ssh/config"
}

sshd_config() {
	local host=$1
	cat <<-EOF
		# The lab's sshd for $host: root by the lab's key only; wg-quick told to use wireguard-go (no kernel module).
		ListenAddress ${MGMT_ADDR[$host]}:22
		HostKey $RUN/ssh/${host}_host_ed25519_key
		PidFile none
		AuthorizedKeysFile $RUN/ssh/authorized_keys
		# The key file lives in the clone, which may sit under /tmp: sshd's ownership checks of every parent would refuse it.
		StrictModes no
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		PrintMotd no
		PrintLastLog no
		X11Forwarding no
		AllowTcpForwarding no
		SetEnv WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go TMPDIR=/run/tmp
		LogLevel VERBOSE
	EOF
}

sshd_start() {
	local host=$1
	sshd_config "$host" >"$RUN/ssh/sshd_config.$host"
	in_host "$host" /usr/sbin/sshd -t -f "$RUN/ssh/sshd_config.$host" || die "sshd rejects the lab's config for $host"
	spawn "$host" "$LOGS/sshd-$host.log" /usr/sbin/sshd -D -e -f "$RUN/ssh/sshd_config.$host"
	wait_until 15 ssh -F "$RUN/ssh/config" "root@$host" true || die "cannot ssh to $host (see $LOGS/sshd-$host.log)"
}

# host_up HOST: the host's network, then the host itself (its sshd answering).
host_up() {
	"wire_$1"
	"${DRIVER}_up" "$1"
}

holder_up() {
	holder_start "$1"
	sshd_start "$1"
}

# ns_kill NS: ends every process in the namespace (all started by this lab), TERM first, KILL after 5 s.
ns_kill() {
	local pids
	ns_exists "$1" || return 0
	mapfile -t pids < <(ip netns pids "$(ns "$1")")
	[ "${#pids[@]}" -gt 0 ] || return 0
	printf '%s\n' "${pids[@]}" >>"$RUN/killed.pids"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait_until 5 pids_gone "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
	wait_until 5 pids_gone "${pids[@]}" || say "lab: processes ${pids[*]} in $(ns "$1") survive"
}

pids_gone() {
	local pid
	for pid in "$@"; do
		! kill -0 "$pid" 2>/dev/null || return 1
	done
}

# ns_down NS: the power cut. Processes end, the namespace and its veths (both ends) go.
ns_down() {
	ns_kill "$1"
	if ns_exists "$1"; then cmd ip netns del "$(ns "$1")"; fi
}

topology_up() {
	wire_inet
	wire_client
	wire_cgnat
	wire_nas
	if [ "$DRIVER" = machine ]; then mirror_serve; fi
	ssh_keys
	local host
	for host in "${UP_ORDER[@]}"; do host_up "$host"; done
}

# Hosts first (a booted machine is powered off and its disk unmounted, whichever driver the run that left it used),
# then the namespaces.
topology_down() {
	local name
	for name in "${HOSTS[@]}"; do machine_down "$name"; done
	for name in "${NAMESPACES[@]}"; do ns_down "$name"; done
}

# leftovers: prints whatever the lab left on the machine; empty when clean.
leftovers() {
	local name pid
	for name in "${NAMESPACES[@]}"; do
		! ns_exists "$name" || echo "namespace $(ns "$name")"
	done
	ip -o link show | awk -F': ' -v p="$NS_PREFIX-" 'index($2, p) == 1 {print "veth " $2}'
	if [ -f "$RUN/killed.pids" ]; then
		while read -r pid; do
			! kill -0 "$pid" 2>/dev/null || echo "process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"
		done <"$RUN/killed.pids"
	fi
	machine_leftovers
	grep -F -e "$RUN" -e "/run/netns/$NS_PREFIX-" -e "$LAB_CACHE/scratch" /proc/self/mountinfo | sed 's/^/mount /' || true
}
