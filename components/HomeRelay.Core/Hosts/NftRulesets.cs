using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// The nftables tables of both peers. Forwards live in sets and maps (ranges as intervals), so a new connection costs
/// one lookup however many forwards there are, and each forward has its own counters. Every file starts with
/// "declare, delete, define" of its own table, so every load (<c>nft -f</c>) replaces the table atomically and
/// touches nothing else in the ruleset.
/// </summary>
public static class NftRulesets
{
    /// <summary>
    /// VPS: DNAT of the forwarded ports (only) to the home end of the tunnel, for both address families; a forward
    /// chain that drops everything else; MSS clamping both ways; masquerade for the forwards that asked for
    /// <c>snat</c>. Each connection carries its forward's mark (<see cref="ForwardMarks.Of"/>) in its conntrack entry.
    /// A UDP service at home may also start a flow from its forwarded port: it leaves from the VPS's address at the
    /// public port, as it would from a public address of its own.
    /// </summary>
    public static HostFile Vps(RelayPlan plan)
    {
        var t = plan.Tunnel;
        var forwards = Sorted(plan.Settings.Forwards);
        var translated = forwards.Where(f => f.IsTranslated).ToList();
        var snat = forwards.Where(f => f.ClientIp == ClientIpMode.Snat && !f.IsLanTarget).ToList();
        var ipv4Only = plan.Settings.Ipv6 ? forwards.Where(f => f.IsLanTarget).ToList() : [];
        var udpHome = forwards.Where(f => f.Protocol == Protocol.Udp && !f.IsLanTarget).ToList();
        var udpHomeTranslated = udpHome.Where(f => f.IsTranslated).ToList();
        var text = new StringBuilder();

        text.AppendLine("\t# Each forward's public ports and its mark (protocol and first port), which the connection then carries:")
            .AppendLine("\t# the counter of an element counts new connections, the forward chain counts packets by mark.");
        Map(text, "forwards", "inet_proto . inet_service : mark", interval: true, counter: true,
            forwards.Select(f => $"{f.ProtocolName} . {f.Port} : {ForwardMarks.Text(f)}"));
        Set(text, "forward_marks", "mark", interval: false, counter: true, forwards.Select(ForwardMarks.Text));
        if (translated.Count > 0)
        {
            text.AppendLine("\t# Public port -> home port, where they differ (a shifted range maps port by port).");
            Map(text, "target_ports", "inet_proto . inet_service : inet_service", interval: false, counter: false,
                translated.SelectMany(f => Enumerable.Range(f.Port.First, f.Port.Count)
                    .Select(p => $"{f.ProtocolName} . {p} : {f.Port.MapTo(f.TargetPort, p)}")));
        }
        if (snat.Count > 0)
        {
            Set(text, "snat_marks", "mark", interval: false, counter: false, snat.Select(ForwardMarks.Text));
        }
        if (ipv4Only.Count > 0)
        {
            text.AppendLine("\t# Forwards to IPv4-only hosts of the home LAN: no IPv6 visitor can reach them (nothing translates IPv6 to IPv4).");
            Set(text, "ipv4_only_marks", "mark", interval: false, counter: false, ipv4Only.Select(ForwardMarks.Text));
        }
        if (udpHome.Count > 0)
        {
            text.AppendLine("\t# The home server's ports of its UDP forwards, from which it may also start a flow (a TURN relay to a peer,")
                .AppendLine("\t# a game server to its master server); and the public port of each one that differs.");
            Set(text, "home_udp_ports", "inet_service", interval: true, counter: false,
                Merge(udpHome.Select(f => ("udp", f.TargetPort))).Select(p => p.Ports.ToString()));
        }
        if (udpHomeTranslated.Count > 0)
        {
            Map(text, "home_udp_public_ports", "inet_service : inet_service", interval: false, counter: false,
                udpHomeTranslated.SelectMany(f => Enumerable.Range(f.Port.First, f.Port.Count)
                    .Select(p => $"{f.Port.MapTo(f.TargetPort, p)} : {p}")));
        }

        text.AppendLine("\tchain prerouting {")
            .AppendLine("\t\ttype nat hook prerouting priority dstnat; policy accept;")
            .AppendLine($"\t\tiifname \"{HostNames.Interface}\" return")
            .AppendLine("\t\tfib daddr type != local return")
            .AppendLine("\t\tct mark set meta l4proto . th dport map @forwards jump to_home")
            .AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain to_home {");
        if (ipv4Only.Count > 0)
        {
            text.AppendLine("\t\tmeta nfproto ipv6 ct mark @ipv4_only_marks return");
        }
        Dnat(text, "ipv4", "ip", t.HomeAddress.ToString(), translated.Count > 0);
        if (t.HomeAddress6 is { } home6)
        {
            Dnat(text, "ipv6", "ip6", home6.ToString(), translated.Count > 0);
        }
        text.AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain forward {")
            .AppendLine("\t\ttype filter hook forward priority filter; policy drop;")
            .AppendLine("\t\tct mark @forward_marks")
            .AppendLine("\t\t# The tunnel carries less than the internet link: clamp TCP segments to the route's MTU, both ways.")
            .AppendLine("\t\ttcp flags syn tcp option maxseg size set rt mtu")
            .AppendLine("\t\tct state established,related accept")
            .AppendLine($"\t\toifname \"{HostNames.Interface}\" ct status dnat ct mark @forward_marks accept");
        foreach (var (family, home) in udpHome.Count > 0 ? HomeAddresses(t) : [])
        {
            text.AppendLine($"\t\tiifname \"{HostNames.Interface}\" {family} saddr {home} udp sport @home_udp_ports accept");
        }
        text.AppendLine("\t}");
        if (snat.Count > 0 || udpHome.Count > 0)
        {
            text.AppendLine()
                .AppendLine("\tchain postrouting {")
                .AppendLine("\t\ttype nat hook postrouting priority srcnat; policy accept;");
            if (snat.Count > 0)
            {
                text.AppendLine($"\t\toifname \"{HostNames.Interface}\" ct mark @snat_marks masquerade");
            }
            foreach (var (family, home) in udpHome.Count > 0 ? HomeAddresses(t) : [])
            {
                // Masquerade keeps the source port (nothing on the VPS uses these ports); a translated one gets its public port.
                if (udpHomeTranslated.Count > 0)
                {
                    text.AppendLine($"\t\tiifname \"{HostNames.Interface}\" {family} saddr {home} udp sport @home_udp_public_ports masquerade to :udp sport map @home_udp_public_ports");
                }
                text.AppendLine($"\t\tiifname \"{HostNames.Interface}\" {family} saddr {home} udp sport @home_udp_ports masquerade");
            }
            text.AppendLine("\t}");
        }
        return File(HostNames.VpsRulesetPath, HostNames.VpsTable, "relays the forwarded ports of the VPS to the home server", text);
    }

    /// <summary>
    /// Home: new connections from the tunnel are accepted only to the forwarded (target) ports and get a conntrack
    /// mark; their replies carry it as a packet mark, which the hook's policy rules route back into the tunnel.
    /// Everything else from the tunnel is dropped, so the home stays closed even if the VPS is taken over. Forwards to
    /// other hosts of the LAN are passed on (DNAT) and masqueraded, so their replies come back through this host.
    /// </summary>
    public static HostFile Home(RelayPlan plan)
    {
        var mark = HostNames.HomeRoutingTable;
        var wg = HostNames.Interface;
        var t = plan.Tunnel;
        var forwards = Sorted(plan.Settings.Forwards);
        var lan = forwards.Where(f => f.IsLanTarget).ToList();
        var udpHere = forwards.Where(f => f.Protocol == Protocol.Udp && !f.IsLanTarget).Select(f => f.TargetPort).ToList();
        var text = new StringBuilder();

        text.AppendLine("\t# The ports the VPS may open connections to: the forwards' target ports, on this host or passed on.");
        Set(text, "forward_ports", "inet_proto . inet_service", interval: true, counter: false,
            Merge(forwards.Select(f => (f.ProtocolName, f.TargetPort))).Select(p => $"{p.Protocol} . {p.Ports}"));
        if (udpHere.Count > 0)
        {
            Set(text, "udp_reply_ports", "inet_service", interval: true, counter: false,
                Merge(udpHere.Select(p => ("udp", p))).Select(p => p.Ports.ToString()));
        }
        if (lan.Count > 0)
        {
            text.AppendLine("\t# Target ports passed on to other hosts of the LAN.");
            Map(text, "lan_targets", "inet_proto . inet_service : ipv4_addr", interval: true, counter: false,
                lan.Select(f => $"{f.ProtocolName} . {f.TargetPort} : {f.TargetHost}"));
            Set(text, "lan_hosts", "ipv4_addr", interval: false, counter: false, lan.Select(f => f.TargetHost!.ToString()).Distinct());
        }

        text.AppendLine("\tchain prerouting {")
            .AppendLine("\t\ttype filter hook prerouting priority mangle; policy accept;")
            .AppendLine($"\t\tiifname \"{wg}\" ct state new meta l4proto . th dport @forward_ports ct mark set {mark}")
            .AppendLine("\t\t# Replies from containers, VMs or LAN hosts the service runs on: route them back into the tunnel too.")
            .AppendLine($"\t\tiifname != \"{wg}\" ct mark {mark} meta mark set ct mark")
            .AppendLine("\t}");
        if (lan.Count > 0)
        {
            text.AppendLine()
                .AppendLine("\tchain lan_dnat {")
                .AppendLine("\t\ttype nat hook prerouting priority dstnat; policy accept;")
                .AppendLine($"\t\tiifname \"{wg}\" ct mark {mark} meta nfproto ipv4 dnat ip to meta l4proto . th dport map @lan_targets")
                .AppendLine("\t}");
        }
        foreach (var (chain, hook) in new[] { ("input", "input"), ("forward", "forward") })
        {
            text.AppendLine()
                .AppendLine($"\tchain {chain} {{")
                .AppendLine($"\t\ttype filter hook {hook} priority filter; policy accept;")
                .AppendLine($"\t\tiifname \"{wg}\" ct state established,related accept")
                .AppendLine($"\t\tiifname \"{wg}\" ct mark {mark} accept")
                .AppendLine($"\t\tiifname \"{wg}\" drop")
                .AppendLine("\t}");
        }
        text.AppendLine()
            .AppendLine("\tchain output {")
            .AppendLine("\t\ttype route hook output priority mangle; policy accept;")
            .AppendLine("\t\t# Replies already routed into the tunnel (from the tunnel address) need no mark: a changed mark would route")
            .AppendLine("\t\t# every one of their packets again.")
            .AppendLine($"\t\toifname \"{wg}\" accept")
            .AppendLine($"\t\tct mark {mark} meta mark set ct mark");
        if (udpHere.Count > 0)
        {
            text.AppendLine("\t\t# A UDP service on 0.0.0.0 answers from the address its route picks (the LAN's), which conntrack does not")
                .AppendLine("\t\t# take for a reply: mark it, so the rules route it into the tunnel (LAN destinations stay on the LAN)...")
                .AppendLine("\t\t# but never WireGuard's own datagrams (its FwMark), whose random port may be one of those.")
                .AppendLine($"\t\tmeta mark {HostNames.HomeTunnelSocketMark} accept")
                .AppendLine($"\t\tudp sport @udp_reply_ports meta mark set {mark}");
        }
        text.AppendLine("\t}");
        if (udpHere.Count > 0)
        {
            text.AppendLine()
                .AppendLine("\tchain udp_reply_source {")
                .AppendLine("\t\ttype filter hook postrouting priority srcnat - 10; policy accept;")
                .AppendLine("\t\t# ...where it must leave from the tunnel address the visitor's datagram was sent to.")
                .AppendLine($"\t\toifname \"{wg}\" udp sport @udp_reply_ports ip saddr != {t.HomeAddress} ip saddr set {t.HomeAddress}");
            if (t.HomeAddress6 is { } home6)
            {
                text.AppendLine($"\t\toifname \"{wg}\" udp sport @udp_reply_ports ip6 saddr != {home6} ip6 saddr set {home6}");
            }
            text.AppendLine("\t}");
        }
        if (lan.Count > 0)
        {
            text.AppendLine()
                .AppendLine("\tchain lan_masquerade {")
                .AppendLine("\t\ttype nat hook postrouting priority srcnat; policy accept;")
                .AppendLine("\t\t# A LAN host would answer through the LAN's own router: it sees this host instead, and answers here.")
                .AppendLine($"\t\toifname != \"{wg}\" ct mark {mark} ip daddr @lan_hosts masquerade")
                .AppendLine("\t}");
        }
        text.AppendLine()
            .AppendLine("\t# The deploy check's UDP probe from the VPS (see probe.sh): answered with \"port unreachable\" after every usual")
            .AppendLine("\t# filter chain, so an answer proves that forwarded datagrams get past this host's firewall. The service never sees it.")
            .AppendLine("\tchain deploy_probe {")
            .AppendLine($"\t\ttype filter hook input priority filter + {ProbePriority}; policy accept;")
            .AppendLine($"\t\tiifname \"{wg}\" ip saddr {t.VpsAddress} {ProbeMatch} reject");
        if (t.VpsAddress6 is { } vps6)
        {
            text.AppendLine($"\t\tiifname \"{wg}\" ip6 saddr {vps6} {ProbeMatch} reject");
        }
        text.AppendLine("\t}");
        return File(HostNames.HomeRulesetPath, HostNames.HomeTable, "lets the VPS reach the forwarded ports, and nothing else, and routes their replies back", text);
    }

    /// <summary>The home's tunnel address per family, as nft's family keyword and the address.</summary>
    private static IEnumerable<(string Family, string Address)> HomeAddresses(TunnelSettings t)
    {
        yield return ("ip", t.HomeAddress.ToString());
        if (t.HomeAddress6 is { } home6)
        {
            yield return ("ip6", home6.ToString());
        }
    }

    /// <summary>The UDP probe's payload: 16 bytes, matched whole by the home's <c>deploy_probe</c> chain.</summary>
    public const string ProbePayload = "home-relay-probe";

    /// <summary>Later than any usual filter chain (iptables-nft's and Debian's own sit at priority filter).</summary>
    private const int ProbePriority = 100;

    private static string ProbeMatch =>
        $"udp length {8 + ProbePayload.Length} @th,64,{ProbePayload.Length * 8} 0x{Convert.ToHexStringLower(Encoding.ASCII.GetBytes(ProbePayload))}";

    /// <summary>DNAT to the home's address of one family, through the port map first when some ports change on the way.</summary>
    private static void Dnat(StringBuilder text, string nfproto, string family, string home, bool translated)
    {
        var target = family == "ip6" ? $"[{home}]" : home;
        if (translated)
        {
            text.AppendLine($"\t\tmeta l4proto {{ tcp, udp }} meta nfproto {nfproto} dnat {family} to {target} : meta l4proto . th dport map @target_ports");
        }
        text.AppendLine($"\t\tmeta nfproto {nfproto} dnat {family} to {home}");
    }

    private static void Set(StringBuilder text, string name, string type, bool interval, bool counter, IEnumerable<string> elements) =>
        Declare(text, "set", name, type, interval, counter, elements);

    private static void Map(StringBuilder text, string name, string type, bool interval, bool counter, IEnumerable<string> elements) =>
        Declare(text, "map", name, type, interval, counter, elements);

    /// <summary>A set or map, one element per line so that a preview's diff shows exactly which forward changed.</summary>
    private static void Declare(StringBuilder text, string kind, string name, string type, bool interval, bool counter, IEnumerable<string> elements)
    {
        text.AppendLine($"\t{kind} {name} {{")
            .AppendLine($"\t\ttype {type}");
        if (interval)
        {
            text.AppendLine("\t\tflags interval");
        }
        if (counter)
        {
            text.AppendLine("\t\tcounter");
        }
        // One element per line, at the block's own depth: a preview's diff shows the one that changed, and a thousand
        // forwards cost a tab less each in a command whose size Linux caps.
        text.AppendLine("\t\telements = {")
            .AppendLine(string.Join(",\n", elements.Select(e => "\t\t" + e)))
            .AppendLine("\t\t}")
            .AppendLine("\t}")
            .AppendLine();
    }

    /// <summary>Port ranges of one protocol merged where they touch or overlap (an interval set refuses overlaps).</summary>
    private static IEnumerable<(string Protocol, PortRange Ports)> Merge(IEnumerable<(string Protocol, PortRange Ports)> ranges)
    {
        foreach (var group in ranges.GroupBy(r => r.Protocol).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            PortRange? run = null;
            foreach (var range in group.Select(r => r.Ports).Order())
            {
                if (run is { } r && range.First <= r.Last + 1)
                {
                    run = new PortRange(r.First, Math.Max(r.Last, range.Last));
                    continue;
                }
                if (run is { } done)
                {
                    yield return (group.Key, done);
                }
                run = range;
            }
            if (run is { } last)
            {
                yield return (group.Key, last);
            }
        }
    }

    /// <summary>
    /// A ruleset file: "declare, delete, define" its own table, so a load replaces the table atomically. The table
    /// carries a comment with a hash of its body, so apply can tell whether the loaded table is this file's.
    /// </summary>
    private static HostFile File(string path, string table, string purpose, StringBuilder body)
    {
        var rules = WireGuardConfigs.Lf(body);
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(rules)))[..16];
        var text = new StringBuilder()
            .AppendLine("#!/usr/sbin/nft -f")
            .AppendLine($"# Managed by home-relay: table inet {table} {purpose}.")
            .AppendLine("# Loaded by wg-quick (PreUp) and removed with the tunnel (PostDown); it touches no other table.")
            .AppendLine($"table inet {table}")
            .AppendLine($"delete table inet {table}")
            .AppendLine($"table inet {table} {{")
            .AppendLine($"\tcomment \"{TableIdPrefix}{id}\"")
            .AppendLine()
            .Append(rules)
            .AppendLine("}");
        return new HostFile(path, "0600", WireGuardConfigs.Lf(text));
    }

    /// <summary>How a loaded table's comment starts; apply.sh looks for it (<c>comment "home-relay &lt;hash&gt;"</c>).</summary>
    internal const string TableIdPrefix = "home-relay ";

    private static List<Forward> Sorted(IEnumerable<Forward> forwards) =>
        [.. forwards.OrderBy(f => f.Protocol).ThenBy(f => f.Port)];
}

/// <summary>
/// The mark that names a forward on the VPS, in its connections' conntrack entries and in the counters: its first
/// public port, plus 65536 for UDP. Readable (<c>conntrack -L --mark 443</c>), never 0, and the same while other
/// forwards come and go. The VPS runs nothing else that marks connections.
/// </summary>
public static class ForwardMarks
{
    public static uint Of(Forward forward) => (forward.Protocol == Protocol.Udp ? 0x10000u : 0u) + (uint)forward.Port.First;

    public static string Text(Forward forward) => Of(forward).ToString(CultureInfo.InvariantCulture);
}
