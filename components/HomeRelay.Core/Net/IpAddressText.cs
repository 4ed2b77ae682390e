using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace HomeRelay.Core.Net;

/// <summary>
/// Single addresses as people and Pulumi outputs write them. IPv4 must be written in full (a.b.c.d): .NET's parser
/// also takes "203.0.113" for 203.0.0.113 and "10.1" for 10.0.0.1, which would quietly stand for another host.
/// </summary>
public static class IpAddressText
{
    public static bool TryParseIpv4(string? text, [NotNullWhen(true)] out IPAddress? address) =>
        TryParse(text, AddressFamily.InterNetwork, out address) && text!.Count(c => c == '.') == 3;

    public static bool TryParseIpv6(string? text, [NotNullWhen(true)] out IPAddress? address) =>
        TryParse(text, AddressFamily.InterNetworkV6, out address);

    private static bool TryParse(string? text, AddressFamily family, [NotNullWhen(true)] out IPAddress? address)
    {
        if (IPAddress.TryParse(text, out address) && address.AddressFamily == family)
        {
            return true;
        }
        address = null;
        return false;
    }
}
