using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Text.Json;
using HomeRelay.Core.Net;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Settings;

/// <summary><c>forwards</c>: each item on its own, then the rules between forwards and against the other settings.</summary>
public static partial class SettingsReader
{
    private static readonly string[] ForwardSettings = ["protocol", "port", "targetPort", "clientIp", "targetHost"];

    /// <summary>One item of <c>forwards</c> as read: each part null when it is invalid (or, for targetHost, absent).</summary>
    private sealed record ForwardParts(int Index, Protocol? Protocol, PortRange? Port, PortRange? TargetPort, ClientIpMode? ClientIp, IPAddress? TargetHost)
    {
        public string Key => $"{K.Forwards}[{Index}]";

        public string ProtocolName => Protocol == Settings.Protocol.Tcp ? "tcp" : "udp";

        /// <summary>Only for a forward without errors.</summary>
        public Forward ToForward() => new(Protocol!.Value, Port!.Value, TargetPort!.Value, ClientIp!.Value, TargetHost);

        /// <summary>As the forward reads (<c>tcp/80->192.168.1.30:8080</c>), for naming it in another forward's message.</summary>
        public string Describe() => Protocol is not null && Port is { } port
            ? new Forward(Protocol.Value, port, TargetPort ?? port, ClientIp ?? ClientIpMode.Transparent, TargetHost).ToString()
            : Key;
    }

    private static ImmutableArray<ForwardParts> ReadForwards(Reader r)
    {
        var elements = r.JsonArray(K.Forwards, required: true, "a list such as [{protocol: tcp, port: 443}]");
        if (elements is null)
        {
            return [];
        }
        if (elements.Value.Length == 0)
        {
            r.Error(K.Forwards, "is empty; forward at least one port, e.g. [{protocol: tcp, port: 443}]");
        }
        var forwards = ImmutableArray.CreateBuilder<ForwardParts>(elements.Value.Length);
        for (var i = 0; i < elements.Value.Length; i++)
        {
            if (ReadForward(r, i, elements.Value[i]) is { } forward)
            {
                forwards.Add(forward);
            }
        }
        return forwards.ToImmutable();
    }

    private static ForwardParts? ReadForward(Reader r, int index, JsonElement element)
    {
        var key = $"{K.Forwards}[{index}]";
        if (element.ValueKind != JsonValueKind.Object)
        {
            r.Error(key, "is not an object; write {protocol: tcp, port: 443}");
            return null;
        }
        foreach (var property in element.EnumerateObject().Where(p => !ForwardSettings.Contains(p.Name)))
        {
            r.Error($"{key}.{property.Name}", $"is not a forward setting; use {string.Join(", ", ForwardSettings)}");
        }
        var protocol = ReadEnum(r, element, key, "protocol", required: true,
            new Dictionary<string, Protocol> { ["tcp"] = Protocol.Tcp, ["udp"] = Protocol.Udp }, Protocol.Tcp);
        var port = ReadPortRange(r, element, key, "port", required: true);
        var targetPort = ReadPortRange(r, element, key, "targetPort", required: false);
        if (port is { } p && targetPort is { } t && !FitsTarget(r, $"{key}.targetPort", p, t))
        {
            targetPort = null;
        }
        else if (port is not null && !Has(element, "targetPort"))
        {
            targetPort = port;
        }
        var targetHost = ReadTargetHost(r, element, key);
        var lanTarget = Has(element, "targetHost");
        var clientIp = ReadEnum(r, element, key, "clientIp", required: false,
            new Dictionary<string, ClientIpMode> { ["transparent"] = ClientIpMode.Transparent, ["snat"] = ClientIpMode.Snat },
            lanTarget ? ClientIpMode.Snat : ClientIpMode.Transparent);
        if (lanTarget && clientIp == ClientIpMode.Transparent)
        {
            r.Error($"{key}.clientIp",
                "transparent cannot hold for a forward with a targetHost: the home server masquerades what it passes on to another "
                + "host of its LAN (that host's replies would otherwise go to the LAN's own router, not back through the tunnel), "
                + "so the target sees the home server's address; leave clientIp out (snat is the default here)");
            clientIp = null;
        }
        return new ForwardParts(index, protocol, port, targetPort, clientIp, targetHost);
    }

    /// <summary>A single target port for a single port; for a range, a range of the same length (mapped port by port).</summary>
    private static bool FitsTarget(Reader r, string key, PortRange port, PortRange target)
    {
        if (port.IsSingle && !target.IsSingle)
        {
            r.Error(key, $"'{target}' is a range but port is the single port {port}; give one target port, or make port a range of {target.Count} ports");
            return false;
        }
        if (!port.IsSingle && target.Count != port.Count)
        {
            var example = target.First + port.Count - 1 <= 65535 ? $", e.g. {new PortRange(target.First, target.First + port.Count - 1)}" : "";
            var what = target.IsSingle ? "a single port" : $"{target.Count} ports";
            r.Error(key,
                $"'{target}' is {what} but port {port} is {port.Count} ports; each public port goes to the target port at the same offset, "
                + $"so give a range of {port.Count} ports{example}, or leave targetPort out to keep the ports");
            return false;
        }
        return true;
    }

    /// <summary>A port (<c>443</c>, <c>"443"</c>) or an inclusive range (<c>"27015-27030"</c>), inside 1-65535.</summary>
    private static PortRange? ReadPortRange(Reader r, JsonElement element, string key, string name, bool required)
    {
        const string Forms = "a port 1-65535 (443) or a range of them (27015-27030)";
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                r.Error($"{key}.{name}", $"is missing; give {Forms}");
            }
            return null;
        }
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()!.Trim() : value.GetRawText();
        var parts = value.ValueKind is JsonValueKind.String or JsonValueKind.Number ? text.Split('-') : [];
        var numbers = parts.Length is 1 or 2
            ? parts.Select(part => int.TryParse(part.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : (int?)null).ToArray()
            : [];
        if (numbers.Length == 0 || numbers.Any(n => n is null))
        {
            r.Error($"{key}.{name}", $"'{text}' is not a port; give {Forms}");
            return null;
        }
        var (first, last) = (numbers[0]!.Value, numbers[^1]!.Value);
        if (first is < 1 or > 65535 || last is < 1 or > 65535)
        {
            r.Error($"{key}.{name}", $"'{text}' is outside 1-65535; give {Forms}");
            return null;
        }
        if (first > last)
        {
            r.Error($"{key}.{name}", $"'{text}' starts above where it ends; write {last}-{first}");
            return null;
        }
        return new PortRange(first, last);
    }

    /// <summary>An IPv4 address, written in full (a.b.c.d).</summary>
    private static IPAddress? ReadTargetHost(Reader r, JsonElement element, string key)
    {
        if (!Has(element, "targetHost"))
        {
            return null;
        }
        var value = element.GetProperty("targetHost");
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()!.Trim() : value.GetRawText();
        if (!IpAddressText.TryParseIpv4(text, out var address))
        {
            r.Error($"{key}.targetHost", $"'{text}' is not an IPv4 address; give the address of the LAN host, e.g. 192.168.1.30 (a host of {K.HomeLan})");
            return null;
        }
        return address;
    }

    private static bool Has(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    private static T? ReadEnum<T>(Reader r, JsonElement element, string key, string name, bool required,
        Dictionary<string, T> choices, T fallback) where T : struct
    {
        if (!Has(element, name))
        {
            if (required)
            {
                r.Error($"{key}.{name}", $"is missing; use one of {string.Join(", ", choices.Keys)}");
                return null;
            }
            return fallback;
        }
        var value = element.GetProperty(name);
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        if (choices.TryGetValue(text.ToLowerInvariant(), out var choice))
        {
            return choice;
        }
        r.Error($"{key}.{name}", $"'{text}' is not one of {string.Join(", ", choices.Keys)}");
        return null;
    }

    /// <summary>The stack stays inside <see cref="Limits"/>: forwards, and ports translated on the way.</summary>
    private static void CheckForwardLimits(Reader r, ImmutableArray<ForwardParts> forwards)
    {
        const string Why = "the rendered apply travels as one SSH command argument, which Linux caps at 128 KiB";
        if (forwards.Length > Limits.MaxForwards)
        {
            r.Error(K.Forwards, $"has {forwards.Length} forwards, more than the limit of {Limits.MaxForwards} ({Why}); "
                + "merge neighbouring ports into ranges, e.g. one forward of 27015-27030");
        }
        var translated = forwards
            .Where(f => f.Port is not null && f.TargetPort is not null && f.Port != f.TargetPort)
            .Sum(f => f.Port!.Value.Count);
        if (translated > Limits.MaxTranslatedPorts)
        {
            r.Error(K.Forwards, $"has {translated} translated ports, more than the limit of {Limits.MaxTranslatedPorts}: each port whose "
                + $"targetPort differs from port (every port of a shifted range) is one nftables map entry, and {Why}; "
                + "keep targetPort equal to port where the service can listen on the public port");
        }
    }

    /// <summary>No public port may be tcp/22 (the VPS's SSH, which pulumi needs) or udp/wireguardPort.</summary>
    /// <param name="wireGuardPort">Null when that setting is invalid: then no forward is checked against it.</param>
    private static void CheckForwardsAgainstVpsPorts(Reader r, ImmutableArray<ForwardParts> forwards, int? wireGuardPort)
    {
        foreach (var f in forwards)
        {
            if (f.Port is not { } port)
            {
                continue;
            }
            if (f.Protocol == Protocol.Tcp && port.Contains(SshPort))
            {
                r.Error($"{f.Key}.port", port.IsSingle
                    ? $"{SshPort} is the SSH port of the VPS, which pulumi needs; forward another public port (e.g. 2222 with targetPort 22)"
                    : $"{port} contains {SshPort}, the SSH port of the VPS, which pulumi needs; split the range around it ({SplitAround(port, SshPort)})");
            }
            if (f.Protocol == Protocol.Udp && wireGuardPort is { } wg && port.Contains(wg))
            {
                r.Error($"{f.Key}.port", port.IsSingle
                    ? $"{wg} is the WireGuard port ({K.WireGuardPort}); choose another port or move {K.WireGuardPort}"
                    : $"{port} contains {wg}, the WireGuard port ({K.WireGuardPort}); split the range around it ({SplitAround(port, wg)}) or move {K.WireGuardPort}");
            }
        }
    }

    /// <summary><c>1-21 and 23-1024</c>: the parts of <paramref name="range"/> on either side of <paramref name="port"/>.</summary>
    private static string SplitAround(PortRange range, int port) => string.Join(" and ",
        new[] { (range.First, port - 1), (port + 1, range.Last) }
            .Where(p => p.Item1 <= p.Item2)
            .Select(p => new PortRange(p.Item1, p.Item2).ToString()));

    /// <summary>A public port of one protocol goes to one place: no two forwards' ranges overlap.</summary>
    private static void CheckPublicPortOverlaps(Reader r, ImmutableArray<ForwardParts> forwards)
    {
        var candidates = forwards.Where(f => f.Protocol is not null && f.Port is not null);
        foreach (var (later, earlier) in Clashes(candidates, f => f.Port!.Value, clashesWithAll: _ => true))
        {
            var port = later.Port!.Value;
            var same = port == earlier.Port!.Value;
            r.Error($"{later.Key}.port",
                $"{later.ProtocolName}/{port} {(same ? "is" : "overlaps ports")} already forwarded by {earlier.Key} ({earlier.ProtocolName}/{earlier.Port}); "
                + (same ? "remove one of them" : "a public port goes to one place only: make the ranges disjoint or remove one"));
        }
    }

    /// <summary>
    /// A LAN target's target ports are its own among the forwards of its protocol: the home server tells LAN targets
    /// apart by target port (traffic from the tunnel to that port goes on to that host).
    /// </summary>
    private static void CheckLanTargetPorts(Reader r, ImmutableArray<ForwardParts> forwards)
    {
        var candidates = forwards.Where(f => f.Protocol is not null && f.TargetPort is not null);
        foreach (var (later, earlier) in Clashes(candidates, f => f.TargetPort!.Value, clashesWithAll: f => f.TargetHost is not null))
        {
            r.Error($"{later.Key}.targetPort",
                $"{later.ProtocolName} target port(s) {later.TargetPort} overlap those of {earlier.Key} ({earlier.Describe()}); the home server "
                + "tells LAN targets apart by target port, so a forward with a targetHost needs target ports no other forward of its "
                + "protocol uses: choose other target ports for one of them");
        }
    }

    /// <summary>
    /// Pairs of forwards of one protocol whose ranges overlap, each as (later, earlier) by index; each later forward at
    /// most once. An item for which <paramref name="clashesWithAll"/> holds clashes with any other; the rest clash only
    /// with those. A sweep over the ranges sorted by start, which keeps the widest-reaching range seen so far (of all,
    /// and of those that clash with all): every forward that clashes with an earlier-starting one is found.
    /// </summary>
    private static IEnumerable<(ForwardParts Later, ForwardParts Earlier)> Clashes(
        IEnumerable<ForwardParts> forwards, Func<ForwardParts, PortRange> range, Func<ForwardParts, bool> clashesWithAll)
    {
        var pairs = new Dictionary<int, (ForwardParts Later, ForwardParts Earlier)>();
        foreach (var protocol in forwards.GroupBy(f => f.Protocol))
        {
            ForwardParts? widest = null, widestOfAll = null;
            foreach (var f in protocol.OrderBy(f => range(f).First).ThenBy(f => f.Index))
            {
                var other = clashesWithAll(f) ? widest : widestOfAll;
                if (other is not null && range(other).Last >= range(f).First)
                {
                    var pair = f.Index > other.Index ? (f, other) : (other, f);
                    pairs.TryAdd(pair.Item1.Index, pair);
                }
                if (widest is null || range(f).Last > range(widest).Last)
                {
                    widest = f;
                }
                if (clashesWithAll(f) && (widestOfAll is null || range(f).Last > range(widestOfAll).Last))
                {
                    widestOfAll = f;
                }
            }
        }
        return pairs.OrderBy(p => p.Key).Select(p => p.Value);
    }

    /// <summary>
    /// A targetHost is a host of an IPv4 <c>homeLan</c>: not its network or broadcast address, not the home server.
    /// Skipped where <c>homeLan</c> had invalid items (the target may lie in one of those).
    /// </summary>
    private static void CheckLanTargets(Reader r, ImmutableArray<ForwardParts> forwards, HomeParts home)
    {
        var targets = forwards.Where(f => f.TargetHost is not null).ToList();
        if (targets.Count == 0 || !home.LanComplete)
        {
            return;
        }
        if (home.Lans.IsEmpty)
        {
            var first = targets[0];
            r.Error(K.HomeLan,
                $"{(home.Lan6.IsEmpty ? "is not set" : "has no IPv4 network")} but is required when a forward has a targetHost "
                + $"({first.Key}.targetHost is {first.TargetHost}): the home server passes forwards on only inside its LAN; "
                + $"set {K.HomeLan} to the IPv4 network that host is on, e.g. {ExampleLan(first.TargetHost!)}");
            return;
        }
        var homeAddress = IPAddress.TryParse(home.Host ?? "", out var parsed) ? parsed : null;
        foreach (var f in targets)
        {
            var target = f.TargetHost!;
            var key = $"{f.Key}.targetHost";
            if (home.Lans.FirstOrDefault(l => l.Cidr.Contains(target)) is not ({ } lanKey, { } lan))
            {
                r.Error(key, $"{target} is not inside the home LAN ({string.Join(", ", home.Lans.Select(l => $"{l.Cidr} in {l.Key}"))}); "
                    + $"give a host of that LAN, or add the network it is on to {K.HomeLan}");
            }
            else if (lan.PrefixLength <= 30 && target.Equals(lan.NetworkAddress))
            {
                r.Error(key, $"{target} is the network address of {lan} ({lanKey}), not a host; give the address of the LAN host");
            }
            else if (lan.PrefixLength <= 30 && target.Equals(lan.Host((uint)((1UL << (32 - lan.PrefixLength)) - 1))))
            {
                r.Error(key, $"{target} is the broadcast address of {lan} ({lanKey}), not a host; give the address of the LAN host");
            }
            else if (target.Equals(homeAddress))
            {
                r.Error(key, $"{target} is the home server itself ({K.HomeHost}); leave targetHost out to forward to the home server");
            }
        }
    }

    /// <summary>The /24 around an address, as an example of the LAN it is on.</summary>
    private static string ExampleLan(IPAddress address) =>
        Ipv4Cidr.TryParse($"{string.Join('.', address.GetAddressBytes().Take(3))}.0/24", out var lan, out _) ? lan.ToString() : "192.168.1.0/24";
}
