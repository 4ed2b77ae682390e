using Pulumi;

namespace HomeRelay.Components;

/// <summary>The Pulumi program: what <c>infra/Program.cs</c> runs and what the mock-engine tests call.</summary>
public static class RelayProgram
{
    public static IDictionary<string, object?> Run() => Run(null);

    /// <param name="options">Options for the relay component; tests pass transformations that capture every child.</param>
    internal static IDictionary<string, object?> Run(ComponentResourceOptions? options)
    {
        // Settings first: bad ones stop the run here, before any resource is registered.
        var settings = StackSettings.Read();
        var (adminPrivateKey, adminPublicKey) = StackSettings.AdminSshKey();
        var relay = new Relay("relay", new RelayArgs
        {
            Settings = settings,
            AdminPrivateKey = adminPrivateKey,
            AdminPublicKey = adminPublicKey,
        }, options);
        return new Dictionary<string, object?>
        {
            ["ipv4Address"] = relay.Ipv4Address,
            ["ipv6Address"] = relay.Ipv6Address,
            ["dnsName"] = relay.DnsName,
            ["forwards"] = relay.Forwards,
            ["vpsPublicKey"] = relay.VpsPublicKey,
            ["homePublicKey"] = relay.HomePublicKey,
            ["vpsHostKey"] = relay.VpsHostKey,
        };
    }
}
