using HomeRelay.Core.Settings;
using Pulumi;
using Pulumi.Cloudflare;
using Pulumi.Cloudflare.Inputs;

namespace HomeRelay.Components;

public sealed class RelayDnsArgs
{
    public required DnsSettings Dns { get; init; }
    public required Input<string> Ipv4Address { get; init; }
}

/// <summary>
/// The public name: a Cloudflare A record, not proxied (Cloudflare's proxy carries only HTTP(S) and would hide the
/// visitor's address). No AAAA record until IPv6 is forwarded end to end: one without it breaks every IPv6 visitor.
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

        var record = new DnsRecord($"{name}-a", new DnsRecordArgs
        {
            ZoneId = zone.Apply(z => z.Id),
            Name = args.Dns.Name,
            Type = "A",
            Content = args.Ipv4Address,
            Ttl = args.Dns.Ttl,
            Proxied = false,
            Comment = "home-relay: the VPS in front of the home server",
        }, new CustomResourceOptions { Parent = this });

        Name = record.Name;
        RegisterOutputs();
    }
}
