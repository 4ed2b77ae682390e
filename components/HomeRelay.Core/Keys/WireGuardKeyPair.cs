using NSec.Cryptography;

namespace HomeRelay.Core.Keys;

/// <summary>
/// A WireGuard (Curve25519) key pair. The private half is reachable only through <see cref="PrivateKeyBase64"/>,
/// so that neither <c>ToString()</c>, a debugger display nor an exception can carry it by accident.
/// </summary>
public sealed class WireGuardKeyPair
{
    public const int KeyLength = 32;

    private readonly byte[] privateKey;

    private WireGuardKeyPair(byte[] clampedPrivateKey)
    {
        privateKey = clampedPrivateKey;
        using var key = Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey);
        PublicKeyBase64 = Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    /// <summary>The public key as <c>wg pubkey</c> prints it.</summary>
    public string PublicKeyBase64 { get; }

    /// <summary>The private key as <c>wg genkey</c> prints it. Secret: only for a 0600 file or a Pulumi secret.</summary>
    public string PrivateKeyBase64 => Convert.ToBase64String(privateKey);

    /// <summary>A key pair from 32 random bytes (e.g. Pulumi state), clamped exactly as <c>wg genkey</c> does.</summary>
    public static WireGuardKeyPair FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != KeyLength)
        {
            throw new ArgumentException($"A WireGuard key needs {KeyLength} bytes, got {seed.Length}.", nameof(seed));
        }
        return new WireGuardKeyPair(Clamp(seed));
    }

    /// <summary>A key pair from a base64 private key (as <c>wg genkey</c> prints).</summary>
    public static WireGuardKeyPair FromPrivateKeyBase64(string privateKeyBase64) =>
        FromSeed(DecodeKey(privateKeyBase64, "private key"));

    public static WireGuardKeyPair Generate() => FromSeed(System.Security.Cryptography.RandomNumberGenerator.GetBytes(KeyLength));

    /// <summary>Curve25519 clamping: clear the low three bits and the top bit, set the second-highest bit.</summary>
    internal static byte[] Clamp(ReadOnlySpan<byte> seed)
    {
        var key = seed.ToArray();
        key[0] &= 248;
        key[31] &= 127;
        key[31] |= 64;
        return key;
    }

    /// <summary>Decodes a 32-byte base64 key; the message never repeats the (possibly secret) input.</summary>
    internal static byte[] DecodeKey(string base64, string what)
    {
        var buffer = new byte[KeyLength + 3];
        if (!Convert.TryFromBase64String(base64.Trim(), buffer, out var written) || written != KeyLength)
        {
            throw new FormatException($"The WireGuard {what} is not 32 bytes of base64 (44 characters ending in '=').");
        }
        return buffer[..KeyLength];
    }

    public override string ToString() => $"WireGuardKeyPair(public {PublicKeyBase64})";
}

/// <summary>A WireGuard preshared key: 32 random bytes that add a symmetric, post-quantum layer to one peer pair.</summary>
public sealed class PresharedKey
{
    private readonly byte[] key;

    private PresharedKey(byte[] key) => this.key = key;

    /// <summary>Secret: only for a 0600 file or a Pulumi secret.</summary>
    public string Base64 => Convert.ToBase64String(key);

    public static PresharedKey FromBytes(ReadOnlySpan<byte> bytes) => bytes.Length == WireGuardKeyPair.KeyLength
        ? new PresharedKey(bytes.ToArray())
        : throw new ArgumentException($"A preshared key needs {WireGuardKeyPair.KeyLength} bytes, got {bytes.Length}.", nameof(bytes));

    public static PresharedKey FromBase64(string base64) => new(WireGuardKeyPair.DecodeKey(base64, "preshared key"));

    public static PresharedKey Generate() => new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(WireGuardKeyPair.KeyLength));

    public override string ToString() => "PresharedKey(redacted)";
}
