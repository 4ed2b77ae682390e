using System.Collections.Immutable;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Cloud;

/// <summary>
/// One inbound rule of the VPS's Hetzner Cloud firewall, as its API takes it: <paramref name="Protocol"/> "tcp", "udp" or
/// "icmp"; <paramref name="Port"/> a port or range ("80-91"), null for ICMP; <paramref name="Sources"/> the networks
/// (CIDR) it admits.
/// </summary>
public sealed record HetznerFirewallRule(string Protocol, string? Port, ImmutableArray<string> Sources, string Description)
{
    public bool Equals(HetznerFirewallRule? other) =>
        other is not null && (Protocol, Port, Description) == (other.Protocol, other.Port, other.Description) && Sources.SequenceEqual(other.Sources);

    public override int GetHashCode() => HashCode.Combine(Protocol, Port, Description, Sources.Length);

    public override string ToString() => $"{Protocol} {Port ?? "-"} from {string.Join(",", Sources)} ({Description})";
}

/// <summary>
/// The inbound rules the VPS needs, from the settings alone (no Pulumi here): ICMP from anywhere, SSH from
/// <c>sshSourceRanges</c>, WireGuard from anywhere, then the forwards' public ports merged per protocol into maximal runs
/// of adjacent or overlapping ports (tcp 80, 81-90 and 91 are one rule, 80-91). Hetzner allows all outbound traffic while
/// no outbound rule exists. The Pulumi layer maps <see cref="Rules"/> one to one.
/// </summary>
public sealed class HetznerFirewallPlan
{
    /// <summary>Longer descriptions of merged forwards give way to a count, well inside what the API stores.</summary>
    private const int DescriptionLength = 120;

    private HetznerFirewallPlan(ImmutableArray<HetznerFirewallRule> rules) => Rules = rules;

    /// <summary>In order: ICMP, SSH, WireGuard, then the forwards' runs, tcp before udp, by port.</summary>
    public ImmutableArray<HetznerFirewallRule> Rules { get; }

    /// <summary>What Hetzner counts against <see cref="Limits.HetznerFirewallEffectiveRules"/>: each rule once per source network.</summary>
    public int EffectiveRules => Rules.Sum(r => r.Sources.Length);

    /// <summary>Rules for ICMP, SSH and WireGuard, before those of the forwards.</summary>
    public const int FixedRules = 3;

    /// <summary>Every address: both families with the IPv6 front door, IPv4 only without.</summary>
    public static ImmutableArray<string> Anywhere(bool ipv6) => ipv6 ? ["0.0.0.0/0", "::/0"] : ["0.0.0.0/0"];

    public static HetznerFirewallPlan For(RelaySettings settings) =>
        Create(settings.Ipv6, settings.Tunnel.ListenPort, settings.SshSourceRanges, settings.Forwards);

    /// <summary>The plan from the parts that matter to it (validation plans from the valid parts of invalid settings).</summary>
    public static HetznerFirewallPlan Create(bool ipv6, int wireGuardPort, IEnumerable<string> sshSourceRanges, IEnumerable<Forward> forwards)
    {
        var anywhere = Anywhere(ipv6);
        var rules = ImmutableArray.CreateBuilder<HetznerFirewallRule>();
        rules.Add(new HetznerFirewallRule("icmp", null, anywhere, "ping and path-MTU discovery"));
        rules.Add(new HetznerFirewallRule("tcp", "22", [.. sshSourceRanges], "SSH for pulumi and admins"));
        rules.Add(new HetznerFirewallRule("udp", new PortRange(wireGuardPort).ToString(), anywhere, "WireGuard from the home server"));
        foreach (var protocol in forwards.GroupBy(f => f.Protocol).OrderBy(g => g.Key))
        {
            foreach (var run in Runs(protocol))
            {
                rules.Add(new HetznerFirewallRule(run.Forwards[0].ProtocolName, run.Ports.ToString(), anywhere, Describe(run.Ports, run.Forwards)));
            }
        }
        return new HetznerFirewallPlan(rules.ToImmutable());
    }

    /// <summary>Maximal runs of adjacent or overlapping public ports, each with the forwards in it.</summary>
    private static IEnumerable<(PortRange Ports, List<Forward> Forwards)> Runs(IEnumerable<Forward> forwards)
    {
        (PortRange Ports, List<Forward> Forwards)? run = null;
        foreach (var forward in forwards.OrderBy(f => f.Port))
        {
            if (run is { } current && forward.Port.First <= current.Ports.Last + 1)
            {
                current.Forwards.Add(forward);
                run = (new PortRange(current.Ports.First, Math.Max(current.Ports.Last, forward.Port.Last)), current.Forwards);
                continue;
            }
            if (run is not null)
            {
                yield return run.Value;
            }
            run = (forward.Port, [forward]);
        }
        if (run is not null)
        {
            yield return run.Value;
        }
    }

    /// <summary>The public ports only: where they go at home is no business of the cloud provider's.</summary>
    private static string Describe(PortRange ports, List<Forward> forwards)
    {
        var protocol = forwards[0].ProtocolName;
        if (forwards.Count == 1)
        {
            return $"forward {protocol}/{ports}";
        }
        var list = $"forwards {string.Join(", ", forwards.Select(f => $"{protocol}/{f.Port}"))}";
        return list.Length <= DescriptionLength ? list : $"{forwards.Count} forwards in {protocol}/{ports}";
    }
}
