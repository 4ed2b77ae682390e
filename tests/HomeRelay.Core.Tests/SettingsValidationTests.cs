using HomeRelay.Core.Settings;
using HomeRelay.Core.Tests.Support;
using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

public sealed class SettingsValidationTests
{
    [Fact]
    public void The_example_stack_is_valid_and_complete()
    {
        var result = ReadWith();
        Assert.Empty(result.Problems);
        var s = result.SettingsOrThrow();
        Assert.Equal("relay.example.com", s.Dns.Name);
        Assert.Equal(7, s.Forwards.Length);
        Assert.Equal(1380, s.Tunnel.Mtu);
        Assert.Equal("10.66.0.1", s.Tunnel.VpsAddress.ToString());
        Assert.Equal("10.66.0.2", s.Tunnel.HomeAddress.ToString());
    }

    [Fact]
    public void Defaults_fill_every_optional_setting()
    {
        var s = SettingsReader.Read(Examples.DevWith(
            (K.Location, null), (K.ServerType, null), (K.Image, null), (K.DnsTtl, null), (K.TunnelCidr, null),
            (K.WireGuardPort, null), (K.Mtu, null), (K.Keepalive, null), (K.KeyRotation, null), (K.HomeUser, null),
            (K.HomeSshPort, null), (K.HomeLan, null), (K.Forwards, Examples.HomeOnlyForwards))).SettingsOrThrow();
        Assert.Equal(("fsn1", "cx23", "debian-13", 60), (s.Location, s.ServerType, s.Image, s.Dns.Ttl));
        Assert.Equal(("10.66.0.0/24", 51820, 1380, 10), (s.Tunnel.Cidr.ToString(), s.Tunnel.ListenPort, s.Tunnel.Mtu, s.Tunnel.Keepalive));
        Assert.Equal(("root", 22), (s.Home.User, s.Home.SshPort));
        Assert.Empty(s.Home.Lans);
    }

    [Fact]
    public void TargetPort_defaults_to_port_and_clientIp_to_transparent()
    {
        var forward = ReadWith((K.Forwards, """[{"protocol":"tcp","port":8443}]""")).SettingsOrThrow().Forwards.Single();
        Assert.Equal(new Forward(Protocol.Tcp, 8443, 8443, ClientIpMode.Transparent), forward);
    }

    [Theory]
    [InlineData("""[{"protocol":"tcp","port":0}]""", "forwards[0].port", "1-65535")]
    [InlineData("""[{"protocol":"tcp","port":65536}]""", "forwards[0].port", "1-65535")]
    [InlineData("""[{"protocol":"tcp","port":"http"}]""", "forwards[0].port", "1-65535")]
    [InlineData("""[{"protocol":"tcp"}]""", "forwards[0].port", "missing")]
    [InlineData("""[{"protocol":"tcp","port":80,"targetPort":70000}]""", "forwards[0].targetPort", "1-65535")]
    [InlineData("""[{"protocol":"sctp","port":80}]""", "forwards[0].protocol", "tcp, udp")]
    [InlineData("""[{"port":80}]""", "forwards[0].protocol", "missing")]
    [InlineData("""[{"protocol":"tcp","port":80,"clientIp":"proxy"}]""", "forwards[0].clientIp", "transparent, snat")]
    [InlineData("""[{"protocol":"tcp","port":80,"prot":1}]""", "forwards[0].prot", "not a forward setting")]
    [InlineData("""[{"protocol":"tcp","port":22}]""", "forwards[0].port", "SSH port")]
    [InlineData("""[{"protocol":"udp","port":51820}]""", "forwards[0].port", "WireGuard port")]
    [InlineData("""[{"protocol":"tcp","port":80},{"protocol":"tcp","port":80}]""", "forwards[1].port", "already forwarded by forwards[0]")]
    [InlineData("""[]""", "forwards", "empty")]
    [InlineData("""{"protocol":"tcp"}""", "forwards", "not a list")]
    [InlineData("""["tcp/80"]""", "forwards[0]", "not an object")]
    public void A_bad_forward_is_refused_with_its_key(string forwards, string key, string mentions) =>
        AssertSingleError(ReadWith((K.Forwards, forwards)), key, mentions);

    [Fact]
    public void The_same_port_may_be_forwarded_once_per_protocol()
    {
        var s = ReadWith((K.Forwards, """[{"protocol":"tcp","port":53},{"protocol":"udp","port":53}]""")).SettingsOrThrow();
        Assert.Equal(2, s.Forwards.Length);
    }

    [Fact]
    public void Udp_22_is_not_the_ssh_port_and_tcp_51820_is_not_the_wireguard_port()
    {
        var s = ReadWith((K.Forwards, """[{"protocol":"udp","port":22},{"protocol":"tcp","port":51820}]""")).SettingsOrThrow();
        Assert.Equal(2, s.Forwards.Length);
    }

    [Theory]
    [InlineData("10.66.0.0/31", "fewer than two hosts")]
    [InlineData("8.8.8.0/24", "not private")]
    [InlineData("100.64.0.0/24", "not private")]
    [InlineData("10.66.0.1/24", "host bits")]
    [InlineData("10.66.0.0", "CIDR")]
    [InlineData("10.66.0.0/33", "prefix")]
    [InlineData("192.168.1.128/25", "overlaps the home LAN")]
    public void A_bad_tunnel_network_is_refused(string cidr, string mentions) =>
        AssertSingleError(ReadWith((K.TunnelCidr, cidr)), K.TunnelCidr, mentions);

    [Fact]
    public void A_slash_30_tunnel_is_enough()
    {
        var s = ReadWith((K.TunnelCidr, "172.16.9.0/30")).SettingsOrThrow();
        Assert.Equal("172.16.9.2", s.Tunnel.HomeAddress.ToString());
    }

    [Theory]
    [InlineData(K.Mtu, "1279", "1280-1420")]
    [InlineData(K.Mtu, "1500", "1280-1420")]
    [InlineData(K.Keepalive, "0", "1 to 65535")]
    [InlineData(K.Keepalive, "65536", "1 to 65535")]
    [InlineData(K.WireGuardPort, "22", "SSH port")]
    [InlineData(K.WireGuardPort, "70000", "1 to 65535")]
    [InlineData(K.HomeSshPort, "0", "1 to 65535")]
    [InlineData(K.DnsTtl, "30", "minimum of 60")]
    [InlineData(K.DnsTtl, "abc", "whole number")]
    public void A_number_out_of_range_is_refused(string key, string value, string mentions) =>
        AssertSingleError(ReadWith((key, value)), key, mentions);

    [Theory]
    [InlineData(K.DnsName, "relay.example.org", "not inside the zone")]
    [InlineData(K.DnsName, "relay_1.example.com", "not a DNS name")]
    [InlineData(K.DnsName, null, "not set")]
    [InlineData(K.DnsZone, "exa mple.com", "not a DNS name")]
    [InlineData(K.DnsZone, "", "not set")]
    public void A_name_outside_its_zone_or_missing_is_refused(string key, string? value, string mentions)
    {
        var result = ReadWith((key, value));
        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, e => e.Key == key && e.Message.Contains(mentions, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void A_malformed_zone_is_not_also_blamed_on_the_name() =>
        AssertSingleError(ReadWith((K.DnsZone, "exa mple.com")), K.DnsZone, "not a DNS name");

    [Fact]
    public void The_zone_apex_is_a_valid_name() =>
        Assert.Equal("example.com", ReadWith((K.DnsName, "example.com")).SettingsOrThrow().Dns.Name);

    [Theory]
    [InlineData("""["203.0.113.7"]""", "sshSourceRanges[0]", "CIDR")]
    [InlineData("""["203.0.113.7/24"]""", "sshSourceRanges[0]", "host bits")]
    [InlineData("""["2001:db8::1/200"]""", "sshSourceRanges[0]", "CIDR")]
    [InlineData("""[]""", "sshSourceRanges", "empty")]
    [InlineData(null, "sshSourceRanges", "not set")]
    public void Bad_ssh_source_ranges_are_refused(string? ranges, string key, string mentions) =>
        AssertSingleError(ReadWith((K.SshSourceRanges, ranges)), key, mentions);

    [Fact]
    public void Ssh_open_to_the_world_is_allowed_with_a_warning()
    {
        var result = ReadWith((K.SshSourceRanges, """["0.0.0.0/0","2001:db8::/32"]"""));
        Assert.NotNull(result.Settings);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal("sshSourceRanges[0]", warning.Key);
        Assert.StartsWith("warning: home-relay:sshSourceRanges[0]:", warning.ToString());
    }

    [Theory]
    [InlineData(K.HomeHost, null, "not set")]
    [InlineData(K.HomeHost, "not a host!", "neither an IP address nor a host name")]
    [InlineData(K.HomeUser, "", "empty")]
    [InlineData(K.HomeUser, "Root User", "not a valid Linux user name")]
    [InlineData(K.HomeHostKey, null, "ssh-keyscan")]
    [InlineData(K.HomeHostKey, "ssh-ed25519 bm90IGEga2V5", "ssh-keyscan")]
    [InlineData(K.HomeHostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "truncated")]
    [InlineData(K.HomeHostKey, "ssh-dss AAAAB3NzaC1kc3M=", "not a key type")]
    [InlineData(K.HomeLan, "192.168.1.0", "CIDR")]
    [InlineData(K.Location, "", "empty")]
    [InlineData(K.ServerType, " ", "empty")]
    [InlineData(K.Image, "", "empty")]
    [InlineData(K.KeyRotation, "", "empty")]
    public void A_missing_or_malformed_host_setting_is_refused(string key, string? value, string mentions) =>
        AssertSingleError(ReadWith((key, value)), key, mentions);

    [Fact]
    public void Cross_checks_still_run_when_other_settings_of_the_same_group_are_invalid()
    {
        var result = ReadWith(
            (K.Mtu, "1500"),
            (K.TunnelCidr, "192.168.1.0/28"),
            (K.WireGuardPort, "51900"),
            (K.Forwards, """[{"protocol":"tcp","port":443},{"protocol":"udp","port":51900},{"protocol":"tcp","port":22}]"""),
            (K.HomeHostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"),
            (K.DnsTtl, "30"));
        Assert.Equal(
            ["dnsTtl", "forwards[1].port", "forwards[2].port", "homeHostKey", "mtu", "tunnelCidr"],
            result.Errors.Select(e => e.Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var result = ReadWith((K.Mtu, "9000"), (K.Forwards, """[{"protocol":"tcp","port":22}]"""), (K.DnsName, "x.example.org"));
        Assert.Equal(["dnsName", "forwards[0].port", "mtu"], result.Errors.Select(e => e.Key).Order());
        var exception = Assert.Throws<InvalidSettingsException>(result.SettingsOrThrow);
        Assert.Contains("3 problem(s)", exception.Message);
        Assert.Contains("home-relay:mtu: 9000 is outside 1280-1420", exception.Message);
    }
}
