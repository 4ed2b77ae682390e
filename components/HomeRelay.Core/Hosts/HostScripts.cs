using System.Text;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// The three scripts run on each host: <c>apply</c> (install or update the tunnel; secrets on stdin),
/// <c>remove</c> (leave the host as it was) and <c>check</c> (on the VPS: handshake and forwards).
/// Each is self-contained: the non-secret files are embedded as here-documents, so the script text is exactly
/// what a preview diff shows.
/// </summary>
public static class HostScripts
{
    private const string FileDelimiter = "HOME_RELAY_FILE";

    public static string Apply(HostRole role, IReadOnlyList<HostFile> files)
    {
        var body = new StringBuilder();
        body.AppendLine("\tinstall -d -m 0700 " + HostNames.WireGuardDir);
        foreach (var file in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            if (file.Content.Split('\n').Contains(FileDelimiter))
            {
                throw new InvalidOperationException($"{file.Path} contains the line {FileDelimiter}, which would end its here-document.");
            }
            body.AppendLine($"\tinstall_file {file.Path} {file.Mode} <<'{FileDelimiter}'")
                .Append(file.Content)
                .AppendLine(FileDelimiter);
        }
        body.AppendLine($"\tinstall_file {HostNames.PrivateKeyPath} 0600 <<<\"$PRIVATE_KEY\"")
            .AppendLine($"\tinstall_file {HostNames.PresharedKeyPath} 0600 <<<\"$PRESHARED_KEY\"");
        if (role == HostRole.Vps)
        {
            body.AppendLine("\tenable_forwarding");
        }

        var ruleset = role == HostRole.Vps ? HostNames.VpsRulesetPath : HostNames.HomeRulesetPath;
        var hook = role == HostRole.Home ? HostNames.HomeHookPath : "";
        return $$"""
            #!/bin/bash
            # home-relay apply ({{Name(role)}}): installs or updates the WireGuard tunnel and its firewall table.
            # Reads private_key and preshared_key lines on stdin and never prints them. Safe to run again: files
            # are replaced only when their bytes differ, and the tunnel restarts only when its config changed.
            # All or nothing: when a step fails, the files and the tunnel are put back as they were.
            set -euo pipefail
            export LC_ALL=C
            umask 077

            readonly IFACE={{HostNames.Interface}}
            readonly RULESET={{ruleset}}
            readonly HOOK={{(hook.Length == 0 ? "''" : hook)}}
            readonly FORWARDING_BEFORE={{HostNames.ForwardingBeforePath}}
            readonly SYSCTL_FILE={{HostNames.SysctlPath}}
            CHANGED=()
            TEMP_FILES=()
            STAGE=""
            WAS_UP=0
            FORWARDING_SET=0

            {{Common}}

            read_secrets() {
            	local name value
            	PRIVATE_KEY="" PRESHARED_KEY=""
            	while IFS=' ' read -r name value || [ -n "$name" ]; do
            		case "$name" in
            		private_key) PRIVATE_KEY=$value ;;
            		preshared_key) PRESHARED_KEY=$value ;;
            		'') ;;
            		*) die "unexpected line on stdin; expected only private_key and preshared_key" ;;
            		esac
            	done
            	[[ $PRIVATE_KEY =~ ^[A-Za-z0-9+/]{43}=$ ]] || die "stdin holds no valid private_key line"
            	[[ $PRESHARED_KEY =~ ^[A-Za-z0-9+/]{43}=$ ]] || die "stdin holds no valid preshared_key line"
            }

            {{(role == HostRole.Vps ? WaitForCloudInit + "\n" : "")}}ensure_packages() {
            	local missing=()
            	command -v wg-quick >/dev/null || missing+=(wireguard-tools)
            	command -v nft >/dev/null || missing+=(nftables)
            	[ "${#missing[@]}" -eq 0 ] && return 0
            	command -v apt-get >/dev/null || die "install ${missing[*]} first: this host has no apt-get"
            	log "installing ${missing[*]}"
            	apt-get update -qq
            	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
            }

            # Never take over a wg0 that someone else set up: its config would be overwritten.
            refuse_foreign_config() {
            	if [ -f "{{HostNames.ConfigPath}}" ] && ! grep -q '^{{ManagedMarker}}' "{{HostNames.ConfigPath}}"; then
            		die "{{HostNames.ConfigPath}} exists and was not written by home-relay; move it away (and take $IFACE down) first"
            	fi
            }

            # install_file PATH MODE < content: replaces PATH atomically, and only when bytes or mode differ.
            install_file() {
            	local path=$1 mode=$2 tmp
            	tmp=$(mktemp "${path%/*}/.${path##*/}.XXXXXX")
            	TEMP_FILES+=("$tmp")
            	cat >"$tmp"
            	chmod "$mode" "$tmp"
            	if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then
            		rm -f "$tmp"
            		return 0
            	fi
            	if [ -e "$path" ]; then
            		mkdir -p "$STAGE/backup${path%/*}"
            		cp -p "$path" "$STAGE/backup$path"
            	fi
            	mv -f "$tmp" "$path"
            	CHANGED+=("$path")
            	log "wrote $path"
            }

            {{(role == HostRole.Vps ? EnableForwarding + "\n" : "")}}start_tunnel() {
            	if have_systemd; then
            		systemctl enable -q "wg-quick@$IFACE"
            		systemctl restart "wg-quick@$IFACE"
            	else
            		if is_up; then wg-quick down "$IFACE"; fi
            		wg-quick up "$IFACE"
            	fi
            }

            # Only the firewall table or the routing hook changed (e.g. a port was added): both reload in place, and the
            # tunnel, its handshake and every open connection stay up.
            only_firewall_changed() {
            	local path
            	for path in "${CHANGED[@]}"; do
            		case "$path" in "$RULESET" | "$HOOK" | "$SYSCTL_FILE" | "$FORWARDING_BEFORE") ;; *) return 1 ;; esac
            	done
            }

            converge_tunnel() {
            	if ! is_up; then
            		log "starting the tunnel"
            		start_tunnel
            	elif [ "${#CHANGED[@]}" -eq 0 ]; then
            		log "no change"
            	elif only_firewall_changed; then
            		log "reloading the firewall table in place"
            		nft -f "$RULESET"
            		if [ -n "$HOOK" ]; then "$HOOK" up; fi
            	else
            		log "restarting the tunnel"
            		start_tunnel
            	fi
            	if have_systemd; then systemctl enable -q "wg-quick@$IFACE"; fi
            }

            rollback() {
            	local path
            	log "apply failed; putting the previous files and tunnel back"
            	for path in "${CHANGED[@]}"; do
            		if [ -e "$STAGE/backup$path" ]; then mv -f "$STAGE/backup$path" "$path"; else rm -f "$path"; fi
            	done
            	if [ "$FORWARDING_SET" -eq 1 ] && [ -n "${FORWARDING_VALUE:-}" ]; then
            		sysctl -q -w net.ipv4.ip_forward="$FORWARDING_VALUE" || true
            	fi
            	if [ "$WAS_UP" -eq 1 ] && [ -f "{{HostNames.ConfigPath}}" ]; then
            		start_tunnel || log "the previous tunnel did not come back; run this again"
            	elif is_up; then
            		wg-quick down "$IFACE" || true
            	fi
            }

            on_exit() {
            	local rc=$?
            	trap - EXIT
            	if [ "$rc" -ne 0 ] && [ -n "$STAGE" ]; then rollback; fi
            	rm -f "${TEMP_FILES[@]}"
            	[ -z "$STAGE" ] || rm -rf "$STAGE"
            	exit "$rc"
            }

            main() {
            	[ "$(id -u)" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
            	read_secrets
            {{(role == HostRole.Vps ? "\twait_for_cloud_init\n" : "")}}	refuse_foreign_config
            	ensure_packages
            	trap on_exit EXIT
            	STAGE=$(mktemp -d)
            	FORWARDING_VALUE=$(sysctl -n net.ipv4.ip_forward)
            	if is_up; then WAS_UP=1; fi
            {{body}}	converge_tunnel
            }

            main "$@"

            """;
    }

    public static string Remove(HostRole role)
    {
        var table = role == HostRole.Vps ? HostNames.VpsTable : HostNames.HomeTable;
        var files = role == HostRole.Vps
            ? new[] { HostNames.ConfigPath, HostNames.PrivateKeyPath, HostNames.PresharedKeyPath, HostNames.VpsRulesetPath, HostNames.SysctlPath, HostNames.ForwardingBeforePath }
            : [HostNames.ConfigPath, HostNames.PrivateKeyPath, HostNames.PresharedKeyPath, HostNames.HomeRulesetPath, HostNames.HomeHookPath];
        var forwarding = role == HostRole.Vps
            ? $$"""
                	if [ -f {{HostNames.ForwardingBeforePath}} ]; then
                		sysctl -q -w net.ipv4.ip_forward="$(cat {{HostNames.ForwardingBeforePath}})"
                	fi

                """
            : "";
        var rules = role == HostRole.Home
            ? $$"""
                	for pref in {{string.Join(' ', HostNames.HomeRulePriorities)}}; do
                		while ip -4 rule del pref "$pref" 2>/dev/null; do :; done
                	done

                """
            : "";
        return $$"""
            #!/bin/bash
            # home-relay remove ({{Name(role)}}): stops the tunnel and removes every file, table, rule and setting that
            # apply added, putting IP forwarding back as apply found it. Safe to run again, and on a host never set up.
            set -euo pipefail
            export LC_ALL=C

            readonly IFACE={{HostNames.Interface}}

            {{Common}}

            main() {
            	[ "$(id -u)" -eq 0 ] || die "run as root (or as a user with passwordless sudo)"
            	if [ -f {{HostNames.ConfigPath}} ] && ! grep -q '^{{ManagedMarker}}' {{HostNames.ConfigPath}}; then
            		die "{{HostNames.ConfigPath}} was not written by home-relay; leaving this host alone"
            	fi
            	if have_systemd && systemctl is-enabled -q "wg-quick@$IFACE" 2>/dev/null; then
            		systemctl disable -q --now "wg-quick@$IFACE"
            	fi
            	if is_up; then
            		wg-quick down "$IFACE" || ip link del dev "$IFACE"
            	fi
            	nft 'table inet {{table}}; delete table inet {{table}}'
            {{rules}}{{forwarding}}	rm -f {{string.Join(" ", files)}}
            	log "removed the tunnel"
            }

            main "$@"

            """;
    }

    /// <summary>Run on the VPS after both peers are configured: fails unless the tunnel is up and every TCP forward answers.</summary>
    public static string Check(RelayPlan plan)
    {
        var home = plan.Tunnel.HomeAddress;
        var probes = new StringBuilder();
        foreach (var f in plan.Settings.Forwards.OrderBy(f => f.Protocol).ThenBy(f => f.Port))
        {
            probes.AppendLine(f.Protocol == Protocol.Tcp
                ? $"\tprobe_tcp {f.Port} {f.TargetPort}"
                : $"\tlog \"ok   udp/{f.Port}: not probed (UDP services need not answer an empty datagram)\"");
        }
        return $$"""
            #!/bin/bash
            # home-relay check (VPS): the tunnel has a fresh handshake and every TCP forward answers through it.
            set -euo pipefail
            export LC_ALL=C

            readonly IFACE={{HostNames.Interface}}
            readonly HOME_ADDRESS={{home}}
            FAILED=0

            {{Common}}

            handshake_age() {
            	local latest
            	latest=$(wg show "$IFACE" latest-handshakes 2>/dev/null | awk '{print $2}' | sort -n | tail -n 1)
            	[ -n "$latest" ] && [ "$latest" -gt 0 ] || return 1
            	echo $(($(date +%s) - latest))
            }

            wait_for_handshake() {
            	local deadline=$((SECONDS + 120)) age
            	while ! age=$(handshake_age) || [ "$age" -gt {{HostNames.HandshakeMaxAgeSeconds}} ]; do
            		if [ "$SECONDS" -ge "$deadline" ]; then
            			die "no WireGuard handshake with the home server in 120 s: check that UDP {{plan.Tunnel.ListenPort}} reaches this VPS, that the home apply ran, and the home clock"
            		fi
            		sleep 2
            	done
            	log "ok   handshake ${age}s ago"
            }

            probe_tcp() {
            	local port=$1 target=$2
            	if timeout 5 bash -c "exec 3<>/dev/tcp/$HOME_ADDRESS/$target" 2>/dev/null; then
            		log "ok   tcp/$port answers (home port $target)"
            	else
            		log "FAIL tcp/$port: nothing answers on $HOME_ADDRESS:$target through the tunnel; is the service listening on all addresses of the home server?"
            		FAILED=1
            	fi
            }

            main() {
            	[ "$(id -u)" -eq 0 ] || die "run as root"
            	is_up || die "the tunnel interface $IFACE is not up on the VPS"
            	wait_for_handshake
            {{probes}}	[ "$FAILED" -eq 0 ] || die "some forwards do not answer"
            }

            main "$@"

            """;
    }

    /// <summary>
    /// The command string a remote command sends: the login shell hands the quoted here-document to bash, so the
    /// script reads exactly as rendered and stdin stays free for the secrets.
    /// </summary>
    public static string AsRemoteCommand(string script, string name, bool sudo)
    {
        const string delimiter = "HOME_RELAY_SCRIPT";
        if (script.Split('\n').Contains(delimiter))
        {
            throw new InvalidOperationException($"The {name} script contains the line {delimiter}.");
        }
        return $"{(sudo ? "sudo -n " : "")}bash -c \"$(cat <<'{delimiter}'\n{script}{delimiter}\n)\" {name}\n";
    }

    /// <summary>The first line of every wg0.conf home-relay writes; remove and apply leave any other wg0 alone.</summary>
    internal const string ManagedMarker = "# Managed by home-relay";

    private const string WaitForCloudInit = """
        wait_for_cloud_init() {
        	command -v cloud-init >/dev/null || return 0
        	# "not run" or "disabled": cloud-init is installed but will not run on this boot; --wait would never return.
        	case "$(cloud-init status 2>/dev/null)" in *"not run"* | *disabled*) return 0 ;; esac
        	local rc=0
        	# 2 means "done, with recoverable errors": the packages we need may still be there; ensure_packages checks.
        	timeout 900 cloud-init status --wait >/dev/null || rc=$?
        	[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || die "cloud-init did not finish (status $rc); see /var/log/cloud-init-output.log"
        }

        """;

    private static readonly string EnableForwarding = $$"""
        enable_forwarding() {
        	if [ ! -f "$FORWARDING_BEFORE" ]; then
        		sysctl -n net.ipv4.ip_forward >"$FORWARDING_BEFORE"
        		CHANGED+=("$FORWARDING_BEFORE")
        	fi
        	install_file "$SYSCTL_FILE" 0644 <<'{{FileDelimiter}}'
        {{VpsSysctl.Render().Content}}{{FileDelimiter}}
        	if [ "$(sysctl -n net.ipv4.ip_forward)" != 1 ]; then
        		FORWARDING_SET=1
        		sysctl -q -p "$SYSCTL_FILE"
        	fi
        }

        """;

    private const string Common = """
        log() { printf 'home-relay: %s\n' "$*" >&2; }
        die() {
        	log "error: $*"
        	exit 1
        }
        have_systemd() { [ -d /run/systemd/system ]; }
        is_up() { ip link show dev "$IFACE" >/dev/null 2>&1; }
        """;

    private static string Name(HostRole role) => role == HostRole.Vps ? "VPS" : "home server";
}
