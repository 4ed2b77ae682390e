using HomeRelay.Core.Hosts;
using HomeRelay.Core.Net;
using HomeRelay.Core.Settings;

namespace HomeRelay.Cli;

/// <summary>
/// <c>validate --stack FILE</c>, <c>render --stack FILE --state DIR --vps-address IP [--home-host HOST] [--home-user USER] --out DIR</c>
/// and <c>status --stack FILE --vps-address IP [--vps-address6 IP] [--json]</c> (prints the remote command of
/// <c>./relay status</c>).
/// <c>--home-host</c> and <c>--home-user</c> replace those settings of the file (the lab's home is not the stack's) and
/// are checked like them. Exit codes: 0 done, 2 the settings are invalid (nothing written), 64 wrong usage.
/// </summary>
public static class CommandLine
{
    public const int InvalidSettings = 2;
    public const int Usage = 64;

    private const string Help = """
        usage: home-relay-render validate --stack Pulumi.<stack>.yaml [--home-host HOST] [--home-user USER]
               home-relay-render render --stack Pulumi.<stack>.yaml --state DIR --vps-address IP [--home-host HOST] [--home-user USER] --out DIR
               home-relay-render status --stack Pulumi.<stack>.yaml --vps-address IP [--vps-address6 IP] [--json]
        """;

    /// <summary>The options each command takes; any other is a usage error (a typo would otherwise be ignored).</summary>
    private static readonly Dictionary<string, string[]> Options = new(StringComparer.Ordinal)
    {
        ["validate"] = ["stack", "home-host", "home-user"],
        ["render"] = ["stack", "state", "vps-address", "home-host", "home-user", "out"],
        ["status"] = ["stack", "vps-address", "vps-address6", "json"],
    };

    /// <summary>Options that take no value.</summary>
    private static readonly HashSet<string> Flags = new(StringComparer.Ordinal) { "json" };

    /// <summary>Options that replace a setting of the stack file.</summary>
    private static readonly Dictionary<string, string> Overrides = new(StringComparer.Ordinal)
    {
        ["home-host"] = SettingKeys.HomeHost,
        ["home-user"] = SettingKeys.HomeUser,
    };

    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            stdout.WriteLine(Help);
            return Task.FromResult(args.Length == 0 ? Usage : 0);
        }
        if (!Options.TryGetValue(args[0], out var known))
        {
            return Task.FromResult(UsageError($"unknown command '{args[0]}'", stderr));
        }
        if (!TryParseOptions(args.Skip(1), known, out var options, out var usageError))
        {
            return Task.FromResult(UsageError(usageError, stderr));
        }
        try
        {
            return Task.FromResult(args[0] switch
            {
                "validate" => Validate(options, stdout, stderr),
                "render" => Render(options, stdout, stderr),
                "status" => Status(options, stdout, stderr),
                _ => UsageError($"unknown command '{args[0]}'", stderr),
            });
        }
        catch (Exception e) when (e is FormatException or IOException or OptionMissingException)
        {
            stderr.WriteLine($"home-relay-render: {e.Message}");
            return Task.FromResult(e is OptionMissingException ? Usage : 1);
        }
    }

    private static int Validate(Dictionary<string, string> options, TextWriter stdout, TextWriter stderr)
    {
        var result = Load(options, stderr, out var stackPath);
        if (result.Settings is null)
        {
            return InvalidSettings;
        }
        stdout.WriteLine($"{stackPath}: settings are valid ({result.Settings.Forwards.Length} forward(s): {string.Join(", ", result.Settings.Forwards)})");
        return 0;
    }

    private static int Render(Dictionary<string, string> options, TextWriter stdout, TextWriter stderr)
    {
        var result = Load(options, stderr, out _);
        if (result.Settings is null)
        {
            return InvalidSettings;
        }
        var keys = LabKeyStore.LoadOrCreate(Require(options, "state"), result.Settings.KeyRotation);
        var plan = new RelayPlan(result.Settings, keys.Vps.KeyPair.PublicKeyBase64, keys.Home.KeyPair.PublicKeyBase64,
            Require(options, "vps-address"));
        var output = new RenderedOutput(Require(options, "out"));
        output.WriteHost("vps", HostBundle.Vps(plan), keys.Vps, HostBundle.CheckCommand(plan));
        output.WriteHost("home", HostBundle.Home(plan), keys.Home, checkCommand: null);
        output.WriteSecret("cloud-init.yaml", CloudInit.Render(keys.VpsHostKey));
        output.WritePublic("vps-host-key.pub", keys.VpsHostKey.PublicKey + "\n");
        stdout.WriteLine($"rendered {result.Settings.Forwards.Length} forward(s) into {output.Root}");
        return 0;
    }

    /// <summary>The status command for the VPS, on stdout: what <c>./relay status</c> sends and the lab runs.</summary>
    private static int Status(Dictionary<string, string> options, TextWriter stdout, TextWriter stderr)
    {
        var result = Load(options, stderr, out _);
        if (result.Settings is null)
        {
            return InvalidSettings;
        }
        var address = Require(options, "vps-address");
        if (!IpAddressText.TryParseIpv4(address, out _))
        {
            return UsageError($"--vps-address: '{address}' is not an IPv4 address (the stack's ipv4Address output)", stderr);
        }
        // Absent when the relay has no IPv6 front door (the stack's ipv6Address output is empty).
        var address6 = options.GetValueOrDefault("vps-address6");
        if (address6 is not null && !IpAddressText.TryParseIpv6(address6, out _))
        {
            return UsageError($"--vps-address6: '{address6}' is not an IPv6 address (the stack's ipv6Address output)", stderr);
        }
        stdout.Write(HostBundle.StatusCommand(result.Settings, address, address6, options.ContainsKey("json") ? StatusFormat.Json : StatusFormat.Text));
        return 0;
    }

    /// <summary>Reads and validates the stack file, applying the lab's overrides; prints every problem.</summary>
    private static SettingsReader.Result Load(Dictionary<string, string> options, TextWriter stderr, out string stackPath)
    {
        stackPath = options.GetValueOrDefault("stack") ?? "Pulumi.dev.yaml";
        var stack = StackFile.Load(stackPath);
        var result = stack.Read(Overrides
            .Where(o => options.ContainsKey(o.Key))
            .ToDictionary(o => o.Value, o => options[o.Key], StringComparer.Ordinal));
        foreach (var problem in result.Problems)
        {
            stderr.WriteLine(problem);
        }
        return result;
    }

    private static bool TryParseOptions(IEnumerable<string> args, string[] known, out Dictionary<string, string> options,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        options = new Dictionary<string, string>(StringComparer.Ordinal);
        error = null;
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            var name = e.Current;
            if (name.StartsWith("--", StringComparison.Ordinal) && known.Contains(name[2..]) && Flags.Contains(name[2..]))
            {
                options[name[2..]] = "yes";
                continue;
            }
            if (!name.StartsWith("--", StringComparison.Ordinal) || !e.MoveNext())
            {
                error = $"expected --option value, got '{name}'";
                return false;
            }
            if (!known.Contains(name[2..]))
            {
                error = $"unknown option '{name}'; this command takes {string.Join(", ", known.Select(k => "--" + k))}";
                return false;
            }
            options[name[2..]] = e.Current;
        }
        return true;
    }

    private static string Require(Dictionary<string, string> options, string name) =>
        options.GetValueOrDefault(name) ?? throw new OptionMissingException($"--{name} is required");

    private static int UsageError(string message, TextWriter stderr)
    {
        stderr.WriteLine($"home-relay-render: {message}\n{Help}");
        return Usage;
    }

    private sealed class OptionMissingException(string message) : Exception(message);
}
