using System.Security.Cryptography;
using System.Text;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// The nftables tables of both peers. Each file starts with "declare, delete, define" of its own table, so every
/// load (<c>nft -f</c>) replaces the table atomically and touches nothing else in the ruleset.
/// </summary>
public static class NftRulesets
{
    /// <summary>
    /// VPS: DNAT of the forwarded ports (only) to the home end of the tunnel, a forward chain that drops everything
    /// else, MSS clamping both ways, and masquerade for the forwards that asked for <c>snat</c>.
    /// </summary>
    public static HostFile Vps(RelayPlan plan)
    {
        var home = plan.Tunnel.HomeAddress;
        var forwards = Sorted(plan.Settings.Forwards);
        var text = new StringBuilder();

        text.AppendLine("\tchain prerouting {")
            .AppendLine("\t\ttype nat hook prerouting priority dstnat; policy accept;");
        foreach (var f in forwards)
        {
            text.AppendLine($"\t\tiifname != \"{HostNames.Interface}\" fib daddr type local {f.ProtocolName} dport {f.Port} dnat ip to {home}:{f.TargetPort}");
        }
        text.AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain forward {")
            .AppendLine("\t\ttype filter hook forward priority filter; policy drop;")
            .AppendLine("\t\t# The tunnel carries less than the internet link: clamp TCP segments to the route's MTU, both ways.")
            .AppendLine("\t\ttcp flags syn tcp option maxseg size set rt mtu")
            .AppendLine("\t\tct state established,related accept")
            .AppendLine($"\t\toifname \"{HostNames.Interface}\" ip daddr {home} ct status dnat accept")
            .AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain postrouting {")
            .AppendLine("\t\ttype nat hook postrouting priority srcnat; policy accept;");
        foreach (var f in forwards.Where(f => f.ClientIp == ClientIpMode.Snat))
        {
            text.AppendLine($"\t\toifname \"{HostNames.Interface}\" ct status dnat meta l4proto {f.ProtocolName} ct original proto-dst {f.Port} masquerade");
        }
        text.AppendLine("\t}");
        return File(HostNames.VpsRulesetPath, HostNames.VpsTable, "relays the forwarded ports of the VPS to the home server", text);
    }

    /// <summary>
    /// Home: new connections from the tunnel are accepted only to the forwarded (target) ports and get a conntrack
    /// mark; their replies carry it as a packet mark, which the hook's policy rule routes back into the tunnel.
    /// Everything else from the tunnel is dropped, so the home stays closed even if the VPS is taken over.
    /// </summary>
    public static HostFile Home(RelayPlan plan)
    {
        var mark = HostNames.HomeRoutingTable;
        var wg = HostNames.Interface;
        var text = new StringBuilder();
        var byProtocol = Sorted(plan.Settings.Forwards).GroupBy(f => f.ProtocolName);

        text.AppendLine("\tchain prerouting {")
            .AppendLine("\t\ttype filter hook prerouting priority mangle; policy accept;");
        foreach (var group in byProtocol)
        {
            var ports = string.Join(", ", group.Select(f => f.TargetPort).Distinct().Order());
            text.AppendLine($"\t\tiifname \"{wg}\" ct state new {group.Key} dport {{ {ports} }} ct mark set {mark}");
        }
        text.AppendLine("\t\t# Replies from containers or VMs the service runs in: route them back into the tunnel too.")
            .AppendLine($"\t\tiifname != \"{wg}\" ct mark {mark} meta mark set ct mark")
            .AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain input {")
            .AppendLine("\t\ttype filter hook input priority filter; policy accept;")
            .AppendLine($"\t\tiifname \"{wg}\" ct state established,related accept")
            .AppendLine($"\t\tiifname \"{wg}\" ct mark {mark} accept")
            .AppendLine($"\t\tiifname \"{wg}\" drop")
            .AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain forward {")
            .AppendLine("\t\ttype filter hook forward priority filter; policy accept;")
            .AppendLine($"\t\tiifname \"{wg}\" ct state established,related accept")
            .AppendLine($"\t\tiifname \"{wg}\" ct mark {mark} accept")
            .AppendLine($"\t\tiifname \"{wg}\" drop")
            .AppendLine("\t}")
            .AppendLine()
            .AppendLine("\tchain output {")
            .AppendLine("\t\ttype route hook output priority mangle; policy accept;")
            .AppendLine($"\t\tct mark {mark} meta mark set ct mark")
            .AppendLine("\t}")
            .AppendLine()
            .AppendLine("\t# The deploy check's UDP probe from the VPS (see probe.sh): answered with \"port unreachable\" after every usual")
            .AppendLine("\t# filter chain, so an answer proves that forwarded datagrams get past this host's firewall. The service never sees it.")
            .AppendLine("\tchain deploy_probe {")
            .AppendLine($"\t\ttype filter hook input priority filter + {ProbePriority}; policy accept;")
            .AppendLine($"\t\tiifname \"{wg}\" ip saddr {plan.Tunnel.VpsAddress} {ProbeMatch} reject");
        if (plan.Tunnel.VpsAddress6 is { } vps6)
        {
            text.AppendLine($"\t\tiifname \"{wg}\" ip6 saddr {vps6} {ProbeMatch} reject");
        }
        text.AppendLine("\t}");
        return File(HostNames.HomeRulesetPath, HostNames.HomeTable, "lets the VPS reach the forwarded ports, and nothing else, and routes their replies back", text);
    }

    /// <summary>The UDP probe's payload: 16 bytes, matched whole by the home's <c>deploy_probe</c> chain.</summary>
    public const string ProbePayload = "home-relay-probe";

    /// <summary>Later than any usual filter chain (iptables-nft's and Debian's own sit at priority filter).</summary>
    private const int ProbePriority = 100;

    private static string ProbeMatch =>
        $"udp length {8 + ProbePayload.Length} @th,64,{ProbePayload.Length * 8} 0x{Convert.ToHexStringLower(Encoding.ASCII.GetBytes(ProbePayload))}";

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
            .Append(rules)
            .AppendLine("}");
        return new HostFile(path, "0600", WireGuardConfigs.Lf(text));
    }

    /// <summary>How a loaded table's comment starts; apply.sh looks for it (<c>comment "home-relay &lt;hash&gt;"</c>).</summary>
    internal const string TableIdPrefix = "home-relay ";

    private static IEnumerable<Forward> Sorted(IEnumerable<Forward> forwards) =>
        forwards.OrderBy(f => f.Protocol).ThenBy(f => f.Port);
}
