using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace HomeRelay.Core.Keys;

/// <summary>
/// An ed25519 SSH key made from a 32-byte seed, written in the OpenSSH private key format. Used for the VPS host
/// key: the program makes it, cloud-init plants it, and every remote command pins its public half.
/// The private half is reachable only through <see cref="ToOpenSshPrivateKey"/>.
/// </summary>
public sealed class SshEd25519Key
{
    private const string KeyType = "ssh-ed25519";
    private readonly byte[] seed;
    private readonly byte[] publicKey;

    private SshEd25519Key(byte[] seed)
    {
        this.seed = seed;
        using var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey);
        publicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    public static SshEd25519Key FromSeed(ReadOnlySpan<byte> seed) => seed.Length == 32
        ? new SshEd25519Key(seed.ToArray())
        : throw new ArgumentException($"An ed25519 seed is 32 bytes, got {seed.Length}.", nameof(seed));

    public static SshEd25519Key Generate() => new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary><c>ssh-ed25519 AAAA...</c>, as in known_hosts or authorized_keys (no comment).</summary>
    public SshPublicKey PublicKey => new(KeyType, Convert.ToBase64String(PublicBlob()));

    /// <summary>
    /// The private key file as <c>ssh-keygen</c> writes it (unencrypted). Deterministic: the check integers are
    /// derived from the public key, so the same seed renders the same bytes and cloud-init user data never churns.
    /// Secret.
    /// </summary>
    public string ToOpenSshPrivateKey(string comment = "home-relay")
    {
        var checkInt = BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(publicKey));
        var section = new SshWriter();
        section.UInt32(checkInt);
        section.UInt32(checkInt);
        section.String(KeyType);
        section.String(publicKey);
        section.String([.. seed, .. publicKey]);
        section.String(comment);
        for (byte pad = 1; section.Length % 8 != 0; pad++)
        {
            section.Byte(pad);
        }

        var file = new SshWriter();
        file.Raw(Encoding.ASCII.GetBytes("openssh-key-v1\0"));
        file.String("none");
        file.String("none");
        file.String([]);
        file.UInt32(1);
        file.String(PublicBlob());
        file.String(section.ToArray());

        var body = Convert.ToBase64String(file.ToArray());
        var lines = Enumerable.Range(0, (body.Length + 69) / 70).Select(i => body.Substring(i * 70, Math.Min(70, body.Length - (i * 70))));
        // The final newline matters: without it OpenSSH reports "error in libcrypto".
        return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + string.Join("\n", lines) + "\n-----END OPENSSH PRIVATE KEY-----\n";
    }

    private byte[] PublicBlob()
    {
        var blob = new SshWriter();
        blob.String(KeyType);
        blob.String(publicKey);
        return blob.ToArray();
    }

    public override string ToString() => $"SshEd25519Key(public {PublicKey})";
}

/// <summary>Reads the public half out of an OpenSSH private key file without touching the private half.</summary>
public static class OpenSshPrivateKey
{
    /// <summary>
    /// The public key of an unencrypted <c>-----BEGIN OPENSSH PRIVATE KEY-----</c> file. Messages never quote the file.
    /// </summary>
    public static SshPublicKey PublicKeyOf(string privateKeyFile)
    {
        const string begin = "-----BEGIN OPENSSH PRIVATE KEY-----", end = "-----END OPENSSH PRIVATE KEY-----";
        var text = privateKeyFile.Replace("\r", "");
        var from = text.IndexOf(begin, StringComparison.Ordinal);
        var to = text.IndexOf(end, StringComparison.Ordinal);
        if (from < 0 || to < from)
        {
            throw new FormatException(
                "The SSH private key is not in OpenSSH format (-----BEGIN OPENSSH PRIVATE KEY-----); convert it with: ssh-keygen -p -f <file>");
        }
        byte[] data;
        try
        {
            data = Convert.FromBase64String(string.Concat(text[(from + begin.Length)..to].Where(c => !char.IsWhiteSpace(c))));
        }
        catch (FormatException)
        {
            throw new FormatException("The SSH private key file is damaged (its body is not base64).");
        }
        var reader = new SshReader(data);
        if (!reader.Magic("openssh-key-v1\0"u8))
        {
            throw new FormatException("The SSH private key file is damaged (no openssh-key-v1 header).");
        }
        var cipher = Encoding.ASCII.GetString(reader.String());
        if (cipher != "none")
        {
            throw new FormatException(
                "The SSH private key has a passphrase; pulumi cannot type it. Use a key without one for this stack (ssh-keygen -t ed25519 -N '' -f <file>).");
        }
        reader.String(); // kdf name
        reader.String(); // kdf options
        if (reader.UInt32() != 1)
        {
            throw new FormatException("The SSH private key file holds more than one key; use a file with one.");
        }
        var blob = reader.String();
        var type = Encoding.ASCII.GetString(new SshReader(blob).String());
        return new SshPublicKey(type, Convert.ToBase64String(blob));
    }
}

internal sealed class SshWriter
{
    private readonly MemoryStream stream = new();

    public long Length => stream.Length;

    public void Byte(byte value) => stream.WriteByte(value);

    public void Raw(ReadOnlySpan<byte> bytes) => stream.Write(bytes);

    public void UInt32(uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, value);
        stream.Write(buffer);
    }

    public void String(ReadOnlySpan<byte> bytes)
    {
        UInt32((uint)bytes.Length);
        stream.Write(bytes);
    }

    public void String(string ascii) => String(Encoding.ASCII.GetBytes(ascii));

    public byte[] ToArray() => stream.ToArray();
}

internal sealed class SshReader(byte[] data)
{
    public const string Truncated = "The SSH key data is truncated.";

    private int position;

    public int Remaining => data.Length - position;

    public bool Magic(ReadOnlySpan<byte> magic)
    {
        if (data.Length < magic.Length || !data.AsSpan(0, magic.Length).SequenceEqual(magic))
        {
            return false;
        }
        position = magic.Length;
        return true;
    }

    public uint UInt32()
    {
        if (position + 4 > data.Length)
        {
            throw new FormatException(Truncated);
        }
        var value = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(position));
        position += 4;
        return value;
    }

    public byte[] String()
    {
        var length = UInt32();
        if (length > data.Length - position)
        {
            throw new FormatException(Truncated);
        }
        var value = data.AsSpan(position, (int)length).ToArray();
        position += (int)length;
        return value;
    }
}
