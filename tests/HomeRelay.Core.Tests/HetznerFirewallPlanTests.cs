using HomeRelay.Core.Cloud;
using HomeRelay.Core.Settings;
using HomeRelay.Core.Tests.Support;
using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary>The VPS's inbound firewall rules at Hetzner, planned from the settings.</summary>
public sealed class HetznerFirewallPlanTests
{
    private static HetznerFirewallPlan PlanWith(params (string Key, string? Value)[] changes) =>
        HetznerFirewallPlan.For(AssertValid(ReadWith(changes)));

    private static List<string> Summary(HetznerFirewallPlan plan) =>
        [.. plan.Rules.Select(r => $"{r.Protocol} {r.Port ?? "-"} from {string.Join(",", r.Sources)}")];

    [Fact]
    public void The_example_opens_icmp_ssh_from_the_admin_ranges_wireguard_and_each_forward_from_anywhere() =>
        Assert.Equal(
        [
            "icmp - from 0.0.0.0/0,::/0",
            "tcp 22 from 198.51.100.0/24,203.0.113.0/24",
            "udp 51820 from 0.0.0.0/0,::/0",
            "tcp 80 from 0.0.0.0/0,::/0",
            "tcp 443 from 0.0.0.0/0,::/0",
            "tcp 2222 from 0.0.0.0/0,::/0",
            "tcp 8445 from 0.0.0.0/0,::/0",
            "tcp 27015-27030 from 0.0.0.0/0,::/0",
            "udp 25565 from 0.0.0.0/0,::/0",
            "udp 27015-27030 from 0.0.0.0/0,::/0",
        ], Summary(HetznerFirewallPlan.For(Examples.DevSettings())));

    [Fact]
    public void Without_ipv6_anywhere_is_ipv4_only() =>
        Assert.All(PlanWith((K.Ipv6, "false")).Rules.Where(r => r.Port != "22"), r => Assert.Equal("0.0.0.0/0", Assert.Single(r.Sources)));

    [Fact]
    public void Icmp_has_no_port() =>
        Assert.Null(Assert.Single(HetznerFirewallPlan.For(Examples.DevSettings()).Rules, r => r.Protocol == "icmp").Port);

    [Fact]
    public void Adjacent_ports_and_ranges_of_one_protocol_merge_into_one_rule() =>
        Assert.Equal("tcp 80-91 from 0.0.0.0/0,::/0", Summary(PlanWith((K.Forwards,
            """[{"protocol":"tcp","port":91},{"protocol":"tcp","port":80},{"protocol":"tcp","port":"81-90"}]""")))[3]);

    [Fact]
    public void Ports_with_a_gap_stay_separate_rules() =>
        Assert.Equal(["tcp 80", "tcp 82"], Summary(PlanWith((K.Forwards, """[{"protocol":"tcp","port":80},{"protocol":"tcp","port":82}]""")))
            .Skip(3).Select(s => s[..s.IndexOf(" from", StringComparison.Ordinal)]));

    [Fact]
    public void The_same_ports_of_both_protocols_are_one_rule_each() =>
        Assert.Equal(["tcp 53", "udp 53"], Summary(PlanWith((K.Forwards, """[{"protocol":"udp","port":53},{"protocol":"tcp","port":53}]""")))
            .Skip(3).Select(s => s[..s.IndexOf(" from", StringComparison.Ordinal)]));

    [Fact]
    public void A_merged_rule_describes_the_forwards_it_opens() =>
        Assert.Equal("forwards tcp/80, tcp/81-90, tcp/91", PlanWith((K.Forwards,
            """[{"protocol":"tcp","port":91},{"protocol":"tcp","port":80},{"protocol":"tcp","port":"81-90"}]""")).Rules[3].Description);

    [Fact]
    public void A_rule_of_many_forwards_keeps_a_short_description()
    {
        var forwards = "[" + string.Join(",", Enumerable.Range(10000, 500).Select(p => $$"""{"protocol":"tcp","port":{{p}}}""")) + "]";
        Assert.Equal("500 forwards in tcp/10000-10499", PlanWith((K.Forwards, forwards)).Rules[3].Description);
    }

    [Fact]
    public void Effective_rules_count_each_source_network_of_each_rule() =>
        Assert.Equal(2 + 2 + 2 + (7 * 2), HetznerFirewallPlan.For(Examples.DevSettings()).EffectiveRules);

    [Fact]
    public void Plans_of_the_same_settings_are_equal_rule_by_rule() =>
        Assert.Equal(HetznerFirewallPlan.For(Examples.DevSettings()).Rules.ToList(), HetznerFirewallPlan.For(Examples.DevSettings()).Rules.ToList());
}

/// <summary>Hetzner's limits on one firewall, checked before anything is created.</summary>
public sealed class HetznerFirewallLimitTests
{
    /// <summary><paramref name="count"/> tcp forwards with a port between each, so none merge.</summary>
    private static string SpacedForwards(int count) =>
        "[" + string.Join(",", Enumerable.Range(0, count).Select(i => $$"""{"protocol":"tcp","port":{{10000 + (2 * i)}}}""")) + "]";

    /// <summary><paramref name="count"/> distinct /32 networks.</summary>
    private static string SshRanges(int count) =>
        "[" + string.Join(",", Enumerable.Range(0, count).Select(i => $"\"10.0.{i / 256}.{i % 256}/32\"")) + "]";

    /// <summary>The example's other rules (ICMP, WireGuard, four forwards) count 2 each with IPv6 on.</summary>
    private const int ExampleEffectiveRulesBesidesSsh = 2 * 9;

    [Fact]
    public void Forwards_that_need_exactly_the_rule_limit_are_accepted() =>
        AssertValid(ReadWith((K.Forwards, SpacedForwards(Limits.HetznerFirewallRules - 3))));

    [Fact]
    public void Forwards_that_need_one_rule_more_are_refused_with_the_count_and_the_limit() =>
        AssertSingleError(ReadWith((K.Forwards, SpacedForwards(Limits.HetznerFirewallRules - 2))), K.Forwards,
            $"{Limits.HetznerFirewallRules + 1} rules, more than Hetzner's limit of {Limits.HetznerFirewallRules}");

    [Fact]
    public void The_rule_limit_refusal_says_how_to_merge_ports() =>
        AssertSingleError(ReadWith((K.Forwards, SpacedForwards(Limits.HetznerFirewallRules - 2))), K.Forwards, "ranges");

    [Fact]
    public void Ssh_ranges_up_to_the_effective_rule_limit_are_accepted() =>
        AssertValid(ReadWith((K.SshSourceRanges, SshRanges(Limits.HetznerFirewallEffectiveRules - ExampleEffectiveRulesBesidesSsh))));

    [Fact]
    public void One_ssh_range_more_than_the_effective_rule_limit_is_refused_with_the_count() =>
        AssertSingleError(ReadWith((K.SshSourceRanges, SshRanges(Limits.HetznerFirewallEffectiveRules - ExampleEffectiveRulesBesidesSsh + 1))),
            K.SshSourceRanges, $"{Limits.HetznerFirewallEffectiveRules + 1} effective rules, more than Hetzner's limit of {Limits.HetznerFirewallEffectiveRules}");

    [Fact]
    public void The_effective_rule_refusal_says_to_list_fewer_ssh_ranges() =>
        AssertSingleError(ReadWith((K.SshSourceRanges, SshRanges(Limits.HetznerFirewallEffectiveRules - ExampleEffectiveRulesBesidesSsh + 1))),
            K.SshSourceRanges, "fewer sshSourceRanges");

    [Fact]
    public void Without_ipv6_the_other_rules_count_once_each_leaving_room_for_more_ssh_ranges() =>
        AssertValid(ReadWith((K.Ipv6, "false"), (K.SshSourceRanges, SshRanges(Limits.HetznerFirewallEffectiveRules - (ExampleEffectiveRulesBesidesSsh / 2)))));
}
