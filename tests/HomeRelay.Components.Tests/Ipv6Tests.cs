using System.Collections.Immutable;
using Pulumi;
using Pulumi.HCloud;
using static HomeRelay.Components.Tests.TestDeployment;

namespace HomeRelay.Components.Tests;

/// <summary>The IPv6 front door (<c>ipv6</c>, on by default): a primary IPv6 of the relay's own and an AAAA record.</summary>
public sealed class Ipv6Tests
{
    [Fact]
    public async Task The_primary_ipv6_is_an_ipv6_in_the_servers_location_kept_when_the_server_goes()
    {
        var ip = (await RunAsync()).InputsOf("relay-vps-ipv6");
        Assert.Equal(("ipv6", "fsn1", false), ((string)ip["type"], (string)ip["location"], ip["autoDelete"]));
    }

    [Fact]
    public async Task The_server_is_assigned_the_primary_ipv6_with_ipv6_enabled()
    {
        var run = await RunAsync();
        var net = (ImmutableDictionary<string, object>)Assert.Single((ImmutableArray<object>)run.InputsOf("relay-vps-server")["publicNets"]);
        Assert.Equal(double.Parse(await ValueOf(run.Named<PrimaryIp>("relay-vps-ipv6").Id)), net["ipv6"]);
        Assert.Equal(true, net["ipv6Enabled"]);
    }

    [Fact]
    public async Task The_aaaa_record_names_the_first_host_of_the_primary_ipv6_network_unproxied_with_the_a_records_ttl()
    {
        var record = (await RunAsync()).InputsOf("relay-dns-aaaa");
        Assert.Equal(("AAAA", "relay.example.com", "2001:db8:1234:5678::1", false, 60.0, RelayMocks.ZoneId),
            ((string)record["type"], (string)record["name"], (string)record["content"], (bool)record["proxied"], (double)record["ttl"], (string)record["zoneId"]));
    }

    [Fact]
    public async Task The_ipv6Address_output_is_the_aaaa_records_address()
    {
        var run = await RunAsync();
        Assert.Equal(RelayMocks.Ipv6, await ValueOf((Output<string>)run.Outputs["ipv6Address"]!));
    }

    [Fact]
    public async Task The_aaaa_record_and_ipv6Address_stay_known_in_a_preview_that_replaces_the_server()
    {
        var run = await RunAsync(mocks: new RelayMocks { ServerReplaced = true }, preview: true);
        Assert.False(await Pulumi.Utilities.OutputUtilities.GetIsKnownAsync(run.Single<Server>().Id), "the mock should leave the new server unknown");
        Assert.Equal(RelayMocks.Ipv6, run.InputsOf("relay-dns-aaaa")["content"]);
        Assert.Equal(RelayMocks.Ipv6, await ValueOf((Output<string>)run.Outputs["ipv6Address"]!));
    }

    [Fact]
    public async Task A_change_of_the_servers_primary_ips_replaces_the_server_instead_of_swapping_them_in_place()
    {
        var options = Assert.IsType<CustomResourceOptions>((await RunAsync()).OptionsOf("relay-vps-server"));
        Assert.Contains("publicNets", options.ReplaceOnChanges);
        Assert.True(options.DeleteBeforeReplace);
    }

    [Theory]
    [InlineData("2a01:4f8:c0c:abcd::/64", "2a01:4f8:c0c:abcd::1")]
    [InlineData("2001:db8::/64", "2001:db8::1")]
    // Text followed by "1" would give 2001:0DB8:...:0000:00001 here.
    [InlineData("2001:0DB8:1234:5678:0000:0000:0000:0000/64", "2001:db8:1234:5678::1")]
    [InlineData("2001:db8:0:100::/56", "2001:db8:0:100::1")]
    public void The_relays_address_is_the_first_host_of_its_ipv6_network(string network, string address) =>
        Assert.Equal(address, RelayServer.FirstHost(network));

    [Theory]
    [InlineData("2001:db8:1234:5678::")]
    [InlineData("2001:db8:1234:5678::1/64")]
    [InlineData("2001:db8::1/128")]
    [InlineData("203.0.113.0/24")]
    public void A_primary_ipv6_network_without_a_first_host_is_refused_by_its_text(string network) =>
        Assert.Contains($"'{network}'", Assert.Throws<FormatException>(() => RelayServer.FirstHost(network)).Message);
}

/// <summary><c>ipv6: false</c>: IPv4 only, from the firewall to DNS.</summary>
public sealed class Ipv4OnlyTests
{
    private static Task<Run> RunIpv4OnlyAsync()
    {
        var config = ExampleConfig();
        config["ipv6"] = "false";
        return RunAsync(config);
    }

    [Fact]
    public async Task With_ipv6_false_the_only_primary_ip_is_the_ipv4()
    {
        var ip = Assert.Single((await RunIpv4OnlyAsync()).Mocks.Registered, r => r.Type == "hcloud:index/primaryIp:PrimaryIp");
        Assert.Equal("ipv4", ip.Inputs["type"]);
    }

    [Fact]
    public async Task With_ipv6_false_the_server_has_ipv6_disabled_and_no_ipv6_assigned()
    {
        var run = await RunIpv4OnlyAsync();
        var net = (ImmutableDictionary<string, object>)Assert.Single((ImmutableArray<object>)run.InputsOf("relay-vps-server")["publicNets"]);
        Assert.Equal(false, net["ipv6Enabled"]);
        Assert.False(net.ContainsKey("ipv6"));
    }

    [Fact]
    public async Task With_ipv6_false_the_only_dns_record_is_the_A_record()
    {
        var record = Assert.Single((await RunIpv4OnlyAsync()).Mocks.Registered, r => r.Type == "cloudflare:index/dnsRecord:DnsRecord");
        Assert.Equal("A", record.Inputs["type"]);
    }

    [Fact]
    public async Task With_ipv6_false_no_firewall_rule_admits_an_ipv6_source()
    {
        var sources = (await RunIpv4OnlyAsync()).FirewallRules().SelectMany(r => (ImmutableArray<object>)r["sourceIps"]).Cast<string>().ToList();
        Assert.Contains("0.0.0.0/0", sources);
        Assert.DoesNotContain(sources, source => source.Contains(':'));
    }

    [Fact]
    public async Task With_ipv6_false_the_ipv6Address_output_is_empty()
    {
        var run = await RunIpv4OnlyAsync();
        Assert.Equal("", await ValueOf((Output<string>)run.Outputs["ipv6Address"]!));
    }
}
