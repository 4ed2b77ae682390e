# shellcheck shell=bash disable=SC2034 # variables are shared between the files of the lab
# The boot lab's Debian images and package mirror, built from the Debian archive and cached outside the repository:
#
#   /var/cache/home-relay-lab/images/<codename>-<key>/   a root file system from debootstrap (one per release, used
#                                                         read-only as the lower layer of every host's overlay)
#   /var/cache/home-relay-lab/mirror/<codename>/          the .debs the hosts install, indexed: the lab's own mirror,
#                                                         served as http://192.0.2.80/<codename>/
#
# The image's key is a hash of the release, the package list and the functions that set the image up, so a change
# to any of them builds a new image; the mirror's stamp names the image and the package list it was resolved for.
# Neither the image nor the mirror knows anything of home-relay's rendered files: the image is what a Hetzner
# Debian image holds (systemd, openssh-server, cloud-init, sudo, iproute2...) plus what an operator of a machine
# without a WireGuard kernel module adds (wireguard-go and a wg-quick@ drop-in); wireguard-tools and nftables are
# left out, so that cloud-init (VPS) and the apply script's ensure_packages (home) install them from the mirror.

readonly LAB_CACHE=${HOME_RELAY_LAB_CACHE:-/var/cache/home-relay-lab}
readonly DEBIAN_ARCHIVE=http://deb.debian.org/debian
# The mirror's address on the lab's internet (on inet's loopback), and what the images' apt sources name.
readonly MIRROR_ADDR=192.0.2.80
IMAGE_BUILD_MS=0
MIRROR_DOWNLOAD_MS=0
# What a Hetzner Debian image has, as far as the relay's paths go (locales: cloud-init sets the locale). python3-cffi-backend: debootstrap's resolver does
# not follow python3-cryptography's virtual dependency on it, and cloud-init's configuration then fails.
readonly IMAGE_PACKAGES=(systemd systemd-sysv dbus openssh-server cloud-init sudo iproute2 iputils-ping procps locales
	ca-certificates netbase python3-cffi-backend wireguard-go)

# release_codename 13|12: the Debian codename.
release_codename() {
	case "$1" in
	13) echo trixie ;;
	12) echo bookworm ;;
	*) return 1 ;;
	esac
}

# image_key CODENAME: what the cached image depends on, hashed.
image_key() {
	{
		echo "$1"
		printf '%s\n' "${IMAGE_PACKAGES[@]}"
		declare -f image_configure image_kernel_standin
	} | sha256sum | cut -c1-12
}

# The kernel a real image has provides the WireGuard module: wireguard-tools recommends "wireguard-modules |
# wireguard-dkms", and cloud-init installs with recommends. A container uses the machine's kernel, so the image
# gets an empty package that provides wireguard-modules in the kernel's place (else apt pulls dkms and a compiler).
image_kernel_standin() {
	local root=$1 pkg
	pkg=$(mktemp -d)
	install -d "$pkg/DEBIAN"
	cat >"$pkg/DEBIAN/control" <<-'EOF'
		Package: home-relay-lab-kernel
		Version: 1.0
		Architecture: all
		Maintainer: home-relay lab <lab@invalid>
		Provides: wireguard-modules (= 1.0.20210606)
		Description: stand-in for the kernel package of a real image (the lab's machines share the host's kernel)
	EOF
	dpkg-deb --build --root-owner-group "$pkg" "$root/tmp/home-relay-lab-kernel.deb" >/dev/null
	rm -rf "$pkg"
	chroot "$root" dpkg -i /tmp/home-relay-lab-kernel.deb >/dev/null
	rm -f "$root/tmp/home-relay-lab-kernel.deb"
}

# image_configure ROOT CODENAME: what turns a debootstrap tree into an image the lab can boot twice, as two machines.
image_configure() {
	local root=$1 codename=$2
	# Each machine gets its own identity: the VPS's host key comes from cloud-init, the home's from the lab.
	rm -f "$root"/etc/ssh/ssh_host_*
	: >"$root/etc/machine-id"
	rm -f "$root/var/lib/dbus/machine-id" "$root/etc/hostname"
	# Nothing to resolve inside the lab; the mirror is addressed by its IP.
	: >"$root/etc/resolv.conf"
	# apt installs from the lab's mirror only (a flat repository; unsigned, so trusted explicitly).
	rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
	cat >"$root/etc/apt/sources.list.d/home-relay-lab.sources" <<-EOF
		# The lab's package mirror on its "internet" (tests/lab/lib/images.sh).
		Types: deb
		URIs: http://$MIRROR_ADDR/$codename/
		Suites: ./
		Trusted: yes
	EOF
	# No WireGuard module in the kernel: wg-quick uses wireguard-go, as an operator would set it.
	install -d "$root/etc/systemd/system/wg-quick@.service.d"
	cat >"$root/etc/systemd/system/wg-quick@.service.d/userspace.conf" <<-'EOF'
		# This machine's kernel has no WireGuard module: wg-quick starts wireguard-go instead.
		[Service]
		Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go
	EOF
	# cloud-init: the NoCloud seed in /var/lib/cloud/seed/nocloud is the datasource (Hetzner's, on a real VPS);
	# the lab wires the network itself, as Hetzner's network does for its servers.
	cat >"$root/etc/cloud/cloud.cfg.d/99-home-relay-lab.cfg" <<-'EOF'
		# The lab's stand-in for the provider: a NoCloud seed, and the network is configured from outside.
		datasource_list: [ NoCloud ]
		network: {config: disabled}
	EOF
	# A cloud image comes with its locale generated and set; cloud-init's locale module (en_US.UTF-8 by default)
	# then has nothing to do. Debian 12's cloud-init fails the module when the locale was never generated.
	sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$root/etc/locale.gen"
	chroot "$root" locale-gen
	chroot "$root" update-locale LANG=en_US.UTF-8
	image_kernel_standin "$root"
	chroot "$root" apt-get clean
	rm -rf "$root"/var/lib/apt/lists/*
}

# image_build CODENAME DIR: debootstrap into DIR and set it up.
image_build() {
	local codename=$1 dir=$2 include
	include=$(IFS=, && echo "${IMAGE_PACKAGES[*]}")
	cmd debootstrap --variant=minbase --include="$include" "$codename" "$dir" "$DEBIAN_ARCHIVE" ||
		die "debootstrap of $codename failed (see $LAB_LOG)"
	image_configure "$dir" "$codename" >>"$LAB_LOG" 2>&1 || die "setting up the $codename image failed (see $LAB_LOG)"
}

# cache_lock: one builder at a time for the whole machine (labs in other slots share the cache).
cache_lock() {
	install -d -m 0755 "$LAB_CACHE" "$LAB_CACHE/images" "$LAB_CACHE/mirror"
	exec 8>"$LAB_CACHE/lock"
	flock -w 3600 8 || die "$LAB_CACHE/lock held for an hour"
}

cache_unlock() { exec 8>&-; }

# image_prune CODENAME KEEP: removes older images of CODENAME that no overlay uses any more.
image_prune() {
	local old
	for old in "$LAB_CACHE/images/$1"-*; do
		if [ -d "$old" ] && [ "$old" != "$2" ] && ! grep -qF "lowerdir=$old" /proc/self/mountinfo; then cmd rm -rf "$old"; fi
	done
}

# image_ensure RELEASE: sets IMAGE to the cached image of RELEASE, building it first when there is none.
# IMAGE_BUILD_MS adds up the build times.
image_ensure() {
	local codename dir start
	codename=$(release_codename "$1") || die "--release is 13 or 12"
	dir=$LAB_CACHE/images/$codename-$(image_key "$codename")
	IMAGE=$dir
	[ ! -f "$dir/.home-relay-lab-image" ] || return 0
	say "lab: building the Debian $1 ($codename) image with debootstrap into $dir (cached for later runs)"
	start=$(now_ms)
	rm -rf "$dir" "$dir.tmp"
	image_build "$codename" "$dir.tmp"
	date -u +%FT%TZ >"$dir.tmp/.home-relay-lab-image"
	mv "$dir.tmp" "$dir"
	image_prune "$codename" "$dir"
	IMAGE_BUILD_MS=$((IMAGE_BUILD_MS + $(now_ms) - start))
}

# scratch_root IMAGE DIR: a throwaway writable view of IMAGE at DIR/root (an overlay; unmounted by scratch_drop).
scratch_root() {
	install -d "$2/upper" "$2/work" "$2/root"
	cmd mount -t overlay home-relay-lab-scratch -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/root"
}

scratch_drop() {
	if mountpoint -q "$1/root"; then cmd umount "$1/root"; fi
	rm -rf "$1"
}

# mirror_resolve IMAGE DEST PACKAGE...: downloads PACKAGEs and every package they pull in (recommends too, as
# cloud-init installs them) as apt inside IMAGE resolves them against the Debian archive, into DEST.
mirror_resolve() {
	local image=$1 dest=$2 scratch codename rc=0
	shift 2
	codename=$(basename "$image" | cut -d- -f1)
	scratch=$(mktemp -d "$LAB_CACHE/scratch.XXXXXX")
	scratch_root "$image" "$scratch" || return 1
	local root=$scratch/root
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	rm -f "$root"/etc/apt/sources.list.d/*
	echo "deb $DEBIAN_ARCHIVE $codename main" >"$root/etc/apt/sources.list"
	{
		cmd chroot "$root" apt-get update -q &&
			cmd chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only "$@" &&
			cp "$root"/var/cache/apt/archives/*.deb "$dest/"
	} || rc=$?
	scratch_drop "$scratch"
	return "$rc"
}

# mirror_index DIR: a flat repository (Packages, Release) that apt takes with Trusted: yes.
mirror_index() {
	(
		cd "$1" &&
			apt-ftparchive packages . >Packages 2>>"$LAB_LOG" &&
			gzip -9nkf Packages &&
			apt-ftparchive release . >Release 2>>"$LAB_LOG"
	)
}

# mirror_ensure RELEASE PACKAGE...: the cached mirror for RELEASE's image (IMAGE) and PACKAGEs, downloaded first
# when the cache holds none for them. MIRROR_DOWNLOAD_MS adds up the download times.
mirror_ensure() {
	local release=$1 codename stamp dir start
	shift
	codename=$(release_codename "$release")
	dir=$LAB_CACHE/mirror/$codename
	stamp=$(printf '%s\n' "image $(basename "$IMAGE")" "$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')")
	if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then return 0; fi
	say "lab: downloading the packages the hosts install ($*, with dependencies) into $dir"
	start=$(now_ms)
	rm -rf "$dir" "$dir.tmp"
	install -d -m 0755 "$dir.tmp"
	mirror_resolve "$IMAGE" "$dir.tmp" "$@" || die "downloading the mirror's packages failed (see $LAB_LOG)"
	mirror_index "$dir.tmp" || die "indexing the mirror failed (see $LAB_LOG)"
	printf '%s\n' "$stamp" >"$dir.tmp/.stamp"
	mv "$dir.tmp" "$dir"
	MIRROR_DOWNLOAD_MS=$((MIRROR_DOWNLOAD_MS + $(now_ms) - start))
}

# mirror_serve: the mirrors on the lab's internet, http://MIRROR_ADDR/<codename>/, served from the inet namespace.
mirror_serve() {
	ns_ip inet addr add "$MIRROR_ADDR/32" dev lo || die "cannot give inet the mirror's address"
	spawn inet "$LOGS/mirror.log" /usr/bin/python3 -m http.server 80 --bind "$MIRROR_ADDR" --directory "$LAB_CACHE/mirror"
	wait_until 10 in_ns inet bash -c "exec 3<>/dev/tcp/$MIRROR_ADDR/80" || die "the mirror does not answer (see $LOGS/mirror.log)"
}
