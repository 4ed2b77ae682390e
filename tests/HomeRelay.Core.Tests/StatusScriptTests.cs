using System.Globalization;
using System.Text;
using System.Text.Json;
using HomeRelay.Core.Hosts;
using HomeRelay.Core.Settings;
using HomeRelay.Core.Tests.Support;

namespace HomeRelay.Core.Tests;

/// <summary>
/// The rendered status command runs for real against fake tools: stub <c>wg</c>, <c>nft</c>, <c>getent</c> and
/// <c>ip link show dev wg0</c> print canned output (in nft's own format), in a private mount and network namespace
/// whose loopback carries the home's tunnel addresses, so the probes find a listener (answered), nothing (refused:
/// the home is there) or no route (silent: the home is off). The lab runs it against a real relay.
/// </summary>
public sealed class StatusScriptTests
{
    private const string RelayAddress = Examples.VpsEndpoint;
    private const string RelayAddress6 = Examples.VpsAddress6;

    /// <summary>What the fake VPS looks like; every property a knob of the stubs.</summary>
    private sealed record FakeVps
    {
        public bool TunnelUp { get; init; } = true;
        public int? HandshakeAgo { get; init; } = 12;
        public string Endpoint { get; init; } = "198.51.100.2:40123";
        public bool HomeOn { get; init; } = true;
        public int[] Listening { get; init; } = [80, 443, 22];
        /// <summary>The relay's public IPv6 as the status command gets it: null without an IPv6 front door.</summary>
        public string? RelayAddress6 { get; init; } = StatusScriptTests.RelayAddress6;

        /// <summary>What the DNS name resolves to on the VPS: its A and AAAA records.</summary>
        public string[] Dns { get; init; } = [RelayAddress, StatusScriptTests.RelayAddress6];
        public bool TableLoaded { get; init; } = true;
    }

    /// <summary>The example stack with its four forwards to the home server (the fake VPS answers on those ports).</summary>
    private static RelaySettings Settings(string? forwards = null) =>
        SettingsCheck.AssertValid(SettingsCheck.ReadWith((SettingKeys.Forwards, forwards ?? Examples.HomeOnlyForwards)));

    /// <summary>The example's four forwards, plus a UDP range passed on to a LAN host.</summary>
    private static RelaySettings WithLanRange() => Settings("""
        [{"protocol":"tcp","port":80},{"protocol":"tcp","port":443},{"protocol":"tcp","port":2222,"targetPort":22,"clientIp":"snat"},
         {"protocol":"udp","port":25565},{"protocol":"udp","port":"27015-27030","targetHost":"192.168.1.30"}]
        """);

    /// <summary>Each forward's counters in the fake table: new connections 10+i, packets 100+i, bytes 1000000+i.</summary>
    private static string NftListing(RelaySettings settings, string what)
    {
        var forwards = settings.Forwards.OrderBy(f => f.Protocol).ThenBy(f => f.Port).ToList();
        var text = new StringBuilder("table inet wgfwd {\n");
        if (what == "map")
        {
            var elements = forwards.Select((f, i) =>
                $"{f.ProtocolName} . {f.Port} counter packets {10 + i} bytes {600 + i} : 0x{ForwardMarks.Of(f):x8}");
            text.Append("\tmap forwards {\n\t\ttype inet_proto . inet_service : mark\n\t\tflags interval\n\t\tcounter\n")
                .Append("\t\telements = { ").AppendJoin(",\n\t\t\t     ", elements).Append(" }\n\t}\n}\n");
        }
        else
        {
            var elements = forwards.Select((f, i) => $"0x{ForwardMarks.Of(f):x8} counter packets {100 + i} bytes {1000000 + i}");
            text.Append("\tset forward_marks {\n\t\ttype mark\n\t\tcounter\n")
                .Append("\t\telements = { ").AppendJoin(", ", elements).Append(" }\n\t}\n}\n");
        }
        return text.ToString();
    }

    private static HostTool.Result Run(RelaySettings settings, StatusFormat format, FakeVps vps)
    {
        var unshare = HostTool.Require("unshare", "util-linux");
        HostTool.RequireRoot("unshare needs root for mount and network namespaces");
        var python = HostTool.Require("python3", "python3");
        var t = settings.Tunnel;
        var fake = Directory.CreateTempSubdirectory("home-relay-status-").FullName;
        try
        {
            using var command = new HostTool.TempFile(HostBundle.StatusCommand(settings, RelayAddress, vps.RelayAddress6, format));
            using var map = new HostTool.TempFile(NftListing(settings, "map"));
            using var set = new HostTool.TempFile(NftListing(settings, "set"));
            var handshake = vps.HandshakeAgo is { } ago ? $"$(( $(date +%s) - {ago} ))" : "0";
            var stubs = new Dictionary<string, string>
            {
                ["wg"] = $$"""
                    case "$2 $3" in
                    "wg0 latest-handshakes") printf 'cHVibGlja2V5\t%s\n' "{{handshake}}" ;;
                    "wg0 endpoints") printf 'cHVibGlja2V5\t%s\n' {{BashScript.Quote(vps.Endpoint)}} ;;
                    "wg0 transfer") printf 'cHVibGlja2V5\t123456\t7890123\n' ;;
                    *) exit 1 ;;
                    esac
                    """,
                ["ip"] = $"""
                    if [ "$*" = "link show dev wg0" ]; then {(vps.TunnelUp ? "echo '5: wg0: <POINTOPOINT,UP,LOWER_UP> mtu 1380'; exit 0" : "echo 'Device \"wg0\" does not exist.' >&2; exit 1")}; fi
                    exec /sbin/ip "$@"
                    """,
                ["nft"] = vps.TableLoaded
                    ? $"""
                        case "$*" in
                        "list map inet wgfwd forwards") cat {map.Path} ;;
                        "list set inet wgfwd forward_marks") cat {set.Path} ;;
                        *) exit 1 ;;
                        esac
                        """
                    : "echo 'Error: No such file or directory' >&2; exit 1",
                // As glibc's getent: ahostsv4 gives the A records, ahosts both families (ahostsv6 is not used).
                ["getent"] = vps.Dns.Length == 0
                    ? "exit 2"
                    : "case \"$1\" in\n"
                      + $"ahostsv4) for a in {string.Join(' ', vps.Dns.Where(a => !a.Contains(':')))}; do printf '%s      STREAM %s\\n%s      DGRAM\\n' \"$a\" \"$2\" \"$a\"; done ;;\n"
                      + $"ahosts) for a in {string.Join(' ', vps.Dns)}; do printf '%s      STREAM %s\\n%s      DGRAM\\n' \"$a\" \"$2\" \"$a\"; done ;;\n"
                      + "*) exit 1 ;;\nesac",
            };
            var setup = new StringBuilder("set -e\n")
                .Append($"mount -t tmpfs tmpfs {fake}\n")
                .Append("ip link set lo up\n");
            if (vps.HomeOn)
            {
                setup.Append($"ip addr add {t.HomeAddress}/32 dev lo\n");
                if (t.HomeAddress6 is { } home6)
                {
                    setup.Append($"ip addr add {home6}/128 dev lo nodad\n");
                }
            }
            foreach (var (name, body) in stubs)
            {
                setup.Append($"cat >{fake}/{name} <<'STUB'\n#!/bin/bash\n{body}\nSTUB\nchmod +x {fake}/{name}\n");
            }
            // Listeners on the home's tunnel addresses (one dual-stack socket per port), until this script ends.
            setup.Append($"{python} -c '{Listener}' {string.Join(' ', vps.Listening)} >{fake}/listening &\n")
                .Append("trap 'kill $!' EXIT\n")
                .Append($"until [ -s {fake}/listening ]; do sleep 0.05; done\n")
                .Append("set +e\n")
                .Append($"PATH={fake}:$PATH /bin/sh -c \"$(cat {command.Path})\"\n");
            using var script = new HostTool.TempFile(setup.ToString());
            return HostTool.Run(unshare, ["--mount", "--net", "--propagation", "private", "/bin/bash", script.Path]);
        }
        finally
        {
            Directory.Delete(fake, recursive: true);
        }
    }

    private const string Listener = """
        import socket, sys, time
        held = []
        for port in sys.argv[1:]:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", int(port)))
            s.listen(64)
            held.append(s)
        print("listening", flush=True)
        time.sleep(120)
        """;

    private static JsonElement Json(HostTool.Result result) => JsonDocument.Parse(result.Stdout).RootElement;

    private static string LastLine(string text) => text.TrimEnd('\n').Split('\n')[^1];

    /// <summary>Each property's JSON kind, for comparing a document's shape with the documented one.</summary>
    private static Dictionary<string, string> Shape(JsonElement element) =>
        element.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind switch
        {
            JsonValueKind.True or JsonValueKind.False => "boolean",
            var kind => kind.ToString().ToLowerInvariant(),
        });

    [SkippableFact]
    public void The_json_document_has_the_documented_fields_with_numbers_as_numbers()
    {
        var result = Run(WithLanRange(), StatusFormat.Json, new FakeVps());
        Assert.True(result.ExitCode == 0, result.Output);
        var json = Json(result);
        Assert.Equal(new Dictionary<string, string>
        {
            ["verdict"] = "string", ["reasons"] = "array", ["checkedAt"] = "string",
            ["relay"] = "object", ["tunnel"] = "object", ["forwards"] = "array",
        }, Shape(json));
        Assert.Equal(new Dictionary<string, string>
        {
            ["address"] = "string", ["address6"] = "string", ["dnsName"] = "string", ["dnsAddresses"] = "array",
            ["dnsAddresses6"] = "array", ["dnsResolvesToRelay"] = "boolean",
        }, Shape(json.GetProperty("relay")));
        Assert.Equal(new Dictionary<string, string>
        {
            ["interface"] = "string", ["up"] = "boolean", ["handshakeAgeSeconds"] = "number", ["homeEndpoint"] = "string",
            ["bytesToHome"] = "number", ["bytesFromHome"] = "number",
        }, Shape(json.GetProperty("tunnel")));
        var forward = new Dictionary<string, string>
        {
            ["protocol"] = "string", ["port"] = "number", ["portLast"] = "number", ["targetPort"] = "number",
            ["targetPortLast"] = "number", ["target"] = "string", ["clientIp"] = "string", ["mark"] = "number",
            ["newConnections"] = "number", ["packets"] = "number", ["bytes"] = "number",
            ["probe"] = "string", ["probe6"] = "string", ["answers"] = "boolean",
        };
        var forwards = json.GetProperty("forwards").EnumerateArray().ToList();
        Assert.Equal(5, forwards.Count);
        Assert.All(forwards.Take(4), f => Assert.Equal(forward, Shape(f)));
        // The LAN host is IPv4 only: never probed over IPv6.
        Assert.Equal(new Dictionary<string, string>(forward) { ["probe6"] = "null" }, Shape(forwards[4]));
        Assert.True(DateTimeOffset.TryParseExact(json.GetProperty("checkedAt").GetString(), "yyyy-MM-ddTHH:mm:ssZ",
            CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _));
    }

    [SkippableFact]
    public void The_json_document_carries_the_tunnel_the_counters_and_the_probes()
    {
        var json = Json(Run(WithLanRange(), StatusFormat.Json, new FakeVps()));
        Assert.Equal("ok", json.GetProperty("verdict").GetString());
        Assert.Equal(0, json.GetProperty("reasons").GetArrayLength());
        var tunnel = json.GetProperty("tunnel");
        Assert.InRange(tunnel.GetProperty("handshakeAgeSeconds").GetInt32(), 12, 20);
        Assert.Equal(7890123, tunnel.GetProperty("bytesToHome").GetInt64());
        Assert.Equal(123456, tunnel.GetProperty("bytesFromHome").GetInt64());
        var forwards = json.GetProperty("forwards").EnumerateArray().ToList();
        var ssh = forwards[2];
        Assert.Equal(("tcp", 2222, 22, "home", "snat", 2222), (ssh.GetProperty("protocol").GetString(), ssh.GetProperty("port").GetInt32(),
            ssh.GetProperty("targetPort").GetInt32(), ssh.GetProperty("target").GetString(), ssh.GetProperty("clientIp").GetString(),
            ssh.GetProperty("mark").GetInt32()));
        Assert.Equal((12L, 102L, 1000002L), (ssh.GetProperty("newConnections").GetInt64(), ssh.GetProperty("packets").GetInt64(), ssh.GetProperty("bytes").GetInt64()));
        Assert.Equal(("answered", "answered"), (ssh.GetProperty("probe").GetString(), ssh.GetProperty("probe6").GetString()));
        var range = forwards[4];
        Assert.Equal((27015, 27030, 27015, 27030, "192.168.1.30", "snat", 65536 + 27015),
            (range.GetProperty("port").GetInt32(), range.GetProperty("portLast").GetInt32(), range.GetProperty("targetPort").GetInt32(),
             range.GetProperty("targetPortLast").GetInt32(), range.GetProperty("target").GetString(), range.GetProperty("clientIp").GetString(),
             range.GetProperty("mark").GetInt32()));
        Assert.Equal(14, range.GetProperty("newConnections").GetInt32());
        Assert.Equal("reached", range.GetProperty("probe").GetString());
    }

    [SkippableFact]
    public void Every_string_in_the_json_is_escaped()
    {
        const string endpoint = "\"quoted\"\\back\u0001slash\r";
        var result = Run(Settings(), StatusFormat.Json, new FakeVps { Endpoint = endpoint });
        Assert.Equal(endpoint, Json(result).GetProperty("tunnel").GetProperty("homeEndpoint").GetString());
    }

    [SkippableFact]
    public void The_text_report_ends_in_ok_and_exits_0_when_everything_answers()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps());
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("ok", LastLine(result.Stdout));
        Assert.Contains("relay     203.0.113.10 2001:db8:5::1; relay.example.com resolves to them (seen from the VPS)\n", result.Stdout);
        Assert.Contains("  tcp/2222         home:22 (snat)", result.Stdout);
        Assert.Empty(result.Stderr);
    }

    [SkippableFact]
    public void A_forward_nothing_listens_on_is_degraded_with_exit_1()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps { Listening = [80, 22] });
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("degraded: tcp/443 refused", LastLine(result.Stdout));
    }

    [SkippableFact]
    public void A_dns_name_that_resolves_elsewhere_too_is_degraded()
    {
        var result = Run(Settings(), StatusFormat.Json, new FakeVps { Dns = ["198.51.100.9", RelayAddress, RelayAddress6] });
        Assert.Equal(1, result.ExitCode);
        var json = Json(result);
        Assert.Equal("degraded", json.GetProperty("verdict").GetString());
        Assert.Equal("relay.example.com resolves to 198.51.100.9 203.0.113.10, not to 203.0.113.10 alone",
            Assert.Single(json.GetProperty("reasons").EnumerateArray()).GetString());
        Assert.False(json.GetProperty("relay").GetProperty("dnsResolvesToRelay").GetBoolean());
    }

    [SkippableFact]
    public void An_aaaa_record_that_is_not_the_relay_is_degraded()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps { Dns = [RelayAddress, "2001:db8:99::1"] });
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("degraded: relay.example.com resolves over IPv6 to 2001:db8:99::1, not to 2001:db8:5::1 alone", LastLine(result.Stdout));
    }

    [SkippableFact]
    public void A_missing_aaaa_record_is_degraded()
    {
        var result = Run(Settings(), StatusFormat.Json, new FakeVps { Dns = [RelayAddress] });
        Assert.Equal(1, result.ExitCode);
        var json = Json(result);
        Assert.Equal("relay.example.com has no AAAA record (seen from the VPS); it should be 2001:db8:5::1",
            Assert.Single(json.GetProperty("reasons").EnumerateArray()).GetString());
        Assert.Equal(RelayAddress6, json.GetProperty("relay").GetProperty("address6").GetString());
        Assert.Equal(0, json.GetProperty("relay").GetProperty("dnsAddresses6").GetArrayLength());
    }

    [SkippableFact]
    public void Without_an_ipv6_front_door_the_a_record_alone_is_ok()
    {
        var result = Run(Settings(), StatusFormat.Json, new FakeVps { RelayAddress6 = null, Dns = [RelayAddress] });
        Assert.True(result.ExitCode == 0, result.Output);
        var relay = Json(result).GetProperty("relay");
        Assert.Equal(JsonValueKind.Null, relay.GetProperty("address6").ValueKind);
        Assert.True(relay.GetProperty("dnsResolvesToRelay").GetBoolean());
    }

    [SkippableFact]
    public void Without_an_ipv6_front_door_an_aaaa_record_is_degraded()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps { RelayAddress6 = null });
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("degraded: relay.example.com has an AAAA record (2001:db8:5::1), but the relay has no IPv6 front door: "
            + "IPv6 visitors go there", LastLine(result.Stdout));
    }

    [SkippableFact]
    public void A_dns_name_that_does_not_resolve_is_degraded()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps { Dns = [] });
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("degraded: relay.example.com does not resolve (seen from the VPS)", LastLine(result.Stdout));
    }

    [SkippableFact]
    public void A_home_that_answers_no_probe_is_down_with_exit_2()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps { HomeOn = false });
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("down: the home server answers no probe", LastLine(result.Stdout));
    }

    [SkippableFact]
    public void An_old_handshake_is_down_and_nothing_is_probed()
    {
        var result = Run(Settings(), StatusFormat.Json, new FakeVps { HandshakeAgo = 500 });
        Assert.Equal(2, result.ExitCode);
        var json = Json(result);
        Assert.StartsWith("no WireGuard handshake with the home server for ", Assert.Single(json.GetProperty("reasons").EnumerateArray()).GetString());
        Assert.All(json.GetProperty("forwards").EnumerateArray(), f => Assert.Equal(JsonValueKind.Null, f.GetProperty("probe").ValueKind));
    }

    [SkippableFact]
    public void A_missing_tunnel_is_down_with_nulls_where_nothing_could_be_read()
    {
        var result = Run(Settings(), StatusFormat.Json, new FakeVps { TunnelUp = false, TableLoaded = false });
        Assert.Equal(2, result.ExitCode);
        var json = Json(result);
        Assert.Equal("down", json.GetProperty("verdict").GetString());
        Assert.Equal("the tunnel interface wg0 is not up on the VPS", Assert.Single(json.GetProperty("reasons").EnumerateArray()).GetString());
        var tunnel = json.GetProperty("tunnel");
        Assert.False(tunnel.GetProperty("up").GetBoolean());
        Assert.All(new[] { "handshakeAgeSeconds", "homeEndpoint", "bytesToHome", "bytesFromHome" },
            name => Assert.Equal(JsonValueKind.Null, tunnel.GetProperty(name).ValueKind));
        Assert.All(json.GetProperty("forwards").EnumerateArray(), f =>
        {
            Assert.Equal(JsonValueKind.Null, f.GetProperty("newConnections").ValueKind);
            Assert.Equal(JsonValueKind.Null, f.GetProperty("packets").ValueKind);
            Assert.False(f.GetProperty("answers").GetBoolean());
        });
    }

    [SkippableFact]
    public void No_handshake_yet_is_down()
    {
        var result = Run(Settings(), StatusFormat.Text, new FakeVps { HandshakeAgo = null });
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("down: no WireGuard handshake with the home server since the tunnel came up", LastLine(result.Stdout));
    }

    [Fact]
    public void The_status_script_needs_no_key_and_carries_the_forwards_and_their_marks()
    {
        var script = HostScripts.Status(Settings(), RelayAddress, RelayAddress6, StatusFormat.Json);
        Assert.Contains("readonly FORWARDS=(tcp/80/80/home tcp/443/443/home tcp/2222/22/home-snat udp/25565/25565/home)\n", script);
        Assert.Contains("readonly FORWARD_MARKS=(80 443 2222 91101)\n", script);
        Assert.Contains("readonly OUTPUT=json\n", script);
        Assert.All(Examples.SecretStrings().Append(Examples.VpsSecrets.KeyPair.PublicKeyBase64), s => Assert.DoesNotContain(s, script));
    }

    [Fact]
    public void The_relay_address_must_be_ipv4()
    {
        var e = Assert.Throws<ArgumentException>(() => HostScripts.Status(Settings(), "2001:db8::1", null, StatusFormat.Text));
        Assert.Contains("not an IPv4 address", e.Message);
    }

    [Fact]
    public void The_relay_ipv6_address_must_be_ipv6()
    {
        var e = Assert.Throws<ArgumentException>(() => HostScripts.Status(Settings(), RelayAddress, RelayAddress, StatusFormat.Text));
        Assert.Contains("not an IPv6 address", e.Message);
    }
}
