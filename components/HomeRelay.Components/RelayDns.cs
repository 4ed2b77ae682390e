using HomeRelay.Core.Settings;
using Pulumi;
using Pulumi.Cloudflare;
using Pulumi.Cloudflare.Inputs;

namespace HomeRelay.Components;

public sealed class RelayDnsArgs
{
    public required DnsSettings Dns { get; init; }
    public required Input<string> Ipv4Address { get; init; }

    /// <summary>The relay's public IPv6, or null for no AAAA record (<c>ipv6: false</c>).</summary>
    public Input<string>? Ipv6Address { get; init; }
}

/// <summary>
/// The public name: a Cloudflare A record and, with the IPv6 front door, an AAAA record beside it, both not proxied
/// (Cloudflare's proxy carries only HTTP(S) and would hide the visitor's address) and with the same TTL. Without
/// <c>ipv6</c> there is no AAAA record: one whose address forwards nothing breaks every IPv6 visitor.
/// </summary>
public sealed class RelayDns : ComponentResource
{
    [Output("name")]
    public Output<string> Name { get; private set; }

    public RelayDns(string name, RelayDnsArgs args, ComponentResourceOptions? options = null)
        : base("home-relay:index:RelayDns", name, ResourceArgs.Empty, options)
    {
        var zone = GetZone.Invoke(new GetZoneInvokeArgs
        {
            Filter = new GetZoneFilterInputArgs { Name = args.Dns.Zone, Match = "all" },
        }, new InvokeOptions { Parent = this });
        var zoneId = zone.Apply(z => z.Id);

        var record = Record("a", "A", args.Ipv4Address);
        if (args.Ipv6Address is not null)
        {
            Record("aaaa", "AAAA", args.Ipv6Address);
        }

        Name = record.Name;
        RegisterOutputs();

        DnsRecord Record(string role, string type, Input<string> address) => new($"{name}-{role}", new DnsRecordArgs
        {
            ZoneId = zoneId,
            Name = args.Dns.Name,
            Type = type,
            Content = address,
            Ttl = args.Dns.Ttl,
            Proxied = false,
            Comment = "home-relay: the VPS in front of the home server",
        }, new CustomResourceOptions { Parent = this });
    }
}
