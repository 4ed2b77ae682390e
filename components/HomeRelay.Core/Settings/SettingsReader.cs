using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
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
        var image = reader.NonEmpty(K.Image, K.Defaults.Image, "an image name such as debian-13 (or debian-12)");
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
