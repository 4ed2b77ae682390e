using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace HomeRelay.Core.Keys;

/// <summary>
/// An OpenSSH public key line, <c>ssh-ed25519 AAAA... [comment]</c>. Parsing decodes the base64 blob field by field
/// (RFC 4253 strings): the algorithm name inside it must match the line's, each field of that algorithm must be there
/// with a plausible size, and nothing may follow the last one. Whether the key is a valid point or modulus is left to ssh.
/// </summary>
public sealed record SshPublicKey(string Algorithm, string Base64Blob)
{
    /// <summary>OpenSSH refuses RSA keys with a smaller modulus (SSH_RSA_MINIMUM_MODULUS_SIZE) or a larger one.</summary>
    private const int RsaMinimumBits = 1024, RsaMaximumBits = 16384;

    /// <summary>The accepted algorithms and how each one's fields after the name are checked.</summary>
    private static readonly Dictionary<string, Action<SshReader>> Algorithms = new(StringComparer.Ordinal)
    {
        ["ssh-ed25519"] = Ed25519,
        ["ssh-rsa"] = Rsa,
        ["ecdsa-sha2-nistp256"] = b => Ecdsa(b, "nistp256", 32),
        ["ecdsa-sha2-nistp384"] = b => Ecdsa(b, "nistp384", 48),
        ["ecdsa-sha2-nistp521"] = b => Ecdsa(b, "nistp521", 66),
        ["sk-ssh-ed25519@openssh.com"] = b => { Ed25519(b); Application(b); },
        ["sk-ecdsa-sha2-nistp256@openssh.com"] = b => { Ecdsa(b, "nistp256", 32); Application(b); },
    };

    /// <summary>The line without a comment, as known_hosts and <c>ConnectionArgs.HostKey</c> take it.</summary>
    public override string ToString() => $"{Algorithm} {Base64Blob}";

    public static bool TryParse(string line, [NotNullWhen(true)] out SshPublicKey? key) => TryParse(line, out key, out _);

    /// <summary>As <see cref="TryParse(string, out SshPublicKey?)"/>; <paramref name="error"/> says what is wrong with the line.</summary>
    public static bool TryParse(string line, [NotNullWhen(true)] out SshPublicKey? key, [NotNullWhen(false)] out string? error)
    {
        key = null;
        var parts = line.Trim().Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
        {
            error = "is not an OpenSSH public key line ('<type> AAAA... [comment]')";
            return false;
        }
        if (!Algorithms.TryGetValue(parts[0], out var checkFields))
        {
            error = $"'{parts[0]}' is not a key type home-relay accepts ({string.Join(", ", Algorithms.Keys)})";
            return false;
        }
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[1]);
        }
        catch (FormatException)
        {
            error = "its key data (after the type) is not base64";
            return false;
        }
        error = Check(parts[0], new SshReader(blob), checkFields);
        if (error is not null)
        {
            return false;
        }
        key = new SshPublicKey(parts[0], parts[1]);
        return true;
    }

    public static SshPublicKey Parse(string line) =>
        TryParse(line, out var key, out var error)
            ? key
            : throw new FormatException($"Not an OpenSSH public key line ('ssh-ed25519 AAAA...'): {error}.");

    private static string? Check(string algorithm, SshReader blob, Action<SshReader> checkFields)
    {
        try
        {
            var name = Encoding.ASCII.GetString(blob.String());
            if (name != algorithm)
            {
                return $"its key data is for '{name}', not '{algorithm}' as the line says";
            }
            checkFields(blob);
            return blob.Remaining == 0 ? null : $"its key data has {blob.Remaining} byte(s) after the key";
        }
        catch (FormatException e) when (e.Message == SshReader.Truncated)
        {
            return $"its key data ends before the {algorithm} key does (truncated?)";
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    private static void Ed25519(SshReader blob)
    {
        var key = blob.String();
        if (key.Length != 32)
        {
            throw new FormatException($"its ed25519 key is {key.Length} bytes, not 32");
        }
    }

    /// <summary>The exponent and the modulus, positive mpints; the modulus within OpenSSH's sizes.</summary>
    private static void Rsa(SshReader blob)
    {
        var exponent = blob.String();
        var modulus = blob.String();
        if (!IsPositive(exponent))
        {
            throw new FormatException("its RSA exponent is not a positive number");
        }
        var bits = IsPositive(modulus) ? BitLength(modulus) : 0;
        if (bits is < RsaMinimumBits or > RsaMaximumBits)
        {
            throw new FormatException($"its RSA modulus has {bits} bits; OpenSSH accepts {RsaMinimumBits} to {RsaMaximumBits}");
        }
    }

    /// <summary>The curve's name again, then the public point, uncompressed: 0x04, X, Y.</summary>
    private static void Ecdsa(SshReader blob, string curve, int coordinateLength)
    {
        var named = Encoding.ASCII.GetString(blob.String());
        if (named != curve)
        {
            throw new FormatException($"its key data names the curve '{named}', not {curve}");
        }
        var point = blob.String();
        var expected = 1 + (2 * coordinateLength);
        if (point.Length != expected || point[0] != 0x04)
        {
            throw new FormatException($"its {curve} point is {point.Length} bytes, not {expected} bytes starting with 0x04");
        }
    }

    /// <summary>Security keys (sk-*) end with the FIDO application string, usually "ssh:".</summary>
    private static void Application(SshReader blob) => blob.String();

    private static bool IsPositive(byte[] mpint) => mpint.Length > 0 && mpint[0] < 0x80 && mpint.Any(b => b != 0);

    private static int BitLength(byte[] mpint)
    {
        var first = Array.FindIndex(mpint, b => b != 0);
        return ((mpint.Length - first - 1) * 8) + (32 - System.Numerics.BitOperations.LeadingZeroCount((uint)mpint[first]));
    }
}
