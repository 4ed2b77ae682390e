using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using HomeRelay.Core.Net;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Settings;

/// <summary>
/// Turns raw config values into <see cref="RelaySettings"/>, collecting every problem at once.
/// The raw form is Pulumi's: <c>Config.Get(key)</c> gives a scalar as its text and a list or object as JSON,
/// so the Pulumi program and the lab (which reads <c>Pulumi.&lt;stack&gt;.yaml</c> itself) share one reader.
/// </summary>
public static partial class SettingsReader
{
    private const int SshPort = 22;

    /// <summary>A 1500-byte line less WireGuard's 80 bytes over IPv6 (40 IPv6, 8 UDP, 32 WireGuard).</summary>
    private const int MtuMax = 1420;

    /// <summary>IPv6's minimum link MTU (RFC 8200), binding while the tunnel carries IPv6.</summary>
    private const int MtuMinIpv6 = 1280;

    /// <summary>The floor with <c>ipv6: false</c>, for lines that lose more than CGNAT, PPPoE or DS-Lite usually take.</summary>
    private const int MtuMinIpv4Only = 1200;

    public sealed record Result(RelaySettings? Settings, ImmutableArray<SettingsProblem> Problems)
    {
        public IEnumerable<SettingsProblem> Errors => Problems.Where(p => !p.IsWarning);
        public IEnumerable<SettingsProblem> Warnings => Problems.Where(p => p.IsWarning);

        /// <summary>The settings, or an <see cref="InvalidSettingsException"/> naming every error.</summary>
        public RelaySettings SettingsOrThrow() =>
            Settings ?? throw new InvalidSettingsException(Errors.ToList());
    }

    /// <param name="get">Looks up a key without its namespace; null when the stack does not set it.</param>
    /// <param name="presentKeys">Every key the stack sets (without namespace), when known: typos among them are errors.</param>
    public static Result Read(Func<string, string?> get, IEnumerable<string>? presentKeys = null)
    {
        var problems = new List<SettingsProblem>(SettingKeys.Unknown(presentKeys ?? []));
        var reader = new Reader(get, problems);

        var location = reader.NonEmpty(K.Location, K.Defaults.Location, "a Hetzner location such as fsn1, nbg1, hel1, ash or hil");
        var serverType = reader.NonEmpty(K.ServerType, K.Defaults.ServerType, "a Hetzner server type such as cx23");
        var image = reader.NonEmpty(K.Image, K.Defaults.Image, "an image name such as debian-12");
        var dns = ReadDns(reader);
        var tunnel = ReadTunnel(reader);
        var home = ReadHome(reader);
        var forwards = ReadForwards(reader);
        var sshRanges = ReadSshRanges(reader);
        var rotation = reader.NonEmpty(K.KeyRotation, K.Defaults.KeyRotation, "any word; change it to rotate the WireGuard keys");

        // Rules across settings run on whatever parts are valid, so one run names every bad key.
        CheckTunnelAgainstLan(reader, tunnel, home);
        CheckForwardsAgainstVpsPorts(reader, forwards, tunnel.ListenPort);
        CheckPublicPortOverlaps(reader, forwards);
        CheckLanTargets(reader, forwards, home);
        CheckLanTargetPorts(reader, forwards);
        CheckForwardLimits(reader, forwards);
        CheckFirewallLimits(reader, tunnel, sshRanges, forwards);

        if (problems.Any(p => !p.IsWarning))
        {
            return new Result(null, [.. problems]);
        }

        var settings = new RelaySettings
        {
            Location = location!,
            ServerType = serverType!,
            Image = image!,
            Dns = dns!,
            Forwards = [.. forwards.Select(f => f.ToForward())],
            SshSourceRanges = sshRanges,
            Home = home.ToSettings(),
            Tunnel = tunnel.ToSettings(),
            KeyRotation = rotation!,
        };
        return new Result(settings, [.. problems]);
    }

    private static DnsSettings? ReadDns(Reader r)
    {
        var zone = r.Required(K.DnsZone, "the Cloudflare zone, e.g. example.com")?.TrimEnd('.').ToLowerInvariant();
        var name = r.Required(K.DnsName, "the public name, e.g. relay.example.com")?.TrimEnd('.').ToLowerInvariant();
        var ttl = r.Integer(K.DnsTtl, K.Defaults.DnsTtl, 1, 86400);
        if (ttl is > 1 and < 60)
        {
            r.Error(K.DnsTtl, $"{ttl} is below Cloudflare's minimum of 60 seconds; use 1 (automatic) or 60-86400");
        }
        if (zone is not null && !IsHostName(zone))
        {
            r.Error(K.DnsZone, $"'{zone}' is not a DNS name; set the zone as Cloudflare shows it, e.g. example.com");
            zone = null; // the name is not checked against a zone that is not one
        }
        if (name is not null && !IsHostName(name))
        {
            r.Error(K.DnsName, $"'{name}' is not a DNS name (letters, digits and '-' in dot-separated labels)");
        }
        else if (name is not null && zone is not null && name != zone && !name.EndsWith("." + zone, StringComparison.Ordinal))
        {
            r.Error(K.DnsName, $"'{name}' is not inside the zone '{zone}'; use a name ending in .{zone}");
        }
        return zone is null || name is null || ttl is null ? null : new DnsSettings { Zone = zone, Name = name, Ttl = ttl.Value };
    }

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

    /// <summary>
    /// The VPS's Hetzner firewall stays inside Hetzner's limits, or <c>pulumi up</c> would fail halfway. Planned from the
    /// valid parts; an invalid <c>ipv6</c> counts as off (fewer source networks), so only certain excesses are reported.
    /// </summary>
    private static void CheckFirewallLimits(Reader r, TunnelParts tunnel, ImmutableArray<string> sshRanges, ImmutableArray<ForwardParts> forwards)
    {
        var ipv6 = tunnel.Ipv6 == true;
        var plan = Cloud.HetznerFirewallPlan.Create(ipv6, tunnel.ListenPort ?? K.Defaults.WireGuardPort, sshRanges,
            forwards.Where(f => f.Protocol is not null && f.Port is not null)
                .Select(f => new Forward(f.Protocol!.Value, f.Port!.Value, f.Port!.Value, ClientIpMode.Transparent)));
        if (plan.Rules.Length > Limits.HetznerFirewallRules)
        {
            const int Fixed = Cloud.HetznerFirewallPlan.FixedRules;
            r.Error(K.Forwards,
                $"would need {plan.Rules.Length} rules, more than Hetzner's limit of {Limits.HetznerFirewallRules} per firewall: the VPS's firewall has "
                + $"{Fixed} for ICMP, SSH and WireGuard and {plan.Rules.Length - Fixed} for the forwards' public ports, neighbouring ports merged; "
                + "put services on neighbouring public ports, or forward ranges such as 27015-27030: each run of neighbouring ports is one rule");
        }
        if (plan.EffectiveRules > Limits.HetznerFirewallEffectiveRules)
        {
            var others = plan.EffectiveRules - sshRanges.Length;
            r.Error(sshRanges.Length >= others ? K.SshSourceRanges : K.Forwards,
                $"would need {plan.EffectiveRules} effective rules, more than Hetzner's limit of {Limits.HetznerFirewallEffectiveRules} per firewall: "
                + $"each rule counts once per source network, {sshRanges.Length} for SSH ({K.SshSourceRanges}) and {others} for ICMP, WireGuard "
                + $"and the forwards (from {string.Join(" and ", Cloud.HetznerFirewallPlan.Anywhere(ipv6))}); list fewer {K.SshSourceRanges} "
                + "(one wider network instead of several narrow ones) or merge forwards into ranges");
        }
    }

    private static ImmutableArray<string> ReadSshRanges(Reader r)
    {
        var elements = r.JsonArray(K.SshSourceRanges, required: true,
            "the networks allowed to reach the VPS's SSH port, e.g. [\"203.0.113.7/32\"] (where you run pulumi)");
        if (elements is null)
        {
            return [];
        }
        if (elements.Value.Length == 0)
        {
            r.Error(K.SshSourceRanges, "is empty, so pulumi could not reach the VPS; add the address you run pulumi from, e.g. [\"203.0.113.7/32\"]");
        }
        var ranges = ImmutableArray.CreateBuilder<string>();
        for (var i = 0; i < elements.Value.Length; i++)
        {
            var key = $"{K.SshSourceRanges}[{i}]";
            var text = elements.Value[i].ValueKind == JsonValueKind.String ? elements.Value[i].GetString()! : elements.Value[i].ToString();
            if (ParseAnyCidr(text, out var error) is not { } normalized)
            {
                r.Error(key, error!);
                continue;
            }
            if (normalized is "0.0.0.0/0" or "::/0")
            {
                r.Warning(key, $"{normalized} lets the whole internet try the VPS's SSH port; narrow it to where you run pulumi");
            }
            ranges.Add(normalized);
        }
        return ranges.ToImmutable();
    }

    /// <summary>An IPv4 or IPv6 network; null with <paramref name="error"/> when it is not one, or has host bits set.</summary>
    private static string? ParseAnyCidr(string text, out string? error)
    {
        error = null;
        var parts = text.Split('/');
        if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var address)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix)
            || prefix > (address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32)
            || (address.AddressFamily == AddressFamily.InterNetwork && parts[0].Count(c => c == '.') != 3))
        {
            error = $"'{text}' is not a network in CIDR form such as 203.0.113.7/32 or 2001:db8::/64";
            return null;
        }
        var network = new System.Net.IPNetwork(Mask(address, prefix), prefix);
        if (!network.BaseAddress.Equals(address))
        {
            error = $"'{text}' has host bits set; write {network} (or {address}/{(address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32)} for the one address)";
            return null;
        }
        return network.ToString();
    }

    private static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
    }

    internal static bool IsHostName(string name) =>
        name.Length is > 0 and <= 253
        && name.Split('.').All(label => System.Text.RegularExpressions.Regex.IsMatch(label, "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
        && !name.Split('.').Last().All(char.IsDigit);

    /// <summary>Typed access to raw values that records problems instead of throwing.</summary>
    private sealed class Reader(Func<string, string?> get, List<SettingsProblem> problems)
    {
        public void Error(string key, string message) => problems.Add(new SettingsProblem(key, message));

        public void Warning(string key, string message) => problems.Add(new SettingsProblem(key, message, IsWarning: true));

        public string? Optional(string key) => get(key) is { } value && value.Trim().Length > 0 ? value.Trim() : null;

        public string? Required(string key, string what)
        {
            var value = Optional(key);
            if (value is null)
            {
                Error(key, $"is not set; set it to {what}: pulumi config set {key} <value>");
            }
            return value;
        }

        public string? NonEmpty(string key, string fallback, string what)
        {
            var raw = get(key);
            if (raw is not null && raw.Trim().Length == 0)
            {
                Error(key, $"is empty; set it to {what} or remove it for the default '{fallback}'");
                return null;
            }
            return raw?.Trim() ?? fallback;
        }

        public int? Integer(string key, int fallback, int min, int max)
        {
            var raw = Optional(key);
            if (raw is null)
            {
                return fallback;
            }
            if (!int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                Error(key, $"'{raw}' is not a whole number from {min} to {max}; the default is {fallback}");
                return null;
            }
            return value;
        }

        /// <summary>A boolean as Pulumi hands it over: the text <c>true</c> or <c>false</c>.</summary>
        public bool? Boolean(string key, bool fallback)
        {
            var raw = Optional(key);
            if (raw is null)
            {
                return fallback;
            }
            if (bool.TryParse(raw, out var value))
            {
                return value;
            }
            Error(key, $"'{raw}' is not true or false; the default is {(fallback ? "true" : "false")}");
            return null;
        }

        public ImmutableArray<JsonElement>? JsonArray(string key, bool required, string what)
        {
            var raw = required ? Required(key, what) : Optional(key);
            if (raw is null)
            {
                return null;
            }
            try
            {
                using var document = JsonDocument.Parse(raw);
                if (document.RootElement.ValueKind != JsonValueKind.Array)
                {
                    Error(key, $"is not a list; set it to {what}");
                    return null;
                }
                return [.. document.RootElement.EnumerateArray().Select(e => e.Clone())];
            }
            catch (JsonException)
            {
                Error(key, $"is not a list; set it to {what} (with pulumi config set --path or in the stack file)");
                return null;
            }
        }
    }
}
