using System.Net;
using HomeRelay.Core.Settings;
using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary>
/// <c>targetHost</c>: a forward passed on by the home server to another host of an IPv4 <c>homeLan</c>
/// (the example stack's LAN is 192.168.1.0/24 and its home server 192.168.1.20).
/// </summary>
public sealed class LanTargetTests
{
    private static SettingsReader.Result ReadForwards(string json, params (string Key, string? Value)[] more) =>
        ReadWith([(K.Forwards, json), .. more]);

    [Fact]
    public void A_lan_target_is_read_and_its_client_ip_defaults_to_snat() =>
        Assert.Equal(new Forward(Protocol.Tcp, 8443, 443, ClientIpMode.Snat, IPAddress.Parse("192.168.1.30")),
            Assert.Single(AssertValid(ReadForwards("""[{"protocol":"tcp","port":8443,"targetPort":443,"targetHost":"192.168.1.30"}]""")).Forwards));

    [Fact]
    public void An_explicit_snat_is_accepted_for_a_lan_target() =>
        AssertValid(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.30","clientIp":"snat"}]"""));

    [Fact]
    public void An_explicit_transparent_client_ip_is_refused_for_a_lan_target_explaining_the_masquerade() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.30","clientIp":"transparent"}]"""),
            "forwards[0].clientIp", "masquerade");

    [Fact]
    public void A_lan_target_inside_the_second_lan_of_a_list_is_accepted() =>
        AssertValid(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"10.1.2.3"}]""", (K.HomeLan, """["192.168.1.0/24","10.1.0.0/16"]""")));

    [Fact]
    public void A_lan_target_without_homeLan_is_refused_saying_homeLan_is_then_required() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.30"}]""", (K.HomeLan, null)), K.HomeLan, "required");

    [Fact]
    public void A_lan_target_with_only_ipv6_lans_is_refused_on_homeLan() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.30"}]""", (K.HomeLan, "fd00:1::/64")), K.HomeLan, "IPv4");

    [Fact]
    public void A_lan_target_outside_every_lan_is_refused() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.2.30"}]"""), "forwards[0].targetHost", "not inside");

    [Fact]
    public void The_network_address_of_the_lan_is_not_a_target() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.0"}]"""), "forwards[0].targetHost", "network address");

    [Fact]
    public void The_broadcast_address_of_the_lan_is_not_a_target() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.255"}]"""), "forwards[0].targetHost", "broadcast");

    [Fact]
    public void The_home_server_itself_is_not_a_lan_target() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":8443,"targetHost":"192.168.1.20"}]"""), "forwards[0].targetHost", "home server");

    [Theory]
    [InlineData("fd00:1::5")]
    [InlineData("nas.lan")]
    [InlineData("192.168.1")]
    public void A_target_that_is_not_an_ipv4_address_is_refused(string host) =>
        AssertSingleError(ReadForwards($$"""[{"protocol":"tcp","port":8443,"targetHost":"{{host}}"}]"""), "forwards[0].targetHost", "IPv4 address");

    [Fact]
    public void A_lan_target_port_used_by_another_forward_is_refused_explaining_why() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":80,"targetPort":8080,"targetHost":"192.168.1.30"},{"protocol":"tcp","port":8080}]"""),
            "forwards[1].targetPort", "tells LAN targets apart by target port");

    [Fact]
    public void The_refusal_of_a_shared_target_port_names_the_other_forward() =>
        AssertSingleError(ReadForwards("""[{"protocol":"tcp","port":80,"targetPort":8080,"targetHost":"192.168.1.30"},{"protocol":"tcp","port":8080}]"""),
            "forwards[1].targetPort", "forwards[0] (tcp/80->192.168.1.30:8080)");

    [Fact]
    public void Two_lan_targets_may_not_share_a_target_port_even_on_different_hosts() =>
        AssertSingleError(ReadForwards(
            """[{"protocol":"udp","port":"27015-27030","targetHost":"192.168.1.30"},{"protocol":"udp","port":"28015-28030","targetPort":"27030-27045","targetHost":"192.168.1.31"}]"""),
            "forwards[1].targetPort", "forwards[0]");

    [Fact]
    public void A_lan_target_may_share_its_target_port_with_a_forward_of_the_other_protocol() =>
        AssertValid(ReadForwards("""[{"protocol":"udp","port":8080,"targetHost":"192.168.1.30"},{"protocol":"tcp","port":8080}]"""));

    [Fact]
    public void Forwards_to_the_home_server_may_share_a_target_port() =>
        AssertValid(ReadForwards("""[{"protocol":"tcp","port":80,"targetPort":8080},{"protocol":"tcp","port":8081,"targetPort":8080}]"""));

    [Fact]
    public void Every_forward_whose_target_ports_clash_with_a_lan_target_is_refused()
    {
        var result = ReadForwards("""
            [{"protocol":"tcp","port":"10010-10020","targetPort":"10-20","targetHost":"192.168.1.30"},
             {"protocol":"tcp","port":"20001-20100","targetPort":"1-100"},
             {"protocol":"tcp","port":30015,"targetPort":15}]
            """);
        Assert.Equal(["forwards[1].targetPort", "forwards[2].targetPort"], result.Errors.Select(e => e.Key).Order(StringComparer.Ordinal));
    }
}
