using System.Collections.Immutable;
using System.Globalization;
using HomeRelay.Core.Settings;
using static HomeRelay.Components.Tests.TestDeployment;

namespace HomeRelay.Components.Tests;

/// <summary>
/// Hetzner's limits per firewall (50 rules, 500 effective rules), which the mock engine does not enforce: many forwards
/// fit when neighbouring ports merge, and a stack that cannot fit is refused before anything is created.
/// </summary>
public sealed class FirewallLimitTests
{
    /// <summary>
    /// 60 forwards: tcp 30000-30049 (50 neighbours, one run), udp 40000-40004 (one run) and five scattered udp ports
    /// (one rule each), with the example's SSH range. IPv6 on, so "anywhere" counts twice.
    /// </summary>
    private static Dictionary<string, string?> SixtyForwards()
    {
        var ports = Enumerable.Range(30000, 50).Select(p => ("tcp", p))
            .Concat(Enumerable.Range(40000, 5).Select(p => ("udp", p)))
            .Concat(new[] { 41000, 42000, 43000, 44000, 45000 }.Select(p => ("udp", p)));
        var config = ExampleConfig();
        config["forwards"] = Forwards(ports);
        return config;
    }

    private static string Forwards(IEnumerable<(string Protocol, int Port)> ports) =>
        "[" + string.Join(",", ports.Select(f => string.Create(CultureInfo.InvariantCulture, $$"""{"protocol":"{{f.Protocol}}","port":{{f.Port}}}"""))) + "]";

    private static int EffectiveRules(IEnumerable<ImmutableDictionary<string, object>> rules) =>
        rules.Sum(r => ((ImmutableArray<object>)r["sourceIps"]).Length);

    [Fact]
    public async Task Sixty_mostly_neighbouring_forwards_fit_in_one_firewall_within_hetzners_limits()
    {
        var rules = (await RunAsync(SixtyForwards())).FirewallRules();
        Assert.InRange(rules.Count, 1, Limits.HetznerFirewallRules);
        Assert.InRange(EffectiveRules(rules), 1, Limits.HetznerFirewallEffectiveRules);
    }

    [Fact]
    public async Task Neighbouring_forwards_become_one_rule_whose_port_is_a_hetzner_range()
    {
        var rules = (await RunAsync(SixtyForwards())).FirewallRules();
        Assert.Equal(
            ["tcp 30000-30049", "udp 40000-40004", "udp 41000", "udp 42000", "udp 43000", "udp 44000", "udp 45000"],
            rules.Skip(3).Select(r => $"{r["protocol"]} {r["port"]}"));
    }

    [Fact]
    public async Task Sixty_scattered_single_ports_are_refused_with_the_cores_message_before_any_resource_is_registered()
    {
        var config = ExampleConfig();
        config["forwards"] = Forwards(Enumerable.Range(0, 60).Select(i => ("tcp", 30000 + 2 * i)));
        var mocks = new RelayMocks();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => RunAsync(config, mocks));
        Assert.Contains("home-relay:forwards: would need 63 rules, more than Hetzner's limit of 50 per firewall", e.ToString());
        Assert.DoesNotContain(mocks.Registered, r => r.Type != "pulumi:pulumi:Stack");
    }
}
