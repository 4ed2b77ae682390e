using HomeRelay.Core.Hosts;
using HomeRelay.Core.Keys;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Tests.Support;

/// <summary>The example stack and fixed keys, so rendered bytes are the same on every run.</summary>
internal static class Examples
{
    public const string VpsEndpoint = "203.0.113.10";

    /// <summary>The relay's public IPv6 (its primary IPv6 network's first address), as the lab's VPS has it.</summary>
    public const string VpsAddress6 = "2001:db8:5::1";

    public static string RepoRoot { get; } = FindRoot();

    public static string DevStackPath => Path.Combine(RepoRoot, "Pulumi.dev.yaml");

    public static RelaySettings DevSettings() => StackFile.Load(DevStackPath).Read().SettingsOrThrow();

    /// <summary>Fixed, obviously fake key material: seeds 0x01.., 0x21.., 0x41.., 0x61...</summary>
    public static PeerSecrets VpsSecrets { get; } = new(WireGuardKeyPair.FromSeed(Seed(0x01)), PresharedKey.FromBytes(Seed(0x41)));
    public static PeerSecrets HomeSecrets { get; } = new(WireGuardKeyPair.FromSeed(Seed(0x21)), PresharedKey.FromBytes(Seed(0x41)));
    public static SshEd25519Key VpsHostKey { get; } = SshEd25519Key.FromSeed(Seed(0x61));

    public static RelayPlan Plan(RelaySettings? settings = null) => new(settings ?? DevSettings(),
        VpsSecrets.KeyPair.PublicKeyBase64, HomeSecrets.KeyPair.PublicKeyBase64, VpsEndpoint);

    /// <summary>Every secret the example renders with, as the strings that must never leak.</summary>
    public static IEnumerable<string> SecretStrings() =>
    [
        VpsSecrets.KeyPair.PrivateKeyBase64, HomeSecrets.KeyPair.PrivateKeyBase64, VpsSecrets.PresharedKey.Base64,
        .. VpsHostKey.ToOpenSshPrivateKey().Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----")),
    ];

    /// <summary>Forwards to the home server only (the example's first four): for tests that vary homeLan, which the
    /// example's LAN target needs.</summary>
    public const string HomeOnlyForwards = """
        [{"protocol":"tcp","port":80},{"protocol":"tcp","port":443},{"protocol":"tcp","port":2222,"targetPort":22,"clientIp":"snat"},{"protocol":"udp","port":25565}]
        """;

    public static byte[] Seed(byte first) => [.. Enumerable.Range(0, 32).Select(i => (byte)(first + i))];

    /// <summary>A settings lookup: the example stack with some keys replaced (null removes a key).</summary>
    public static Func<string, string?> DevWith(params (string Key, string? Value)[] changes)
    {
        var stack = StackFile.Load(DevStackPath);
        var overrides = changes.ToDictionary(c => c.Key, c => c.Value);
        return key => overrides.TryGetValue(key, out var value) ? value : stack.Get(key);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pulumi.yaml")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Cannot find the repository root (Pulumi.yaml) above the test binaries.");
    }
}
