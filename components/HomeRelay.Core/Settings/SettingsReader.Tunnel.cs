using System.Globalization;
using HomeRelay.Core.Net;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Settings;

/// <summary>The tunnel: its IPv4 and IPv6 networks, the WireGuard port, MTU and keepalive.</summary>
public static partial class SettingsReader
{
    /// <summary>The tunnel's settings as read, each null when invalid.</summary>
    private sealed record TunnelParts(Ipv4Cidr? Cidr, bool? Ipv6, Ipv6Cidr? Ipv6Cidr, int? ListenPort, int? Mtu, int? Keepalive)
    {
        public TunnelSettings ToSettings() => new()
        {
            Cidr = Cidr!,
            Ipv6Cidr = Ipv6 == true ? Ipv6Cidr! : null,
            ListenPort = ListenPort!.Value,
            Mtu = Mtu!.Value,
            Keepalive = Keepalive!.Value,
        };
    }

    private static TunnelParts ReadTunnel(Reader r)
    {
        var cidrText = r.Optional(K.TunnelCidr) ?? K.Defaults.TunnelCidr;
        Ipv4Cidr? cidr = null;
        if (!Ipv4Cidr.TryParse(cidrText, out var parsed, out var error))
        {
            r.Error(K.TunnelCidr, error + "; use a private /24 to /30 such as 10.66.0.0/24");
        }
        else if (!parsed.IsPrivate)
        {
            r.Error(K.TunnelCidr, $"{parsed} is not private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); use e.g. 10.66.0.0/24");
        }
        else if (parsed.PrefixLength > 30)
        {
            r.Error(K.TunnelCidr, $"{parsed} has room for fewer than two hosts; use a prefix of /30 or shorter");
        }
        else
        {
            cidr = parsed;
        }
        var ipv6 = r.Boolean(K.Ipv6, K.Defaults.Ipv6);
        var cidr6 = ReadTunnelIpv6Cidr(r, ipv6);
        var port = r.Integer(K.WireGuardPort, K.Defaults.WireGuardPort, 1, 65535);
        if (port == SshPort)
        {
            r.Error(K.WireGuardPort, "22 is the SSH port of the VPS; choose another, e.g. 51820");
        }
        var mtu = ReadMtu(r, ipv6);
        var keepalive = r.Integer(K.Keepalive, K.Defaults.Keepalive, 1, 65535);
        return new TunnelParts(cidr, ipv6, cidr6, port == SshPort ? null : port, mtu, keepalive);
    }

    /// <summary>
    /// 1280-1420 while the tunnel carries IPv6, 1200-1420 without. When <c>ipv6</c> itself is invalid only the wider
    /// range is checked, so the MTU is not reported for a mistake that is not its own.
    /// </summary>
    private static int? ReadMtu(Reader r, bool? ipv6)
    {
        var raw = r.Optional(K.Mtu);
        if (raw is null)
        {
            return K.Defaults.Mtu;
        }
        if (!int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var mtu))
        {
            r.Error(K.Mtu, $"'{raw}' is not a whole number; use {MtuMinIpv6}-{MtuMax} ({MtuMinIpv4Only}-{MtuMax} with {K.Ipv6}: false); the default is {K.Defaults.Mtu}");
            return null;
        }
        var top = $"and {MtuMax} is what a 1500-byte line leaves after WireGuard's 80 bytes";
        if (ipv6 == true && mtu is >= MtuMinIpv4Only and < MtuMinIpv6)
        {
            r.Error(K.Mtu, $"{mtu} is outside {MtuMinIpv6}-{MtuMax}: the tunnel carries IPv6 ({K.Ipv6} is true), which needs at least {MtuMinIpv6}, "
                + $"{top}; set {K.Ipv6}: false to go down to {MtuMinIpv4Only}");
            return null;
        }
        if (mtu is < MtuMinIpv4Only or > MtuMax)
        {
            r.Error(K.Mtu, ipv6 == false
                ? $"{mtu} is outside {MtuMinIpv4Only}-{MtuMax}: {MtuMinIpv4Only} is home-relay's floor (with {K.Ipv6}: false nothing in the tunnel needs IPv6's {MtuMinIpv6}), {top}"
                : $"{mtu} is outside {MtuMinIpv6}-{MtuMax}: IPv6 in the tunnel needs at least {MtuMinIpv6} ({MtuMinIpv4Only} with {K.Ipv6}: false), {top}");
            return null;
        }
        return mtu;
    }

    /// <summary>The tunnel's IPv6 network: checked unless <c>ipv6</c> is false, when setting it is only a warning.</summary>
    private static Ipv6Cidr? ReadTunnelIpv6Cidr(Reader r, bool? ipv6)
    {
        var text = r.Optional(K.TunnelIpv6Cidr);
        if (ipv6 == false)
        {
            if (text is not null)
            {
                r.Warning(K.TunnelIpv6Cidr, $"is unused while {K.Ipv6} is false; remove it, or set {K.Ipv6}: true to carry IPv6 through the tunnel");
            }
            return null;
        }
        const string Example = "use a unique-local /64 such as " + K.Defaults.TunnelIpv6Cidr;
        if (!Ipv6Cidr.TryParse(text ?? K.Defaults.TunnelIpv6Cidr, out var cidr, out var error))
        {
            r.Error(K.TunnelIpv6Cidr, $"{error}; {Example}");
            return null;
        }
        if (!cidr.IsUniqueLocal)
        {
            r.Error(K.TunnelIpv6Cidr, $"{cidr} is not unique-local (fd00::/8); the tunnel needs private addresses: {Example}");
            return null;
        }
        if (cidr.PrefixLength is < 64 or > 126)
        {
            r.Error(K.TunnelIpv6Cidr,
                $"{cidr} has a /{cidr.PrefixLength} prefix; use /64 to /126 (one subnet with room for the tunnel's ::1 and ::2), e.g. {K.Defaults.TunnelIpv6Cidr}");
            return null;
        }
        return cidr;
    }
}
