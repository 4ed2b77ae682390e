using HomeRelay.Core.Tests.Support;
using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary><c>homeLan</c>: one network or a list, IPv4 and IPv6; the tunnel's networks must not overlap them.</summary>
public sealed class HomeLanSettingsTests
{
    [Fact]
    public void One_ipv4_network_is_the_home_lan()
    {
        var home = AssertValid(ReadWith((K.HomeLan, "192.168.1.0/24"), (K.Forwards, Examples.HomeOnlyForwards))).Home;
        Assert.Equal(["192.168.1.0/24"], home.Lans.Select(l => l.ToString()));
    }

    [Fact]
    public void Without_homeLan_there_is_no_lan()
    {
        var home = AssertValid(ReadWith((K.HomeLan, null), (K.Forwards, Examples.HomeOnlyForwards))).Home;
        Assert.Equal((0, 0), (home.Lans.Length, home.Lan6.Length));
    }

    [Fact]
    public void A_list_is_split_into_ipv4_and_ipv6_networks()
    {
        var home = AssertValid(ReadWith((K.HomeLan, """["192.168.1.0/24","fd12:3456:789a::/64","10.1.0.0/16"]"""), (K.Forwards, Examples.HomeOnlyForwards))).Home;
        Assert.Equal(["192.168.1.0/24", "10.1.0.0/16"], home.Lans.Select(l => l.ToString()));
        Assert.Equal(["fd12:3456:789a::/64"], home.Lan6.Select(l => l.ToString()));
    }

    [Fact]
    public void A_single_ipv6_network_is_accepted() =>
        Assert.Equal("2001:db8:1::/64", Assert.Single(AssertValid(ReadWith((K.HomeLan, "2001:db8:1::/64"), (K.Forwards, Examples.HomeOnlyForwards))).Home.Lan6).ToString());

    [Theory]
    [InlineData("192.168.1.0", "CIDR")]
    [InlineData("192.168.1.1/24", "host bits")]
    [InlineData("fd12::1/64", "host bits")]
    [InlineData("[]", "empty")]
    public void A_bad_single_network_or_an_empty_list_is_refused_on_homeLan(string value, string mentions) =>
        AssertSingleError(ReadWith((K.HomeLan, value), (K.Forwards, Examples.HomeOnlyForwards)), K.HomeLan, mentions);

    [Theory]
    [InlineData("""["192.168.1.0/24","192.168.2.0"]""", "homeLan[1]", "CIDR")]
    [InlineData("""["192.168.1.0/24","fd12::1/64"]""", "homeLan[1]", "host bits")]
    [InlineData("""[24]""", "homeLan[0]", "CIDR")]
    public void A_bad_list_item_is_refused_by_its_index(string value, string key, string mentions) =>
        AssertSingleError(ReadWith((K.HomeLan, value), (K.Forwards, Examples.HomeOnlyForwards)), key, mentions);

    [Fact]
    public void A_tunnel_overlapping_any_ipv4_lan_is_refused_naming_that_lan() =>
        AssertSingleError(ReadWith((K.HomeLan, """["192.168.1.0/24","10.66.0.0/16"]"""), (K.Forwards, Examples.HomeOnlyForwards)), K.TunnelCidr, "homeLan[1]");

    [Fact]
    public void A_tunnel_ipv6_network_overlapping_an_ipv6_lan_is_refused_naming_that_lan() =>
        AssertSingleError(ReadWith((K.HomeLan, """["192.168.1.0/24","fd66:7265::/32"]"""), (K.Forwards, Examples.HomeOnlyForwards)), K.TunnelIpv6Cidr, "homeLan[1]");

    [Fact]
    public void An_ipv6_lan_may_overlap_the_unused_tunnel_ipv6_network_when_ipv6_is_off() =>
        AssertValid(ReadWith((K.HomeLan, "fd66:7265::/32"), (K.Forwards, Examples.HomeOnlyForwards), (K.Ipv6, "false")));

    [Fact]
    public void Ipv4_lans_are_not_compared_with_the_ipv6_tunnel_nor_ipv6_lans_with_the_ipv4_tunnel() =>
        AssertValid(ReadWith((K.HomeLan, """["172.16.0.0/12","fd00:1::/64"]"""), (K.Forwards, Examples.HomeOnlyForwards)));
}
