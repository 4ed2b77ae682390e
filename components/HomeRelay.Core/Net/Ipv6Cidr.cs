using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace HomeRelay.Core.Net;

/// <summary>An IPv6 network in CIDR form whose host bits are zero, e.g. <c>fd66:7265:6c61::/64</c>.</summary>
public sealed record Ipv6Cidr
{
    private Ipv6Cidr(UInt128 network, int prefixLength)
    {
        Network = network;
        PrefixLength = prefixLength;
    }

    private UInt128 Network { get; }
    public int PrefixLength { get; }

    private UInt128 Mask => PrefixLength == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - PrefixLength);

    public IPAddress NetworkAddress => ToAddress(Network);

    /// <summary>The n-th address inside the network (1 is the first host).</summary>
    public IPAddress Host(uint n) => ToAddress(Network + n);

    public bool Contains(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 && (ToUInt(address) & Mask) == Network;

    public bool Overlaps(Ipv6Cidr other)
    {
        var mask = PrefixLength < other.PrefixLength ? Mask : other.Mask;
        return (Network & mask) == (other.Network & mask);
    }

    /// <summary>Unique local addresses (RFC 4193): fd00::/8, the locally assigned half of fc00::/7.</summary>
    public bool IsUniqueLocal => (Network >> 120) == 0xfd && PrefixLength >= 8;

    public override string ToString() => $"{NetworkAddress}/{PrefixLength}";

    /// <summary>Parses <c>addr/n</c>; <paramref name="error"/> says what is wrong, for the settings message.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out Ipv6Cidr? cidr, [NotNullWhen(false)] out string? error)
    {
        cidr = null;
        var parts = text.Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var address) || address.AddressFamily != AddressFamily.InterNetworkV6
            || address.ScopeId != 0)
        {
            error = $"'{text}' is not an IPv6 network in CIDR form such as fd66:7265:6c61::/64";
            return false;
        }
        if (!int.TryParse(parts[1], System.Globalization.NumberStyles.None, null, out var prefix) || prefix > 128)
        {
            error = $"'{text}' has a prefix length outside 0-128";
            return false;
        }
        var mask = prefix == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - prefix);
        var candidate = new Ipv6Cidr(ToUInt(address) & mask, prefix);
        if (!candidate.NetworkAddress.Equals(address))
        {
            error = $"'{text}' has host bits set; the network is {candidate}";
            return false;
        }
        cidr = candidate;
        error = null;
        return true;
    }

    private static UInt128 ToUInt(IPAddress address) => BinaryPrimitives.ReadUInt128BigEndian(address.GetAddressBytes());

    private static IPAddress ToAddress(UInt128 value)
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
