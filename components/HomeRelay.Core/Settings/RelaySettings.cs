using System.Collections.Immutable;
using HomeRelay.Core.Net;

namespace HomeRelay.Core.Settings;

/// <summary>
/// One stack's settings, already validated. Built only by <see cref="SettingsReader"/>, so every instance
/// is one that the hosts can be configured from.
/// </summary>
public sealed record RelaySettings
{
    public required string Location { get; init; }
    public required string ServerType { get; init; }
    public required string Image { get; init; }
    public required DnsSettings Dns { get; init; }
    public required ImmutableArray<Forward> Forwards { get; init; }
    public required ImmutableArray<string> SshSourceRanges { get; init; }
    public required HomeHost Home { get; init; }
    public required TunnelSettings Tunnel { get; init; }

    /// <summary>The IPv6 front door: an AAAA record, and IPv6 visitors forwarded through the tunnel (which then carries IPv6 too).</summary>
    public bool Ipv6 => Tunnel.Ipv6Cidr is not null;

    /// <summary>Any string; changing it makes new WireGuard keys on the next <c>pulumi up</c>.</summary>
    public required string KeyRotation { get; init; }
}

public sealed record DnsSettings
{
    public required string Zone { get; init; }
    public required string Name { get; init; }

    /// <summary>Seconds; 1 means Cloudflare's "automatic".</summary>
    public required int Ttl { get; init; }
}

public sealed record HomeHost
{
    /// <summary>Address or name of the home server as reached from where <c>pulumi up</c> runs.</summary>
    public required string Host { get; init; }
    public required int SshPort { get; init; }
    public required string User { get; init; }

    /// <summary>The home server's SSH host key (<c>ssh-ed25519 AAAA...</c>), pinned on every remote command.</summary>
    public required string HostKey { get; init; }

    /// <summary>
    /// The home LAN's IPv4 networks (<c>homeLan</c>), when given: the tunnel must not overlap them, and the LAN targets
    /// of forwards (<see cref="Forward.TargetHost"/>) lie inside them.
    /// </summary>
    public ImmutableArray<Ipv4Cidr> Lans { get; init; } = [];

    /// <summary>The home LAN's IPv6 networks, when given: the tunnel's IPv6 network must not overlap them.</summary>
    public ImmutableArray<Ipv6Cidr> Lan6 { get; init; } = [];

    public bool IsRoot => User == "root";
}

public sealed record TunnelSettings
{
    public required Ipv4Cidr Cidr { get; init; }

    /// <summary>The tunnel's unique-local IPv6 network; null when the IPv6 front door is off (<c>ipv6: false</c>).</summary>
    public Ipv6Cidr? Ipv6Cidr { get; init; }
    public required int ListenPort { get; init; }
    public required int Mtu { get; init; }
    public required int Keepalive { get; init; }

    /// <summary>The VPS end of the tunnel: the first host address of <see cref="Cidr"/>.</summary>
    public System.Net.IPAddress VpsAddress => Cidr.Host(1);

    /// <summary>The home end of the tunnel: the second host address of <see cref="Cidr"/>.</summary>
    public System.Net.IPAddress HomeAddress => Cidr.Host(2);

    /// <summary>The VPS's IPv6 tunnel address (::1), when the tunnel carries IPv6.</summary>
    public System.Net.IPAddress? VpsAddress6 => Ipv6Cidr?.Host(1);

    /// <summary>The home's IPv6 tunnel address (::2), when the tunnel carries IPv6.</summary>
    public System.Net.IPAddress? HomeAddress6 => Ipv6Cidr?.Host(2);
}

public enum Protocol { Tcp, Udp }

/// <summary>How the home service sees the visitor's address.</summary>
public enum ClientIpMode
{
    /// <summary>The visitor's own address (policy routing at home sends replies back through the tunnel).</summary>
    Transparent,

    /// <summary>The VPS's tunnel address (masquerade on the VPS): for services that cannot route replies back.</summary>
    Snat,
}

/// <summary>
/// Public <paramref name="Port"/> (or range) of the VPS, relayed to <paramref name="TargetPort"/> (a range of the same
/// length) on the home server, or on <paramref name="TargetHost"/>, another host of the home LAN, through the home server.
/// </summary>
public sealed record Forward(Protocol Protocol, PortRange Port, PortRange TargetPort, ClientIpMode ClientIp, System.Net.IPAddress? TargetHost = null)
{
    public string ProtocolName => Protocol == Protocol.Tcp ? "tcp" : "udp";

    /// <summary>The home server passes it on to another host of its LAN (masqueraded, so never <see cref="ClientIpMode.Transparent"/>).</summary>
    public bool IsLanTarget => TargetHost is not null;

    /// <summary>The port changes on the way (a different port, or a shifted range).</summary>
    public bool IsTranslated => Port != TargetPort;

    public override string ToString() => (IsTranslated, TargetHost) switch
    {
        (false, null) => $"{ProtocolName}/{Port}",
        (true, null) => $"{ProtocolName}/{Port}->{TargetPort}",
        _ => $"{ProtocolName}/{Port}->{TargetHost}:{TargetPort}",
    };
}
