using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary><c>mtu</c>: 1280-1420 while the tunnel carries IPv6, 1200-1420 with <c>ipv6: false</c>.</summary>
public sealed class MtuSettingsTests
{
    [Theory]
    [InlineData("1280")]
    [InlineData("1420")]
    public void The_ipv6_range_ends_are_accepted(string mtu) =>
        Assert.Equal(int.Parse(mtu), AssertValid(ReadWith((K.Mtu, mtu))).Tunnel.Mtu);

    [Fact]
    public void Below_1280_is_refused_while_the_tunnel_carries_ipv6_naming_the_reason() =>
        AssertSingleError(ReadWith((K.Mtu, "1279")), K.Mtu, "IPv6");

    [Fact]
    public void The_refusal_below_1280_says_both_bounds() =>
        AssertSingleError(ReadWith((K.Mtu, "1279")), K.Mtu, "1280-1420");

    [Fact]
    public void The_refusal_below_1280_points_to_ipv6_false() =>
        AssertSingleError(ReadWith((K.Mtu, "1279")), K.Mtu, "ipv6: false");

    [Theory]
    [InlineData("1200")]
    [InlineData("1279")]
    public void Down_to_1200_is_accepted_with_ipv6_off(string mtu) =>
        Assert.Equal(int.Parse(mtu), AssertValid(ReadWith((K.Mtu, mtu), (K.Ipv6, "false"))).Tunnel.Mtu);

    [Fact]
    public void Below_1200_is_refused_with_ipv6_off_saying_both_bounds() =>
        AssertSingleError(ReadWith((K.Mtu, "1199"), (K.Ipv6, "false")), K.Mtu, "1200-1420");

    [Theory]
    [InlineData("1421")]
    [InlineData("1500")]
    public void Above_1420_is_refused_naming_wireguards_overhead(string mtu) =>
        AssertSingleError(ReadWith((K.Mtu, mtu)), K.Mtu, "WireGuard");

    [Fact]
    public void Text_is_refused_as_not_a_whole_number() =>
        AssertSingleError(ReadWith((K.Mtu, "big")), K.Mtu, "whole number");

    [Fact]
    public void An_mtu_that_fits_one_reading_of_an_invalid_ipv6_is_not_reported_as_well() =>
        AssertSingleError(ReadWith((K.Mtu, "1250"), (K.Ipv6, "maybe")), K.Ipv6, "true or false");
}
