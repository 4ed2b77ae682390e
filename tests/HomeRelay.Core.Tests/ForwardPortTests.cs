using HomeRelay.Core.Settings;
using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary>A forward's <c>port</c> and <c>targetPort</c>: single ports or ranges, and the public ports they may not take.</summary>
public sealed class ForwardPortTests
{
    private static SettingsReader.Result ReadForwards(string json) => ReadWith((K.Forwards, json));

    private static Forward SingleForward(string json) => Assert.Single(AssertValid(ReadForwards(json)).Forwards);

    [Fact]
    public void A_range_written_as_yaml_gives_it_is_one_forward_of_those_ports() =>
        Assert.Equal(new Forward(Protocol.Udp, new PortRange(27015, 27030), new PortRange(27015, 27030), ClientIpMode.Transparent),
            SingleForward("""[{"protocol":"udp","port":"27015-27030"}]"""));

    [Fact]
    public void A_port_given_as_text_is_a_port() =>
        Assert.Equal(new PortRange(443), SingleForward("""[{"protocol":"tcp","port":"443"}]""").Port);

    [Fact]
    public void A_range_may_shift_to_a_target_range_of_the_same_length() =>
        Assert.Equal(new PortRange(37015, 37030), SingleForward("""[{"protocol":"udp","port":"27015-27030","targetPort":"37015-37030"}]""").TargetPort);

    [Fact]
    public void A_single_target_port_for_a_range_is_refused_explaining_the_offsets() =>
        AssertSingleError(ReadForwards("""[{"protocol":"udp","port":"27015-27030","targetPort":27015}]"""), "forwards[0].targetPort", "same offset");

    [Fact]
    public void A_target_range_of_another_length_is_refused_with_the_length_it_needs() =>
        AssertSingleError(ReadForwards("""[{"protocol":"udp","port":"27015-27030","targetPort":"37015-37020"}]"""), "forwards[0].targetPort", "16 ports");

    [Fact]
    public void A_target_range_for_a_single_port_is_refused() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":443,"targetPort":"8443-8444"}]"""), "forwards[0].targetPort", "single port");

    [Theory]
    [InlineData("\"27030-27015\"", "27015-27030")]
    [InlineData("\"65000-65536\"", "1-65535")]
    [InlineData("\"0-10\"", "1-65535")]
    [InlineData("\"1-2-3\"", "27015-27030")]
    [InlineData("\"80-\"", "27015-27030")]
    [InlineData("443.5", "1-65535")]
    [InlineData("true", "1-65535")]
    public void A_malformed_range_is_refused_showing_the_right_form(string port, string mentions) =>
        AssertSingleError(ReadForwards($$"""[{"protocol":"tcp","port":{{port}}}]"""), "forwards[0].port", mentions);

    [Fact]
    public void A_tcp_range_containing_22_is_refused() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":"1-1024"}]"""), "forwards[0].port", "SSH port");

    [Fact]
    public void The_refusal_of_a_range_containing_22_shows_the_split_around_it() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":"1-1024"}]"""), "forwards[0].port", "1-21 and 23-1024");

    [Fact]
    public void A_udp_range_containing_the_wireguard_port_is_refused() =>
        AssertSingleError(ReadForwards("""[{"protocol":"udp","port":"51000-52000"}]"""), "forwards[0].port", "WireGuard port");

    [Fact]
    public void A_udp_range_may_contain_22_and_a_tcp_range_the_wireguard_port() =>
        Assert.Equal(2, AssertValid(ReadForwards("""[{"protocol":"udp","port":"1-1024"},{"protocol":"tcp","port":"51000-52000"}]""")).Forwards.Length);

    [Fact]
    public void Overlapping_ranges_of_one_protocol_are_refused_naming_the_other_forward() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":"27015-27030"},{"protocol":"tcp","port":"27030-27040"}]"""),
            "forwards[1].port", "already forwarded by forwards[0] (tcp/27015-27030)");

    [Fact]
    public void A_port_inside_an_earlier_range_is_refused_naming_that_range() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":"8000-8100"},{"protocol":"tcp","port":8080}]"""),
            "forwards[1].port", "forwards[0] (tcp/8000-8100)");

    [Fact]
    public void The_later_forward_is_the_one_refused_even_when_its_range_starts_first() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":"100-200"},{"protocol":"tcp","port":"50-150"}]"""),
            "forwards[1].port", "forwards[0]");

    [Fact]
    public void A_range_over_several_earlier_forwards_is_refused_once() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":80},{"protocol":"tcp","port":443},{"protocol":"tcp","port":"30-1000"}]"""),
            "forwards[2].port", "already forwarded");

    [Fact]
    public void Adjacent_ranges_and_the_same_range_on_both_protocols_are_accepted() =>
        Assert.Equal(3, AssertValid(ReadForwards(
            """[{"protocol":"udp","port":"27015-27030"},{"protocol":"udp","port":"27031-27040"},{"protocol":"tcp","port":"27015-27030"}]""")).Forwards.Length);

    [Fact]
    public void A_forward_accepts_only_its_five_settings() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":80,"target":"192.168.1.30"}]"""), "forwards[0].target", "targetHost");
}
