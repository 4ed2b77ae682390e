using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace HomeRelay.Core.Net;

/// <summary>An IPv4 network in CIDR form whose host bits are zero, e.g. <c>10.66.0.0/24</c>.</summary>
public sealed record Ipv4Cidr
{
    private Ipv4Cidr(uint network, int prefixLength)
    {
        Network = network;
        PrefixLength = prefixLength;
    }

    private uint Network { get; }
    public int PrefixLength { get; }

    private uint Mask => PrefixLength == 0 ? 0u : uint.MaxValue << (32 - PrefixLength);

    public IPAddress NetworkAddress => ToAddress(Network);

    /// <summary>The n-th address inside the network (1 is the first host).</summary>
    public IPAddress Host(uint n) => ToAddress(Network + n);

    public bool Contains(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork && (ToUInt(address) & Mask) == Network;

    public bool Overlaps(Ipv4Cidr other)
    {
        var mask = PrefixLength < other.PrefixLength ? Mask : other.Mask;
        return (Network & mask) == (other.Network & mask);
    }

    /// <summary>RFC 1918 space only: the CGNAT range 100.64.0.0/10 is where the home server itself lives.</summary>
    public bool IsPrivate => Private.Any(p => p.Contains(NetworkAddress) && PrefixLength >= p.PrefixLength);

    private static readonly Ipv4Cidr[] Private =
    [
        new(0x0A000000, 8),  // 10.0.0.0/8
        new(0xAC100000, 12), // 172.16.0.0/12
        new(0xC0A80000, 16), // 192.168.0.0/16
    ];

    public override string ToString() => $"{NetworkAddress}/{PrefixLength}";

    /// <summary>Parses <c>a.b.c.d/n</c>; <paramref name="error"/> says what is wrong, for the settings message.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out Ipv4Cidr? cidr, [NotNullWhen(false)] out string? error)
    {
        cidr = null;
        var parts = text.Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var address)
            || address.AddressFamily != AddressFamily.InterNetwork || parts[0].Count(c => c == '.') != 3)
        {
            error = $"'{text}' is not an IPv4 network in CIDR form such as 10.66.0.0/24";
            return false;
        }
        if (!int.TryParse(parts[1], System.Globalization.NumberStyles.None, null, out var prefix) || prefix > 32)
        {
            error = $"'{text}' has a prefix length outside 0-32";
            return false;
        }
        var candidate = new Ipv4Cidr(ToUInt(address) & (prefix == 0 ? 0u : uint.MaxValue << (32 - prefix)), prefix);
        if (!candidate.NetworkAddress.Equals(address))
        {
            error = $"'{text}' has host bits set; the network is {candidate}";
            return false;
        }
        cidr = candidate;
        error = null;
        return true;
    }

    private static uint ToUInt(IPAddress address) => BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    private static IPAddress ToAddress(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
