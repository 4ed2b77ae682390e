using System.Text.Json;
using HomeRelay.Core.Hosts;
using HomeRelay.Core.Keys;

namespace HomeRelay.Cli;

/// <summary>
/// The render command's stand-in for Pulumi state: the keys, kept in one 0600 file so that renders are stable
/// from run to run, and made anew (WireGuard keys only) when the stack's <c>keyRotation</c> changes.
/// </summary>
internal sealed record LabKeyStore(PeerSecrets Vps, PeerSecrets Home, SshEd25519Key VpsHostKey)
{
    private sealed record Stored(string Rotation, string VpsPrivateKey, string HomePrivateKey, string PresharedKey, string VpsHostKeySeed);

    public static LabKeyStore LoadOrCreate(string directory, string rotation)
    {
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Path.Combine(directory, "keys.json");
        var stored = File.Exists(path) ? JsonSerializer.Deserialize<Stored>(File.ReadAllText(path)) : null;
        if (stored is null || stored.Rotation != rotation)
        {
            stored = new Stored(rotation,
                WireGuardKeyPair.Generate().PrivateKeyBase64,
                WireGuardKeyPair.Generate().PrivateKeyBase64,
                PresharedKey.Generate().Base64,
                stored?.VpsHostKeySeed ?? Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            RenderedOutput.WriteAllTextSecret(path, JsonSerializer.Serialize(stored));
        }
        var psk = PresharedKey.FromBase64(stored.PresharedKey);
        return new LabKeyStore(
            new PeerSecrets(WireGuardKeyPair.FromPrivateKeyBase64(stored.VpsPrivateKey), psk),
            new PeerSecrets(WireGuardKeyPair.FromPrivateKeyBase64(stored.HomePrivateKey), psk),
            SshEd25519Key.FromSeed(Convert.FromBase64String(stored.VpsHostKeySeed)));
    }
}
