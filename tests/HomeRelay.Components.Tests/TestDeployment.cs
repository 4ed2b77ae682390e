using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using HomeRelay.Core.Keys;
using Pulumi;
using Pulumi.Testing;
using Pulumi.Utilities;

namespace HomeRelay.Components.Tests;

/// <summary>One place that sets config, runs the real program in the mock engine and captures what it registered.</summary>
internal static class TestDeployment
{
    /// <summary>The admin key the example deployment logs in with (a fixed, fake seed).</summary>
    public static readonly SshEd25519Key AdminKey = SshEd25519Key.FromSeed([.. Enumerable.Range(100, 32).Select(i => (byte)i)]);

    public const string HomeHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFUP9mwvkVST8fSI5YxnxaXEqL5CDE8VpCXLMDocIPmT";

    /// <summary>The example stack as Pulumi hands it to the program (objects as JSON text).</summary>
    public static Dictionary<string, string?> ExampleConfig() => new()
    {
        ["dnsZone"] = "example.com",
        ["dnsName"] = "relay.example.com",
        ["forwards"] = """[{"protocol":"tcp","port":80},{"protocol":"tcp","port":443},{"protocol":"tcp","port":2222,"targetPort":22,"clientIp":"snat"},{"protocol":"udp","port":25565}]""",
        ["sshSourceRanges"] = """["198.51.100.0/24"]""",
        ["homeHost"] = "192.168.1.20",
        ["homeHostKey"] = HomeHostKey,
        ["homeLan"] = "192.168.1.0/24",
        ["sshPrivateKey"] = AdminKey.ToOpenSshPrivateKey(),
    };

    public sealed record Run(
        ImmutableArray<Resource> Resources,
        IDictionary<string, object?> Outputs,
        RelayMocks Mocks,
        ConcurrentDictionary<string, (ResourceArgs Args, ResourceOptions Options)> Captured)
    {
        public T Single<T>() where T : Resource => Assert.Single(Resources.OfType<T>());

        public T Named<T>(string name) where T : Resource =>
            Assert.Single(Resources.OfType<T>(), r => OutputUtilities.GetValueAsync(r.Urn).Result.EndsWith("::" + name, StringComparison.Ordinal));

        public TArgs ArgsOf<TArgs>(string name) where TArgs : ResourceArgs => Assert.IsType<TArgs>(Captured[name].Args);

        public ResourceOptions OptionsOf(string name) => Captured[name].Options;

        /// <summary>The inputs of the one resource registered under <paramref name="name"/>, as the engine saw them.</summary>
        public ImmutableDictionary<string, object> InputsOf(string name) => Assert.Single(Mocks.Registered, r => r.Name == name).Inputs;

        /// <summary>The firewall's rules as the engine saw them (protocol, port, sourceIps, ...).</summary>
        public List<ImmutableDictionary<string, object>> FirewallRules() =>
            [.. Assert.IsType<ImmutableArray<object>>(InputsOf("relay-vps-firewall")["rules"]).Cast<ImmutableDictionary<string, object>>()];
    }

    public static async Task<Run> RunAsync(Dictionary<string, string?>? config = null, RelayMocks? mocks = null, bool preview = false)
    {
        mocks ??= new RelayMocks();
        var captured = new ConcurrentDictionary<string, (ResourceArgs, ResourceOptions)>();
        SetConfig(config ?? ExampleConfig());
        var options = new ComponentResourceOptions
        {
            // Every child's args and merged options, as the program built them (the mock engine sees neither
            // the options nor which inputs were secret).
            ResourceTransformations =
            {
                args =>
                {
                    captured[args.Resource.GetResourceName()] = (args.Args, args.Options);
                    return null;
                },
            },
        };
        var (resources, outputs) = await Deployment.TestAsync(mocks, new TestOptions { IsPreview = preview, StackName = "dev", ProjectName = "home-relay" },
            () => RelayProgram.Run(options));
        return new Run(resources, outputs, mocks, captured);
    }

    private static void SetConfig(Dictionary<string, string?> config)
    {
        var json = JsonSerializer.Serialize(config.Where(kv => kv.Value is not null)
            .ToDictionary(kv => $"home-relay:{kv.Key}", kv => kv.Value));
        Environment.SetEnvironmentVariable("PULUMI_CONFIG", json);
        Environment.SetEnvironmentVariable("PULUMI_CONFIG_SECRET_KEYS", JsonSerializer.Serialize(new[] { "home-relay:sshPrivateKey" }));
    }

    public static Task<T> ValueOf<T>(Output<T> output) => OutputUtilities.GetValueAsync(output);

    public static Task<T> ValueOf<T>(Input<T> input) => OutputUtilities.GetValueAsync(input.ToOutput());

    public static Task<bool> IsSecret<T>(Input<T> input) => Output.IsSecretAsync(input.ToOutput());
}
