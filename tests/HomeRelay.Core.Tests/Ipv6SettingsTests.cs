using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary><c>ipv6</c> and <c>tunnelIpv6Cidr</c>: the IPv6 front door and the tunnel's unique-local network.</summary>
public sealed class Ipv6SettingsTests
{
    [Fact]
    public void The_ipv6_front_door_is_on_by_default_with_the_shared_unique_local_network()
    {
        var s = AssertValid(ReadWith((K.Ipv6, null), (K.TunnelIpv6Cidr, null)));
        Assert.True(s.Ipv6);
        Assert.Equal("fd66:7265:6c61::/64", s.Tunnel.Ipv6Cidr?.ToString());
    }

    [Fact]
    public void The_tunnel_ends_get_addresses_1_and_2_of_the_ipv6_network()
    {
        var s = AssertValid(ReadWith((K.TunnelIpv6Cidr, "fd12:3456:789a:1::/64")));
        Assert.Equal(("fd12:3456:789a:1::1", "fd12:3456:789a:1::2"), (s.Tunnel.VpsAddress6?.ToString(), s.Tunnel.HomeAddress6?.ToString()));
    }

    [Theory]
    [InlineData("false")]
    [InlineData("False")]
    public void Ipv6_false_turns_the_front_door_off_and_leaves_no_ipv6_network(string value)
    {
        var s = AssertValid(ReadWith((K.Ipv6, value)));
        Assert.False(s.Ipv6);
        Assert.Null(s.Tunnel.Ipv6Cidr);
    }

    [Fact]
    public void Ipv6_true_as_pulumi_hands_a_boolean_over_is_accepted() =>
        Assert.True(AssertValid(ReadWith((K.Ipv6, "true"))).Ipv6);

    [Fact]
    public void Ipv6_that_is_not_a_boolean_is_refused() =>
        AssertSingleError(ReadWith((K.Ipv6, "yes")), K.Ipv6, "true or false");

    [Theory]
    [InlineData("fd66:7265:6c61::", "CIDR")]
    [InlineData("10.66.0.0/24", "IPv6")]
    [InlineData("fd66:7265:6c61::1/64", "host bits")]
    [InlineData("2001:db8::/64", "unique-local")]
    [InlineData("fc00::/64", "unique-local")]
    [InlineData("fd66:7265:6c61::/48", "/64 to /126")]
    [InlineData("fd66:7265:6c61::/127", "/64 to /126")]
    public void A_bad_tunnel_ipv6_network_is_refused(string cidr, string mentions) =>
        AssertSingleError(ReadWith((K.TunnelIpv6Cidr, cidr)), K.TunnelIpv6Cidr, mentions);

    [Fact]
    public void A_slash_126_is_enough_for_the_two_tunnel_ends() =>
        Assert.Equal("fd00::2", AssertValid(ReadWith((K.TunnelIpv6Cidr, "fd00::/126"))).Tunnel.HomeAddress6?.ToString());

    [Fact]
    public void A_tunnel_ipv6_network_set_while_ipv6_is_off_is_a_warning_that_it_is_unused() =>
        AssertSingleWarning(ReadWith((K.Ipv6, "false"), (K.TunnelIpv6Cidr, "fd00:1::/64")), K.TunnelIpv6Cidr, "unused");

    [Fact]
    public void A_tunnel_ipv6_network_set_while_ipv6_is_off_is_not_used() =>
        Assert.Null(ReadWith((K.Ipv6, "false"), (K.TunnelIpv6Cidr, "fd00:1::/64")).SettingsOrThrow().Tunnel.Ipv6Cidr);
}
