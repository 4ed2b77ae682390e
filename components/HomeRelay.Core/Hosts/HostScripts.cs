using HomeRelay.Core.Net;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// The scripts run on each host: <c>apply</c> (install or update the tunnel; secrets on stdin), <c>remove</c> (leave
/// the host as it was), <c>check</c> (on the VPS: handshake and forwards) and <c>status</c> (on the VPS, read-only:
/// what <c>./relay status</c> reports). Their logic is the bash files of
/// <c>Hosts/scripts/</c>; this class only gives each its settings and, for apply, the files to install, so the
/// script text is exactly what a preview diff shows.
/// </summary>
public static class HostScripts
{
    public static string Apply(HostRole role, IReadOnlyList<HostFile> files, bool tunnelIpv6)
    {
        var script = Begin(role, "apply", "installs or updates the WireGuard tunnel and its firewall table")
            .Setting("KEY_FILE", HostNames.PrivateKeyPath)
            .Setting("PSK_FILE", HostNames.PresharedKeyPath)
            .Setting("RULESET", role == HostRole.Vps ? HostNames.VpsRulesetPath : HostNames.HomeRulesetPath)
            .Setting("TABLE", role == HostRole.Vps ? HostNames.VpsTable : HostNames.HomeTable)
            .Setting("TUNNEL_IPV6", tunnelIpv6 ? "yes" : "no");
        if (files.Any(f => f.Path == HostNames.SysctlPath))
        {
            script.Setting("FORWARDING_BEFORE", HostNames.ForwardingBeforePath).Setting("SYSCTL_FILE", HostNames.SysctlPath);
        }
        if (role == HostRole.Home)
        {
            script.Setting("HOOK", HostNames.HomeHookPath)
                .Setting("TUNNEL_MARK", HostNames.HomeRoutingTable)
                .Setting("RULE_PRIORITIES", HostNames.HomeRulePriorities.Cast<object>());
        }
        return script.Part("lib.sh").Part("rules.sh").RenderedFiles(files).Part("apply.sh").ToString();
    }

    public static string Remove(HostRole role)
    {
        var script = Begin(role, "remove", "stops the tunnel and removes every file, table, rule and setting that apply added")
            .Setting("TABLE", role == HostRole.Vps ? HostNames.VpsTable : HostNames.HomeTable)
            .Setting("FILES", InstalledFiles(role))
            .Setting("FORWARDING_BEFORE", HostNames.ForwardingBeforePath);
        if (role == HostRole.Home)
        {
            script.Setting("RULE_PRIORITIES", HostNames.HomeRulePriorities.Cast<object>());
        }
        return script.Part("lib.sh").Part("rules.sh").Part("remove.sh").ToString();
    }

    /// <summary>
    /// Run on the VPS after both peers are configured: fails unless the tunnel is up, every TCP forward answers and
    /// datagrams to every UDP forward get past the home's firewall.
    /// </summary>
    public static string Check(RelayPlan plan) =>
        Begin(HostRole.Vps, "check", "the tunnel has a fresh handshake and every forward answers through it", withRole: false)
            .Setting("HOME_ADDRESS", plan.Tunnel.HomeAddress)
            .Setting("HOME_ADDRESS6", plan.Tunnel.HomeAddress6?.ToString() ?? "")
            .Setting("LISTEN_PORT", plan.Tunnel.ListenPort)
            .Setting("HANDSHAKE_MAX_AGE", HostNames.HandshakeMaxAgeSeconds)
            .Setting("TUNNEL_MARK", HostNames.HomeRoutingTable)
            .Setting("PROBE_PAYLOAD", NftRulesets.ProbePayload)
            .Setting("FORWARDS", ForwardList(plan.Settings))
            .Part("lib.sh")
            .Part("probe.sh")
            .Part("check.sh")
            .ToString();

    /// <summary>
    /// Run on the VPS by <c>./relay status</c>: reads the tunnel, each forward's counters and what the DNS name resolves
    /// to, probes each forward, and prints a report (or one JSON document) ending in a verdict; exits 0 ok, 1 degraded,
    /// 2 down, 3 could not tell. Read-only, and rendered from settings alone (no key): <paramref name="relayAddress"/>
    /// is the VPS's public IPv4, the A record's address; <paramref name="relayAddress6"/> its public IPv6, the AAAA
    /// record's, or null when the relay has no IPv6 front door (then the name must have no AAAA record).
    /// </summary>
    public static string Status(RelaySettings settings, string relayAddress, string? relayAddress6, StatusFormat format)
    {
        if (!IpAddressText.TryParseIpv4(relayAddress, out var address))
        {
            throw new ArgumentException($"The relay's address '{relayAddress}' is not an IPv4 address.", nameof(relayAddress));
        }
        System.Net.IPAddress? address6 = null;
        if (relayAddress6 is not null && !IpAddressText.TryParseIpv6(relayAddress6, out address6))
        {
            throw new ArgumentException($"The relay's IPv6 address '{relayAddress6}' is not an IPv6 address.", nameof(relayAddress6));
        }
        return new BashScript("home-relay status (VPS): is the relay working right now, and what is it carrying? Read-only.\n"
                + "Rendered by home-relay from components/HomeRelay.Core/Hosts/scripts/: these settings, then the files below.")
            .Setting("IFACE", HostNames.Interface)
            .Setting("TABLE", HostNames.VpsTable)
            .Setting("OUTPUT", format == StatusFormat.Json ? "json" : "text")
            .Setting("RELAY_ADDRESS", address)
            // In the compressed form (RFC 5952) that getent prints, so that the script compares text.
            .Setting("RELAY_ADDRESS6", address6?.ToString() ?? "")
            .Setting("DNS_NAME", settings.Dns.Name)
            .Setting("HOME_ADDRESS", settings.Tunnel.HomeAddress)
            .Setting("HOME_ADDRESS6", settings.Tunnel.HomeAddress6?.ToString() ?? "")
            .Setting("HANDSHAKE_MAX_AGE", HostNames.HandshakeMaxAgeSeconds)
            .Setting("PROBE_PAYLOAD", NftRulesets.ProbePayload)
            .Setting("FORWARDS", ForwardList(settings))
            .Setting("FORWARD_MARKS", Sorted(settings).Select(f => (object)ForwardMarks.Of(f)))
            .Part("lib.sh")
            .Part("probe.sh")
            .Part("status.sh")
            .ToString();
    }

    /// <summary>
    /// Each forward as <c>PROTO/PORT/TARGET_PORT/TARGET</c> for the scripts that look at forwards from the VPS: ports
    /// may be ranges; TARGET is <c>home</c> or <c>home-snat</c> (the home server, the visitor's address kept or not),
    /// or the LAN host the home server passes the forward on to. Short: a stack may hold a thousand of them.
    /// </summary>
    private static IEnumerable<object> ForwardList(RelaySettings settings) => Sorted(settings)
        .Select(f => (object)string.Join('/', f.ProtocolName, f.Port, f.TargetPort,
            f.TargetHost?.ToString() ?? (f.ClientIp == ClientIpMode.Snat ? "home-snat" : "home")));

    private static IEnumerable<Forward> Sorted(RelaySettings settings) => settings.Forwards.OrderBy(f => f.Protocol).ThenBy(f => f.Port);

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

    /// <summary>The start of every script: what it is, and the settings lib.sh reads. Each script adds only what it uses.</summary>
    private static BashScript Begin(HostRole role, string script, string purpose, bool withRole = true)
    {
        var name = role == HostRole.Vps ? "VPS" : "home server";
        var header = new BashScript($"home-relay {script} ({name}): {purpose}.\n"
            + "Rendered by home-relay from components/HomeRelay.Core/Hosts/scripts/: these settings, then the files below.");
        if (withRole)
        {
            header.Setting("ROLE", role == HostRole.Vps ? "vps" : "home");
        }
        return header.Setting("IFACE", HostNames.Interface).Setting("CONFIG", HostNames.ConfigPath);
    }

    private static IEnumerable<object> InstalledFiles(HostRole role) => role == HostRole.Vps
        ? [HostNames.ConfigPath, HostNames.PrivateKeyPath, HostNames.PresharedKeyPath, HostNames.VpsRulesetPath, HostNames.SysctlPath, HostNames.ForwardingBeforePath]
        : [HostNames.ConfigPath, HostNames.PrivateKeyPath, HostNames.PresharedKeyPath, HostNames.HomeRulesetPath, HostNames.HomeHookPath, HostNames.SysctlPath, HostNames.ForwardingBeforePath];
}

/// <summary>What the status script prints: a report for people, or one JSON document for scripts and dashboards.</summary>
public enum StatusFormat { Text, Json }
