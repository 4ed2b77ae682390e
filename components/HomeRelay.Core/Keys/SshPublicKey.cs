using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace HomeRelay.Core.Keys;

/// <summary>An OpenSSH public key line, <c>ssh-ed25519 AAAA... [comment]</c>, checked down to its wire encoding.</summary>
public sealed record SshPublicKey(string Algorithm, string Base64Blob)
{
    private static readonly string[] Algorithms =
    [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ];

    /// <summary>The line without a comment, as known_hosts and <c>ConnectionArgs.HostKey</c> take it.</summary>
    public override string ToString() => $"{Algorithm} {Base64Blob}";

    public static bool TryParse(string line, [NotNullWhen(true)] out SshPublicKey? key)
    {
        key = null;
        var parts = line.Trim().Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || !Algorithms.Contains(parts[0]))
        {
            return false;
        }
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[1]);
        }
        catch (FormatException)
        {
            return false;
        }
        // The blob starts with the algorithm name again (RFC 4253 string); a mismatch means a pasted fragment.
        if (blob.Length < 4)
        {
            return false;
        }
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(blob);
        if (nameLength > blob.Length - 4 || Encoding.ASCII.GetString(blob, 4, (int)nameLength) != parts[0])
        {
            return false;
        }
        key = new SshPublicKey(parts[0], parts[1]);
        return true;
    }

    public static SshPublicKey Parse(string line) =>
        TryParse(line, out var key) ? key : throw new FormatException("Not an OpenSSH public key line ('ssh-ed25519 AAAA...').");
}
