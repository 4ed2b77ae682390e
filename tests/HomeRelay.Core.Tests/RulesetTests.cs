using HomeRelay.Core.Hosts;
using HomeRelay.Core.Settings;
using HomeRelay.Core.Tests.Support;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary>The rulesets for stacks other than the example: ranges, LAN targets, IPv6 off, and the largest stack accepted.</summary>
public sealed class RulesetTests
{
    private static RelayPlan PlanWith(params (string Key, string? Value)[] changes) =>
        Examples.Plan(SettingsReader.Read(Examples.DevWith(changes)).SettingsOrThrow());

    private const string Ranges = """
        [{"protocol":"tcp","port":"27015-27030"},{"protocol":"udp","port":"27015-27030"},
         {"protocol":"udp","port":"49160-49162","targetPort":"59160-59162"},{"protocol":"tcp","port":443}]
        """;

    private const string LanTarget = """
        [{"protocol":"tcp","port":443},{"protocol":"tcp","port":8445,"targetPort":445,"targetHost":"192.168.1.30"}]
        """;

    /// <summary>
    /// The largest stack validation accepts, by rendered size: the most forwards, half of them UDP (the home renders
    /// those twice), as many translated as allowed, to target ports that are not neighbours (so nothing merges at
    /// home). The public ports are neighbours, or Hetzner's firewall would refuse the stack.
    /// </summary>
    private static string LargestForwards()
    {
        var half = Limits.MaxForwards / 2;
        var translatedPerProtocol = Limits.MaxTranslatedPorts / 2;
        return "[" + string.Join(",", Enumerable.Range(0, Limits.MaxForwards).Select(i =>
        {
            var (protocol, n) = i < half ? ("tcp", i) : ("udp", i - half);
            var target = n < translatedPerProtocol ? 30000 + (2 * n) : 10000 + n;
            return $$"""{"protocol":"{{protocol}}","port":{{10000 + n}},"targetPort":{{target}}}""";
        })) + "]";
    }

    public static TheoryData<string> Variants() => ["ranges", "lan-target", "ipv6-off", "largest"];

    private static RelayPlan Variant(string name) => name switch
    {
        "ranges" => PlanWith((K.Forwards, Ranges)),
        "lan-target" => PlanWith((K.Forwards, LanTarget)),
        "ipv6-off" => PlanWith((K.Ipv6, "false")),
        "largest" => PlanWith((K.Forwards, LargestForwards())),
        _ => throw new ArgumentException(name),
    };

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void Nft_accepts_both_rulesets_of_every_variant(string variant)
    {
        var nft = HostTool.Require("nft", "nftables");
        HostTool.RequireRoot("nft -c checks a ruleset against the kernel");
        foreach (var file in new[] { NftRulesets.Vps(Variant(variant)), NftRulesets.Home(Variant(variant)) })
        {
            using var temp = new HostTool.TempFile(file.Content, ".nft");
            var result = HostTool.Run(nft, ["-c", "-f", temp.Path]);
            Assert.True(result.ExitCode == 0, $"{variant} {file.Path}: {result.Output}");
        }
    }

    [Fact]
    public void A_range_is_one_interval_and_a_shifted_range_maps_port_by_port()
    {
        var plan = Variant("ranges");
        var vps = NftRulesets.Vps(plan).Content;
        Assert.Contains("\t\ttcp . 27015-27030 : 27015,\n", vps);
        Assert.Contains("\t\tudp . 49160 : 59160,\n\t\tudp . 49161 : 59161,\n\t\tudp . 49162 : 59162\n", vps);
        Assert.DoesNotContain("27016 :", vps); // an unshifted range keeps its ports: no map entries
    }

    [Fact]
    public void The_homes_udp_reply_ports_are_the_udp_targets_merged()
    {
        var home = NftRulesets.Home(Variant("ranges")).Content;
        Assert.Contains("set udp_reply_ports {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = {\n\t\t27015-27030,\n\t\t59160-59162\n\t\t}", home);
    }

    [Fact]
    public void The_vps_lets_the_home_start_udp_flows_from_its_udp_target_ports_at_their_public_ports()
    {
        var vps = NftRulesets.Vps(Variant("ranges")).Content;
        Assert.Contains("set home_udp_ports {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = {\n\t\t27015-27030,\n\t\t59160-59162\n\t\t}", vps);
        Assert.Contains("map home_udp_public_ports {\n\t\ttype inet_service : inet_service\n\t\telements = {\n\t\t59160 : 49160,\n\t\t59161 : 49161,\n\t\t59162 : 49162\n\t\t}", vps);
        foreach (var (family, home) in new[] { ("ip", "10.66.0.2"), ("ip6", "fd66:7265:6c61::2") })
        {
            Assert.Contains($"\t\tiifname \"wg0\" {family} saddr {home} udp sport @home_udp_ports accept\n", vps);
            // The translated ports first: the plain masquerade would keep the home's port.
            Assert.Contains($"\t\tiifname \"wg0\" {family} saddr {home} udp sport @home_udp_public_ports masquerade to :udp sport map @home_udp_public_ports\n"
                + $"\t\tiifname \"wg0\" {family} saddr {home} udp sport @home_udp_ports masquerade\n", vps);
        }
    }

    [Fact]
    public void Only_the_home_servers_own_udp_forwards_may_start_flows()
    {
        var tcpOnly = NftRulesets.Vps(PlanWith((K.Forwards, """[{"protocol":"tcp","port":443}]"""))).Content;
        Assert.DoesNotContain("home_udp", tcpOnly);
        Assert.DoesNotContain("chain postrouting", tcpOnly);
        var lanUdp = NftRulesets.Vps(PlanWith((K.HomeLan, "192.168.1.0/24"), (K.Forwards, """
            [{"protocol":"udp","port":25565},{"protocol":"udp","port":27015,"targetHost":"192.168.1.30"}]
            """))).Content;
        Assert.Contains("set home_udp_ports {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = {\n\t\t25565\n\t\t}", lanUdp);
        Assert.DoesNotContain("home_udp_public_ports", lanUdp);
    }

    [Fact]
    public void Overlapping_target_ports_are_merged_because_an_interval_set_refuses_overlaps()
    {
        var plan = PlanWith((K.Forwards, """[{"protocol":"tcp","port":80,"targetPort":8080},{"protocol":"tcp","port":"8079-8081"}]"""));
        Assert.Contains("\t\ttcp . 8079-8081\n", NftRulesets.Home(plan).Content);
    }

    [Fact]
    public void A_lan_target_is_passed_on_by_the_home_and_masqueraded_and_ipv6_visitors_stop_at_the_vps()
    {
        var plan = Variant("lan-target");
        var lan = plan.Settings.Forwards.Single(f => f.IsLanTarget);
        var home = NftRulesets.Home(plan).Content;
        Assert.Contains("\t\ttcp . 445 : 192.168.1.30\n", home);
        Assert.Contains("dnat ip to meta l4proto . th dport map @lan_targets", home);
        Assert.Contains("oifname != \"wg0\" ct mark 51821 ip daddr @lan_hosts masquerade", home);
        var vps = NftRulesets.Vps(plan).Content;
        Assert.Contains($"set ipv4_only_marks {{\n\t\ttype mark\n\t\telements = {{\n\t\t{ForwardMarks.Text(lan)}\n", vps);
        Assert.Contains("meta nfproto ipv6 ct mark @ipv4_only_marks return", vps);
        Assert.DoesNotContain("snat_marks", vps); // masqueraded at home, not on the VPS
    }

    [Fact]
    public void A_lan_target_switches_forwarding_on_at_home_and_remove_puts_it_back()
    {
        var bundle = HostBundle.Home(Variant("lan-target"));
        var sysctl = Assert.Single(bundle.Files, f => f.Path == HostNames.SysctlPath);
        Assert.Contains("net.ipv4.ip_forward = 1\n", sysctl.Content);
        Assert.Contains($"readonly SYSCTL_FILE={HostNames.SysctlPath}", bundle.ApplyCommand);
        Assert.DoesNotContain(HostBundle.Home(PlanWith((K.Forwards, Examples.HomeOnlyForwards))).Files, f => f.Path == HostNames.SysctlPath);
    }

    [Fact]
    public void Without_ipv6_nothing_of_ipv6_is_rendered()
    {
        var plan = Variant("ipv6-off");
        foreach (var text in new[] { NftRulesets.Vps(plan).Content, NftRulesets.Home(plan).Content, WireGuardConfigs.Vps(plan).Content, WireGuardConfigs.Home(plan).Content })
        {
            Assert.DoesNotContain("ip6", text);
            Assert.DoesNotContain("fd66", text);
            Assert.DoesNotContain("::", text);
        }
        Assert.DoesNotContain("ipv6", ForwardingSysctl.For(HostRole.Vps, plan)!.Content);
    }

    [Fact]
    public void The_tunnel_carries_both_families_by_default()
    {
        Assert.Contains("Address = 10.66.0.1/24, fd66:7265:6c61::1/64\n", WireGuardConfigs.Vps(Examples.Plan()).Content);
        Assert.Contains("AllowedIPs = 10.66.0.2/32, fd66:7265:6c61::2/128\n", WireGuardConfigs.Vps(Examples.Plan()).Content);
        Assert.Contains("AllowedIPs = 0.0.0.0/0, ::/0\n", WireGuardConfigs.Home(Examples.Plan()).Content);
        Assert.Contains("net.ipv6.conf.all.forwarding = 1\n", ForwardingSysctl.For(HostRole.Vps, Examples.Plan())!.Content);
    }

    [Fact]
    public void Forward_marks_stay_the_same_when_other_forwards_come_and_go()
    {
        var https = new Forward(Protocol.Tcp, 443, 443, ClientIpMode.Transparent);
        Assert.Equal("443", ForwardMarks.Text(https));
        Assert.Equal(65536u + 443, ForwardMarks.Of(https with { Protocol = Protocol.Udp }));
        Assert.NotEqual(ForwardMarks.Of(https), ForwardMarks.Of(https with { Protocol = Protocol.Udp }));
    }

    /// <summary>
    /// Linux caps one argument at 128 KiB, and sshd hands the whole remote command to the login shell as one. The
    /// largest stack validation accepts must stay well under that on every command, with room for the scripts to
    /// grow: a quarter of the limit in hand.
    /// </summary>
    [Fact]
    public void The_largest_stack_validation_accepts_renders_commands_well_under_the_argument_limit()
    {
        const int limit = 128 * 1024;
        var plan = Variant("largest");
        var commands = new Dictionary<string, string>
        {
            ["vps apply"] = HostBundle.Vps(plan).ApplyCommand,
            ["home apply"] = HostBundle.Home(plan).ApplyCommand,
            ["check"] = HostBundle.CheckCommand(plan),
            ["status"] = HostBundle.StatusCommand(plan.Settings, Examples.VpsEndpoint, Examples.VpsAddress6, StatusFormat.Json),
        };
        var sizes = commands.ToDictionary(c => c.Key, c => System.Text.Encoding.UTF8.GetByteCount(c.Value));
        Assert.All(sizes, size => Assert.True(size.Value < limit * 3 / 4,
            $"the {size.Key} command of {size.Value} bytes is not well under {limit}: {string.Join(", ", sizes)}"));
    }

    [Fact]
    public void The_homes_routing_rules_do_not_grow_with_the_forwards()
    {
        Assert.Equal(HomeHook.Render(Examples.Plan()).Content, HomeHook.Render(Variant("largest")).Content);
    }
}
