using System.Collections.Immutable;
using HomeRelay.Core.Hosts;
using HomeRelay.Core.Keys;
using HomeRelay.Core.Settings;
using Pulumi;
using Pulumi.Command.Remote;
using Pulumi.Command.Remote.Inputs;
using Pulumi.HCloud;
using Pulumi.Random;
using static HomeRelay.Components.Tests.TestDeployment;

namespace HomeRelay.Components.Tests;

public sealed class ResourceGraphTests
{
    [Fact]
    public async Task One_run_creates_the_server_its_firewall_key_both_addresses_both_dns_records_and_three_commands()
    {
        var run = await RunAsync();
        run.Single<Server>();
        run.Single<Firewall>();
        run.Named<PrimaryIp>("relay-vps-ipv4");
        run.Named<PrimaryIp>("relay-vps-ipv6");
        Assert.Equal(2, run.Resources.OfType<PrimaryIp>().Count());
        run.Single<SshKey>();
        run.Named<Pulumi.Cloudflare.DnsRecord>("relay-dns-a");
        run.Named<Pulumi.Cloudflare.DnsRecord>("relay-dns-aaaa");
        Assert.Equal(2, run.Resources.OfType<Pulumi.Cloudflare.DnsRecord>().Count());
        Assert.Equal(3, run.Resources.OfType<Command>().Count());
        Assert.Equal(4, run.Resources.OfType<RandomBytes>().Count()); // two key pairs, the preshared key, the host key
    }

    [Fact]
    public async Task The_firewall_opens_icmp_ssh_from_the_admin_ranges_wireguard_and_exactly_the_forwards()
    {
        var run = await RunAsync();
        var rules = Assert.IsType<ImmutableArray<object>>(run.Mocks.Registered.Single(r => r.Type == "hcloud:index/firewall:Firewall").Inputs["rules"]);
        var summary = rules.Cast<ImmutableDictionary<string, object>>()
            .Select(r => $"{r["direction"]} {r["protocol"]} {r.GetValueOrDefault("port") ?? "-"} from {string.Join(",", (ImmutableArray<object>)r["sourceIps"])}")
            .ToList();
        Assert.Equal(
        [
            "in icmp - from 0.0.0.0/0,::/0",
            "in tcp 22 from 198.51.100.0/24",
            "in udp 51820 from 0.0.0.0/0,::/0",
            "in tcp 80 from 0.0.0.0/0,::/0",
            "in tcp 443 from 0.0.0.0/0,::/0",
            "in tcp 2222 from 0.0.0.0/0,::/0",
            "in udp 25565 from 0.0.0.0/0,::/0",
        ], summary);
    }

    [Fact]
    public async Task The_server_uses_its_own_primary_ipv4_firewall_and_key_and_is_replaced_delete_first()
    {
        var run = await RunAsync();
        var server = run.Mocks.Registered.Single(r => r.Type == "hcloud:index/server:Server");
        var ip = run.Mocks.Registered.Single(r => r.Name == "relay-vps-ipv4");
        Assert.Equal(("ipv4", false), ((string)ip.Inputs["type"], ip.Inputs["autoDelete"]));
        Assert.Equal(("cx23", "debian-13", "fsn1"), ((string)server.Inputs["serverType"], (string)server.Inputs["image"], (string)server.Inputs["location"]));
        var net = (ImmutableDictionary<string, object>)Assert.Single((ImmutableArray<object>)server.Inputs["publicNets"]);
        Assert.Equal(double.Parse(await ValueOf(run.Named<PrimaryIp>("relay-vps-ipv4").Id)), net["ipv4"]);
        Assert.Equal(double.Parse(await ValueOf(run.Single<Firewall>().Id)), Assert.Single((ImmutableArray<object>)server.Inputs["firewallIds"]));
        Assert.Equal(await ValueOf(run.Single<SshKey>().Id), Assert.Single((ImmutableArray<object>)server.Inputs["sshKeys"]));
        Assert.True(run.OptionsOf("relay-vps-server") is CustomResourceOptions { DeleteBeforeReplace: true });
    }

    [Fact]
    public async Task The_dns_record_is_an_unproxied_A_record_for_the_servers_ipv4()
    {
        var run = await RunAsync();
        var record = run.Mocks.Registered.Single(r => r.Name == "relay-dns-a").Inputs;
        Assert.Equal(("A", "relay.example.com", RelayMocks.Ipv4, false, 60.0, RelayMocks.ZoneId),
            ((string)record["type"], (string)record["name"], (string)record["content"], (bool)record["proxied"], (double)record["ttl"], (string)record["zoneId"]));
        var lookup = Assert.Single(run.Mocks.Calls);
        Assert.Equal("example.com", ((ImmutableDictionary<string, object>)lookup.Args["filter"])["name"]);
    }

    [Fact]
    public async Task Outputs_name_the_address_the_dns_name_each_forward_and_both_public_keys()
    {
        var run = await RunAsync();
        Assert.Equal(RelayMocks.Ipv4, await ValueOf((Output<string>)run.Outputs["ipv4Address"]!));
        Assert.Equal(RelayMocks.Ipv6, await ValueOf((Output<string>)run.Outputs["ipv6Address"]!));
        Assert.Equal("relay.example.com", await ValueOf((Output<string>)run.Outputs["dnsName"]!));
        Assert.Equal(["tcp://relay.example.com:80", "tcp://relay.example.com:443", "tcp://relay.example.com:2222", "udp://relay.example.com:25565"],
            (await ValueOf((Output<ImmutableArray<string>>)run.Outputs["forwards"]!)).ToArray());
        foreach (var key in new[] { "vpsPublicKey", "homePublicKey", "vpsHostKey" })
        {
            Assert.False(await Output.IsSecretAsync((Output<string>)run.Outputs[key]!), $"{key} is public and should read as such");
        }
    }

    [Fact]
    public async Task A_forwarded_range_shows_in_the_forwards_output_as_first_dash_last()
    {
        var config = ExampleConfig();
        config["forwards"] = """[{"protocol":"tcp","port":"27015-27030"},{"protocol":"udp","port":27015}]""";
        var run = await RunAsync(config);
        Assert.Equal(["tcp://relay.example.com:27015-27030", "udp://relay.example.com:27015"],
            (await ValueOf((Output<ImmutableArray<string>>)run.Outputs["forwards"]!)).ToArray());
    }
}

public sealed class SecretTests
{
    [Fact]
    public async Task Private_and_preshared_keys_are_secret_and_public_keys_are_not()
    {
        var keys = (await RunAsync()).Single<WireGuardKeys>();
        Assert.True(await Output.IsSecretAsync(keys.VpsPrivateKey));
        Assert.True(await Output.IsSecretAsync(keys.HomePrivateKey));
        Assert.True(await Output.IsSecretAsync(keys.PresharedKey));
        Assert.False(await Output.IsSecretAsync(keys.VpsPublicKey));
        Assert.False(await Output.IsSecretAsync(keys.HomePublicKey));
    }

    [Fact]
    public async Task Each_public_key_is_the_nsec_derivation_of_its_private_key()
    {
        var keys = (await RunAsync()).Single<WireGuardKeys>();
        Assert.Equal(WireGuardKeyPair.FromPrivateKeyBase64(await ValueOf(keys.VpsPrivateKey)).PublicKeyBase64, await ValueOf(keys.VpsPublicKey));
        Assert.Equal(WireGuardKeyPair.FromPrivateKeyBase64(await ValueOf(keys.HomePrivateKey)).PublicKeyBase64, await ValueOf(keys.HomePublicKey));
        Assert.NotEqual(await ValueOf(keys.VpsPublicKey), await ValueOf(keys.HomePublicKey));
    }

    [Fact]
    public async Task Keys_are_kept_until_keyRotation_changes()
    {
        var keepers = (await RunAsync()).Mocks.Registered.Where(r => r.Type == "random:index/randomBytes:RandomBytes" && r.Inputs.ContainsKey("keepers"))
            .Select(r => ((ImmutableDictionary<string, object>)r.Inputs["keepers"])["rotation"]).ToList();
        Assert.Equal(["1", "1", "1"], keepers);
        var config = ExampleConfig();
        config["keyRotation"] = "2026-11";
        var rotated = (await RunAsync(config)).Mocks.Registered.Where(r => r.Inputs.ContainsKey("keepers"))
            .Select(r => ((ImmutableDictionary<string, object>)r.Inputs["keepers"])["rotation"]).Distinct();
        Assert.Equal(["2026-11"], rotated);
    }

    [Fact]
    public async Task The_user_data_that_carries_the_host_key_is_secret()
    {
        var run = await RunAsync();
        var userData = run.ArgsOf<ServerArgs>("relay-vps-server").UserData!;
        Assert.True(await IsSecret(userData));
        Assert.Contains($"ed25519_public: {await ValueOf(run.Single<SshHostKey>().PublicKey)}", await ValueOf(userData));
    }
}

public sealed class RemoteCommandTests
{
    private static async Task<RelayPlan> PlanOf(TestDeployment.Run run)
    {
        var keys = run.Single<WireGuardKeys>();
        var settings = SettingsReader.Read(k => ExampleConfig().GetValueOrDefault(k)).SettingsOrThrow();
        return new RelayPlan(settings, await ValueOf(keys.VpsPublicKey), await ValueOf(keys.HomePublicKey), RelayMocks.Ipv4);
    }

    [Theory]
    [InlineData("relay-vps-peer-apply")]
    [InlineData("relay-home-peer-apply")]
    public async Task Peers_run_the_cores_commands_with_secrets_only_on_stdin(string name)
    {
        var run = await RunAsync();
        var plan = await PlanOf(run);
        var bundle = name.Contains("vps") ? HostBundle.Vps(plan) : HostBundle.Home(plan);
        var keys = run.Single<WireGuardKeys>();
        var privateKey = await ValueOf(name.Contains("vps") ? keys.VpsPrivateKey : keys.HomePrivateKey);
        var args = run.ArgsOf<CommandArgs>(name);

        Assert.Equal(bundle.ApplyCommand, await ValueOf(args.Create!));
        Assert.False(await IsSecret(args.Create!), "the script must stay readable in a preview diff");
        Assert.Equal(bundle.ApplyCommand, await ValueOf(args.Update!));
        Assert.Equal(bundle.RemoveCommand, await ValueOf(args.Delete!));
        var expectedStdin = new PeerSecrets(WireGuardKeyPair.FromPrivateKeyBase64(privateKey), PresharedKey.FromBase64(await ValueOf(keys.PresharedKey))).ToStdin();
        Assert.Equal(expectedStdin, await ValueOf(args.Stdin!));
        Assert.True(await IsSecret(args.Stdin!));
        foreach (var text in new[] { args.Create!, args.Update!, args.Delete! })
        {
            Assert.DoesNotContain(privateKey, await ValueOf(text));
            Assert.DoesNotContain(await ValueOf(keys.PresharedKey), await ValueOf(text));
        }
        Assert.Equal(Logging.None, await ValueOf(args.Logging!));
        Assert.False(await ValueOf(args.AddPreviousOutputInEnv!));
        var options = Assert.IsType<CustomResourceOptions>(run.OptionsOf(name));
        Assert.Contains("stdout", options.AdditionalSecretOutputs);
        Assert.Contains("stderr", options.AdditionalSecretOutputs);
        Assert.True(options.DeleteBeforeReplace);
    }

    [Fact]
    public async Task Every_command_pins_the_host_key_of_the_host_it_talks_to()
    {
        var run = await RunAsync();
        var vpsHostKey = await ValueOf(run.Single<SshHostKey>().PublicKey);
        foreach (var (name, host, hostKey) in new[]
        {
            ("relay-vps-peer-apply", RelayMocks.Ipv4, vpsHostKey),
            ("relay-check", RelayMocks.Ipv4, vpsHostKey),
            ("relay-home-peer-apply", "192.168.1.20", HomeHostKey),
        })
        {
            var connection = await ValueOf(run.ArgsOf<CommandArgs>(name).Connection!);
            Assert.Equal(host, await ValueOf(connection.Host));
            Assert.Equal(hostKey, await ValueOf(connection.HostKey!));
            Assert.Equal(AdminKey.ToOpenSshPrivateKey(), await ValueOf(connection.PrivateKey!));
            Assert.True(await IsSecret(connection.PrivateKey!), $"{name}: the login key must stay secret");
        }
    }

    [Fact]
    public async Task The_home_is_configured_after_the_vps_and_the_check_after_both()
    {
        var run = await RunAsync();
        // On the commands themselves: a component's DependsOn would not hold its children back.
        var vpsApply = run.Named<Command>("relay-vps-peer-apply");
        var homeApply = run.Named<Command>("relay-home-peer-apply");
        Assert.Same(vpsApply, Assert.Single(await ValueOf(run.OptionsOf("relay-home-peer-apply").DependsOn.ToOutput())));
        var checkDependsOn = await ValueOf(run.OptionsOf("relay-check").DependsOn.ToOutput());
        Assert.Equal(2, checkDependsOn.Length);
        Assert.Contains(vpsApply, checkDependsOn);
        Assert.Contains(homeApply, checkDependsOn);
        Assert.Equal(await PlanOf(run).ContinueWith(p => HostBundle.CheckCommand(p.Result)), await ValueOf(run.ArgsOf<CommandArgs>("relay-check").Create!));
    }

    [Fact]
    public async Task The_vps_peer_is_not_undone_on_a_server_that_is_being_deleted_anyway()
    {
        var run = await RunAsync();
        // Set on the command itself: children do not inherit a component's DeletedWith.
        Assert.Same(run.Single<Server>(), run.OptionsOf("relay-vps-peer-apply").DeletedWith);
        Assert.Same(run.Single<Server>(), run.OptionsOf("relay-check").DeletedWith);
        Assert.Null(run.OptionsOf("relay-home-peer-apply").DeletedWith);
    }

    [Fact]
    public async Task Two_runs_with_the_same_state_give_identical_command_inputs()
    {
        var first = await RunAsync();
        var second = await RunAsync();
        foreach (var name in new[] { "relay-vps-peer-apply", "relay-home-peer-apply", "relay-check" })
        {
            Assert.Equal(
                first.Mocks.Registered.Single(r => r.Name == name).Inputs.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={Describe(kv.Value)}"),
                second.Mocks.Registered.Single(r => r.Name == name).Inputs.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={Describe(kv.Value)}"));
        }
        static string Describe(object value) => value switch
        {
            ImmutableArray<object> list => "[" + string.Join(",", list.Select(Describe)) + "]",
            ImmutableDictionary<string, object> map => "{" + string.Join(",", map.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{Describe(kv.Value)}")) + "}",
            _ => value.ToString() ?? "",
        };
    }
}

public sealed class PreviewTests
{
    [Fact]
    public async Task A_preview_of_a_new_stack_works_while_the_address_is_unknown()
    {
        var run = await RunAsync(mocks: new RelayMocks { AddressesUnknown = true }, preview: true);
        var create = run.ArgsOf<CommandArgs>("relay-vps-peer-apply").Create!.ToOutput();
        Assert.False(await Pulumi.Utilities.OutputUtilities.GetIsKnownAsync(create));
        Assert.False(await Pulumi.Utilities.OutputUtilities.GetIsKnownAsync((Output<string>)run.Outputs["ipv4Address"]!));
        Assert.True(await Pulumi.Utilities.OutputUtilities.GetIsKnownAsync(run.Single<WireGuardKeys>().VpsPublicKey));
    }
}

public sealed class InvalidSettingsTests
{
    [Fact]
    public async Task Bad_settings_fail_with_the_cores_messages_and_register_no_resource()
    {
        var config = ExampleConfig();
        config["mtu"] = "9000";
        config["forwards"] = """[{"protocol":"tcp","port":22}]""";
        var mocks = new RelayMocks();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => RunAsync(config, mocks));
        Assert.Contains("home-relay:mtu: 9000 is outside 1280-1420", e.ToString());
        Assert.Contains("home-relay:forwards[0].port: 22 is the SSH port of the VPS", e.ToString());
        Assert.DoesNotContain(mocks.Registered, r => r.Type != "pulumi:pulumi:Stack");
    }

    [Fact]
    public async Task A_misspelt_setting_is_refused_by_its_name_instead_of_being_ignored()
    {
        var config = ExampleConfig();
        config["mtuu"] = "1400";
        var mocks = new RelayMocks();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => RunAsync(config, mocks));
        Assert.Contains("home-relay:mtuu: is not a home-relay setting", e.ToString());
        Assert.DoesNotContain(mocks.Registered, r => r.Type != "pulumi:pulumi:Stack");
    }

    [Fact]
    public async Task A_missing_login_key_is_refused_by_its_setting_name()
    {
        var config = ExampleConfig();
        config["sshPrivateKey"] = null;
        var mocks = new RelayMocks();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => RunAsync(config, mocks));
        Assert.Contains("home-relay:sshPrivateKey: is not set", e.ToString());
        Assert.DoesNotContain(mocks.Registered, r => r.Type != "pulumi:pulumi:Stack");
    }

    [Fact]
    public async Task A_login_key_in_the_wrong_format_is_refused_without_quoting_it()
    {
        var config = ExampleConfig();
        config["sshPrivateKey"] = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretbody\n-----END RSA PRIVATE KEY-----\n";
        var e = await Assert.ThrowsAnyAsync<Exception>(() => RunAsync(config));
        Assert.Contains("home-relay:sshPrivateKey: The SSH private key is not in OpenSSH format", e.ToString());
        Assert.DoesNotContain("MIIEsecretbody", e.ToString());
    }
}
