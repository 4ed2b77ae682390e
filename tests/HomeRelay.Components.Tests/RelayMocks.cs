using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Pulumi.Testing;

namespace HomeRelay.Components.Tests;

/// <summary>
/// Echoes inputs back as outputs and invents only what a provider computes, each case commented. Throws on any
/// resource type or call it does not know, so nothing slips through unmocked.
/// </summary>
internal sealed class RelayMocks : IMocks
{
    public const string Ipv4 = "203.0.113.10";

    /// <summary>A primary IPv6's ipNetwork (documentation prefix), a /64 as Hetzner assigns it.</summary>
    public const string Ipv6Network = "2001:db8:1234:5678::/64";

    /// <summary>A primary IPv6's ipAddress: the network's base address, without the prefix length.</summary>
    public const string Ipv6Base = "2001:db8:1234:5678::";

    /// <summary>The relay's IPv6: the network's first host, the address Hetzner's image configures.</summary>
    public const string Ipv6 = "2001:db8:1234:5678::1";
    public const string ZoneId = "0123456789abcdef0123456789abcdef";

    /// <summary>Like a real preview: a new server's address is not known yet.</summary>
    public bool AddressesUnknown { get; init; }

    /// <summary>Like a preview of a server replacement: the new server's id and outputs are unknown, the primary IPs' are not.</summary>
    public bool ServerReplaced { get; init; }

    public ConcurrentQueue<MockResourceArgs> Registered { get; } = new();

    public ConcurrentQueue<MockCallArgs> Calls { get; } = new();

    private int nextId = 1000;

    public Task<(string? id, object state)> NewResourceAsync(MockResourceArgs args)
    {
        Registered.Enqueue(args);
        var state = ImmutableDictionary.CreateBuilder<string, object>();
        state.AddRange(args.Inputs);
        string? id = args.Type switch
        {
            "home-relay:index:Relay" or "home-relay:index:WireGuardKeys" or "home-relay:index:SshHostKey"
                or "home-relay:index:RelayServer" or "home-relay:index:RelayDns" or "home-relay:index:WireGuardPeer" => null,
            // RandomBytes computes its bytes; deterministic per name, like state that persists between runs.
            "random:index/randomBytes:RandomBytes" => Add(state, "base64", Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(args.Name!))), "rb-" + args.Name),
            // Hetzner ids are numbers (the program parses them).
            "hcloud:index/sshKey:SshKey" or "hcloud:index/firewall:Firewall" => NumericId(),
            "hcloud:index/primaryIp:PrimaryIp" => AddressesUnknown ? NumericId() : (string)args.Inputs["type"] switch
            {
                "ipv4" => Add(state, "ipAddress", Ipv4, NumericId()),
                // The provider's ipAddress of an IPv6 is the /64's base address; ipNetwork only exists for IPv6.
                "ipv6" => Add(state, "ipNetwork", Ipv6Network, Add(state, "ipAddress", Ipv6Base, NumericId())),
                var type => throw new InvalidOperationException($"Unexpected primary IP type {type} ({args.Name})"),
            },
            // A null id in a preview reads as unknown, like a resource about to be created.
            "hcloud:index/server:Server" when ServerReplaced => null,
            "hcloud:index/server:Server" => AddressesUnknown || !Ipv6Enabled(args) ? NumericId()
                // The provider's ipv6Address: the primary IPv6's base address with "1" appended; null without IPv6.
                : Add(state, "ipv6Address", Ipv6, NumericId()),
            "cloudflare:index/dnsRecord:DnsRecord" => "rec-" + args.Name,
            // A remote command's output: the scripts print to stderr only.
            "command:remote:Command" => Add(state, "stdout", "", "cmd-" + args.Name),
            _ => throw new InvalidOperationException($"Unexpected resource {args.Type} ({args.Name}): add it to the mocks"),
        };
        return Task.FromResult<(string?, object)>((id, state.ToImmutable()));
    }

    public Task<object> CallAsync(MockCallArgs args)
    {
        Calls.Enqueue(args);
        return args.Token switch
        {
            // The zone lookup by name.
            "cloudflare:index/getZone:getZone" => Task.FromResult<object>(ImmutableDictionary<string, object>.Empty
                .Add("id", ZoneId).Add("name", "example.com")),
            _ => throw new InvalidOperationException($"Unexpected call {args.Token}: add it to the mocks"),
        };
    }

    private static bool Ipv6Enabled(MockResourceArgs server) =>
        ((ImmutableArray<object>)server.Inputs["publicNets"]).Cast<ImmutableDictionary<string, object>>().Any(n => n.GetValueOrDefault("ipv6Enabled") is true);

    private string NumericId() => Interlocked.Increment(ref nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sets one computed output and returns the resource's id.</summary>
    private static string Add(ImmutableDictionary<string, object>.Builder state, string key, string value, string id)
    {
        state[key] = value;
        return id;
    }
}
