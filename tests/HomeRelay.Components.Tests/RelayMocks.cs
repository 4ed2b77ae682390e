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
    public const string Ipv6 = "2001:db8::1";
    public const string ZoneId = "0123456789abcdef0123456789abcdef";

    /// <summary>Like a real preview: a new server's address is not known yet.</summary>
    public bool AddressesUnknown { get; init; }

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
            "hcloud:index/primaryIp:PrimaryIp" => AddressesUnknown ? NumericId() : Add(state, "ipAddress", Ipv4, NumericId()),
            "hcloud:index/server:Server" => AddressesUnknown ? NumericId() : Add(state, "ipv6Address", Ipv6, NumericId()),
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

    private string NumericId() => Interlocked.Increment(ref nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sets one computed output and returns the resource's id.</summary>
    private static string Add(ImmutableDictionary<string, object>.Builder state, string key, string value, string id)
    {
        state[key] = value;
        return id;
    }
}
