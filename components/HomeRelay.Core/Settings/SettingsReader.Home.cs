using System.Collections.Immutable;
using System.Net;
using System.Text.Json;
using HomeRelay.Core.Net;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Settings;

/// <summary>The home server and its LAN, and the rule that keeps the tunnel's networks off the LAN.</summary>
public static partial class SettingsReader
{
    /// <summary>
    /// The home server's settings as read, each null when invalid. The LANs are the valid ones, each with its key
    /// (<c>homeLan</c> or <c>homeLan[i]</c>); <paramref name="LanComplete"/> is false when some item of <c>homeLan</c> was invalid.
    /// </summary>
    private sealed record HomeParts(string? Host, int? SshPort, string? User, string? HostKey,
        ImmutableArray<(string Key, Ipv4Cidr Cidr)> Lans, ImmutableArray<(string Key, Ipv6Cidr Cidr)> Lan6, bool LanComplete)
    {
        public HomeHost ToSettings() => new()
        {
            Host = Host!,
            SshPort = SshPort!.Value,
            User = User!,
            HostKey = HostKey!,
            Lans = [.. Lans.Select(l => l.Cidr)],
            Lan6 = [.. Lan6.Select(l => l.Cidr)],
        };
    }

    private static HomeParts ReadHome(Reader r)
    {
        var host = r.Required(K.HomeHost, "the home server's address as reached from where you run pulumi, e.g. 192.168.1.20");
        if (host is not null && !IsHostName(host) && !IPAddress.TryParse(host, out _))
        {
            r.Error(K.HomeHost, $"'{host}' is neither an IP address nor a host name");
            host = null;
        }
        var port = r.Integer(K.HomeSshPort, K.Defaults.HomeSshPort, 1, 65535);
        var user = r.NonEmpty(K.HomeUser, K.Defaults.HomeUser, "the SSH user on the home server (root, or a user with passwordless sudo)");
        if (user is not null && !System.Text.RegularExpressions.Regex.IsMatch(user, "^[a-z_][a-z0-9_.-]*$"))
        {
            r.Error(K.HomeUser, $"'{user}' is not a valid Linux user name");
            user = null;
        }
        var hostKey = r.Required(K.HomeHostKey, "the home server's SSH host key, from: ssh-keyscan -t ed25519 <homeHost> (the part after the host name)");
        if (hostKey is not null && !Keys.SshPublicKey.TryParse(hostKey, out _, out var keyError))
        {
            r.Error(K.HomeHostKey, $"{keyError}; copy the whole line after the host name from ssh-keyscan -t ed25519 <homeHost>");
            hostKey = null;
        }
        var (lans, lan6, lanComplete) = ReadHomeLan(r);
        return new HomeParts(host, port, user, hostKey?.Trim(), lans, lan6, lanComplete);
    }

    /// <summary><c>homeLan</c>: one network, or a list (JSON text) of networks, IPv4 and IPv6 mixed.</summary>
    private static (ImmutableArray<(string, Ipv4Cidr)> Lans, ImmutableArray<(string, Ipv6Cidr)> Lan6, bool Complete) ReadHomeLan(Reader r)
    {
        var raw = r.Optional(K.HomeLan);
        if (raw is null)
        {
            return ([], [], true);
        }
        IEnumerable<(string Key, string Text)> items = [(K.HomeLan, raw)];
        if (raw.StartsWith('['))
        {
            var elements = r.JsonArray(K.HomeLan, required: false, "the home network, e.g. 192.168.1.0/24, or a list of them");
            if (elements is null)
            {
                return ([], [], false);
            }
            if (elements.Value.Length == 0)
            {
                r.Error(K.HomeLan, "is an empty list; list the home networks, e.g. [192.168.1.0/24], or remove it");
                return ([], [], false);
            }
            items = elements.Value.Select((e, i) => ($"{K.HomeLan}[{i}]", e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()));
        }
        var lans = ImmutableArray.CreateBuilder<(string, Ipv4Cidr)>();
        var lan6 = ImmutableArray.CreateBuilder<(string, Ipv6Cidr)>();
        var complete = true;
        foreach (var (key, text) in items)
        {
            string? error;
            if (text.Contains(':'))
            {
                if (Ipv6Cidr.TryParse(text, out var cidr6, out error))
                {
                    lan6.Add((key, cidr6));
                    continue;
                }
            }
            else if (Ipv4Cidr.TryParse(text, out var cidr4, out error))
            {
                lans.Add((key, cidr4));
                continue;
            }
            r.Error(key, $"{error}; give the home network in CIDR form, e.g. 192.168.1.0/24 or 2001:db8:1::/64");
            complete = false;
        }
        return (lans.ToImmutable(), lan6.ToImmutable(), complete);
    }

    /// <summary>Neither of the tunnel's networks may be one that the home LAN uses.</summary>
    private static void CheckTunnelAgainstLan(Reader r, TunnelParts tunnel, HomeParts home)
    {
        foreach (var (key, lan) in home.Lans.Where(l => tunnel.Cidr is not null && tunnel.Cidr.Overlaps(l.Cidr)))
        {
            r.Error(K.TunnelCidr, $"{tunnel.Cidr} overlaps the home LAN {lan} ({key}); choose a tunnel range that is not used at home, e.g. 10.66.0.0/24");
        }
        var cidr6 = tunnel.Ipv6 == true ? tunnel.Ipv6Cidr : null;
        foreach (var (key, lan) in home.Lan6.Where(l => cidr6 is not null && cidr6.Overlaps(l.Cidr)))
        {
            r.Error(K.TunnelIpv6Cidr, $"{cidr6} overlaps the home LAN {lan} ({key}); choose a unique-local /64 (inside fd00::/8) that is not used at home");
        }
    }
}
