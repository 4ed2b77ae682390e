using HomeRelay.Core.Hosts;
using HomeRelay.Core.Keys;
using HomeRelay.Core.Tests.Support;

namespace HomeRelay.Core.Tests;

public sealed class KeyTests
{
    [SkippableFact]
    public void Public_keys_equal_what_wg_pubkey_prints()
    {
        var wg = HostTool.Require("wg", "wireguard-tools");
        for (var i = 0; i < 20; i++)
        {
            var pair = WireGuardKeyPair.Generate();
            var result = HostTool.Run(wg, ["pubkey"], pair.PrivateKeyBase64 + "\n");
            Assert.Equal(0, result.ExitCode);
            Assert.Equal(pair.PublicKeyBase64, result.Stdout.Trim());
        }
    }

    [SkippableFact]
    public void Keys_from_wg_genkey_round_trip_unchanged_and_derive_the_same_public_key()
    {
        var wg = HostTool.Require("wg", "wireguard-tools");
        var generated = HostTool.Run(wg, ["genkey"]).Stdout.Trim();
        var pair = WireGuardKeyPair.FromPrivateKeyBase64(generated);
        Assert.Equal(generated, pair.PrivateKeyBase64);
        Assert.Equal(HostTool.Run(wg, ["pubkey"], generated + "\n").Stdout.Trim(), pair.PublicKeyBase64);
    }

    [Fact]
    public void Seeds_are_clamped_as_wg_genkey_clamps()
    {
        var pair = WireGuardKeyPair.FromSeed(Enumerable.Repeat((byte)0xFF, 32).ToArray());
        var key = Convert.FromBase64String(pair.PrivateKeyBase64);
        Assert.Equal(0xF8, key[0]);
        Assert.Equal(0x7F, key[31]);
        var low = Convert.FromBase64String(WireGuardKeyPair.FromSeed(new byte[32]).PrivateKeyBase64);
        Assert.Equal(0x40, low[31]);
    }

    [SkippableFact]
    public void Clamping_does_not_change_the_public_key_wg_derives_from_the_raw_seed()
    {
        var wg = HostTool.Require("wg", "wireguard-tools");
        var seed = Examples.Seed(0xF0);
        var pair = WireGuardKeyPair.FromSeed(seed);
        // wg pubkey clamps internally, so the unclamped seed must give the same public key.
        Assert.Equal(pair.PublicKeyBase64, HostTool.Run(wg, ["pubkey"], Convert.ToBase64String(seed) + "\n").Stdout.Trim());
    }

    [Fact]
    public void The_same_seed_gives_the_same_keys()
    {
        Assert.Equal(WireGuardKeyPair.FromSeed(Examples.Seed(7)).PublicKeyBase64, WireGuardKeyPair.FromSeed(Examples.Seed(7)).PublicKeyBase64);
        Assert.NotEqual(WireGuardKeyPair.FromSeed(Examples.Seed(7)).PublicKeyBase64, WireGuardKeyPair.FromSeed(Examples.Seed(8)).PublicKeyBase64);
    }

    [Fact]
    public void No_secret_shows_in_ToString()
    {
        var pair = Examples.VpsSecrets.KeyPair;
        Assert.DoesNotContain(pair.PrivateKeyBase64, pair.ToString());
        Assert.Contains(pair.PublicKeyBase64, pair.ToString());
        Assert.DoesNotContain(Examples.VpsSecrets.PresharedKey.Base64, Examples.VpsSecrets.PresharedKey.ToString());
        Assert.DoesNotContain(pair.PrivateKeyBase64, Examples.VpsSecrets.ToString());
        Assert.DoesNotContain(Examples.VpsHostKey.ToOpenSshPrivateKey().Split('\n')[1], Examples.VpsHostKey.ToString());
    }

    [Fact]
    public void A_malformed_key_is_refused_without_repeating_it()
    {
        const string almostSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw";
        var e = Assert.Throws<FormatException>(() => WireGuardKeyPair.FromPrivateKeyBase64(almostSecret));
        Assert.DoesNotContain(almostSecret, e.Message);
        var p = Assert.Throws<FormatException>(() => PresharedKey.FromBase64(almostSecret + "AAAA"));
        Assert.DoesNotContain(almostSecret, p.Message);
        Assert.Throws<ArgumentException>(() => WireGuardKeyPair.FromSeed(new byte[31]));
    }

    [Fact]
    public void The_stdin_payload_holds_exactly_the_two_secrets()
    {
        var stdin = Examples.HomeSecrets.ToStdin();
        Assert.Equal(
            $"private_key {Examples.HomeSecrets.KeyPair.PrivateKeyBase64}\npreshared_key {Examples.HomeSecrets.PresharedKey.Base64}\n",
            stdin);
    }

    [Fact]
    public void Both_peers_share_one_preshared_key_in_the_example() =>
        Assert.Equal(Examples.VpsSecrets.PresharedKey.Base64, Examples.HomeSecrets.PresharedKey.Base64);
}

public sealed class SshKeyTests
{
    [SkippableFact]
    public void The_host_key_file_is_accepted_by_ssh_keygen_and_gives_our_public_key()
    {
        var keygen = HostTool.Require("ssh-keygen", "openssh-client");
        using var file = new HostTool.TempFile(Examples.VpsHostKey.ToOpenSshPrivateKey());
        var result = HostTool.Run(keygen, ["-y", "-f", file.Path]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(Examples.VpsHostKey.PublicKey, SshPublicKey.Parse(result.Stdout));
    }

    [Fact]
    public void The_host_key_file_is_deterministic() =>
        Assert.Equal(SshEd25519Key.FromSeed(Examples.Seed(0x61)).ToOpenSshPrivateKey(), Examples.VpsHostKey.ToOpenSshPrivateKey());

    [SkippableFact]
    public void The_public_key_is_read_out_of_an_ssh_keygen_private_key()
    {
        var keygen = HostTool.Require("ssh-keygen", "openssh-client");
        var path = Path.Combine(Path.GetTempPath(), $"home-relay-test-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, HostTool.Run(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path]).ExitCode);
            var expected = SshPublicKey.Parse(File.ReadAllText(path + ".pub"));
            Assert.Equal(expected, OpenSshPrivateKey.PublicKeyOf(File.ReadAllText(path)));
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".pub");
        }
    }

    [SkippableFact]
    public void A_key_with_a_passphrase_is_refused_with_the_fix()
    {
        var keygen = HostTool.Require("ssh-keygen", "openssh-client");
        var path = Path.Combine(Path.GetTempPath(), $"home-relay-test-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, HostTool.Run(keygen, ["-q", "-t", "ed25519", "-N", "a passphrase", "-f", path]).ExitCode);
            var e = Assert.Throws<FormatException>(() => OpenSshPrivateKey.PublicKeyOf(File.ReadAllText(path)));
            Assert.Contains("passphrase", e.Message);
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".pub");
        }
    }

    [Fact]
    public void A_pem_key_is_refused_without_quoting_it()
    {
        const string pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretsecret\n-----END RSA PRIVATE KEY-----\n";
        var e = Assert.Throws<FormatException>(() => OpenSshPrivateKey.PublicKeyOf(pem));
        Assert.Contains("ssh-keygen -p", e.Message);
        Assert.DoesNotContain("MIIEsecretsecret", e.Message);
    }

    [Theory]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFUP9mwvkVST8fSI5YxnxaXEqL5CDE8VpCXLMDocIPmT root@vm", true)]
    [InlineData("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ", false)]
    [InlineData("ssh-dss AAAAB3NzaC1kc3M=", false)]
    [InlineData("AAAAC3NzaC1lZDI1NTE5AAAAIFUP9mwvkVST8fSI5YxnxaXEqL5CDE8VpCXLMDocIPmT", false)]
    public void Public_key_lines_are_checked_down_to_their_encoding(string line, bool valid) =>
        Assert.Equal(valid, SshPublicKey.TryParse(line, out _));
}

/// <summary>The public key line is decoded down to the key: each algorithm's fields, in order, and nothing after them.</summary>
public sealed class SshPublicKeyStructureTests
{
    private static readonly byte[] Ed25519Key = Examples.Seed(0x10);

    private static string Line(string algorithm, Action<SshWriter> body)
    {
        var blob = new SshWriter();
        blob.String(algorithm);
        body(blob);
        return $"{algorithm} {Convert.ToBase64String(blob.ToArray())}";
    }

    private static string ErrorOf(string line)
    {
        Assert.False(SshPublicKey.TryParse(line, out _, out var error));
        return error;
    }

    private static byte[] Point(int length) => [0x04, .. Enumerable.Repeat((byte)0x5A, length - 1)];

    private static byte[] Modulus(int bits) => [0x00, 0xC0, .. new byte[(bits / 8) - 1]];

    [Fact]
    public void An_ed25519_line_without_key_material_is_refused() =>
        Assert.Contains("ends before", ErrorOf("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"));

    [Fact]
    public void An_ed25519_blob_with_bytes_after_the_key_is_refused() =>
        Assert.Contains("after the key", ErrorOf(Line("ssh-ed25519", b => { b.String(Ed25519Key); b.Byte(0); })));

    [Fact]
    public void An_ed25519_key_of_the_wrong_length_is_refused() =>
        Assert.Contains("31 bytes", ErrorOf(Line("ssh-ed25519", b => b.String(Ed25519Key[..31]))));

    [Fact]
    public void A_blob_naming_another_algorithm_is_refused() =>
        Assert.Contains("ssh-rsa", ErrorOf("ssh-ed25519 " + Line("ssh-rsa", b => { b.String([1, 0, 1]); b.String(Modulus(2048)); }).Split(' ')[1]));

    [Fact]
    public void A_comment_after_the_key_is_allowed_and_left_out_of_the_key()
    {
        Assert.True(SshPublicKey.TryParse(Line("ssh-ed25519", b => b.String(Ed25519Key)) + " admin@home laptop", out var key));
        Assert.DoesNotContain("admin", key.ToString());
    }

    [Fact]
    public void An_rsa_key_is_its_exponent_and_modulus() =>
        Assert.True(SshPublicKey.TryParse(Line("ssh-rsa", b => { b.String([1, 0, 1]); b.String(Modulus(2048)); }), out _));

    [Fact]
    public void An_rsa_key_without_its_modulus_is_refused() =>
        Assert.Contains("ends before", ErrorOf(Line("ssh-rsa", b => b.String([1, 0, 1]))));

    [Fact]
    public void An_rsa_blob_with_bytes_after_the_modulus_is_refused() =>
        Assert.Contains("after the key", ErrorOf(Line("ssh-rsa", b => { b.String([1, 0, 1]); b.String(Modulus(2048)); b.String("x"); })));

    [Fact]
    public void An_rsa_modulus_below_1024_bits_is_refused() =>
        Assert.Contains("1024", ErrorOf(Line("ssh-rsa", b => { b.String([1, 0, 1]); b.String(Modulus(512)); })));

    [Theory]
    [InlineData("ecdsa-sha2-nistp256", "nistp256", 65)]
    [InlineData("ecdsa-sha2-nistp384", "nistp384", 97)]
    [InlineData("ecdsa-sha2-nistp521", "nistp521", 133)]
    public void An_ecdsa_key_is_its_curve_and_an_uncompressed_point(string algorithm, string curve, int pointLength) =>
        Assert.True(SshPublicKey.TryParse(Line(algorithm, b => { b.String(curve); b.String(Point(pointLength)); }), out _));

    [Fact]
    public void An_ecdsa_key_naming_another_curve_is_refused() =>
        Assert.Contains("nistp384", ErrorOf(Line("ecdsa-sha2-nistp256", b => { b.String("nistp384"); b.String(Point(65)); })));

    [Fact]
    public void An_ecdsa_point_of_the_wrong_length_is_refused() =>
        Assert.Contains("97 bytes", ErrorOf(Line("ecdsa-sha2-nistp256", b => { b.String("nistp256"); b.String(Point(97)); })));

    [Fact]
    public void An_ecdsa_blob_with_bytes_after_the_point_is_refused() =>
        Assert.Contains("after the key", ErrorOf(Line("ecdsa-sha2-nistp256", b => { b.String("nistp256"); b.String(Point(65)); b.Byte(1); })));

    [Fact]
    public void A_security_key_ed25519_line_carries_its_application() =>
        Assert.True(SshPublicKey.TryParse(Line("sk-ssh-ed25519@openssh.com", b => { b.String(Ed25519Key); b.String("ssh:"); }), out _));

    [Fact]
    public void A_security_key_line_without_its_application_is_refused() =>
        Assert.Contains("ends before", ErrorOf(Line("sk-ssh-ed25519@openssh.com", b => b.String(Ed25519Key))));

    [Fact]
    public void A_security_key_ecdsa_line_is_curve_point_and_application() =>
        Assert.True(SshPublicKey.TryParse(
            Line("sk-ecdsa-sha2-nistp256@openssh.com", b => { b.String("nistp256"); b.String(Point(65)); b.String("ssh:"); }), out _));

    [Fact]
    public void A_security_key_blob_with_bytes_after_the_application_is_refused() =>
        Assert.Contains("after the key", ErrorOf(
            Line("sk-ssh-ed25519@openssh.com", b => { b.String(Ed25519Key); b.String("ssh:"); b.String("junk"); })));

    [SkippableTheory]
    [InlineData("ed25519", "256")]
    [InlineData("rsa", "3072")]
    [InlineData("ecdsa", "256")]
    [InlineData("ecdsa", "384")]
    [InlineData("ecdsa", "521")]
    public void Keys_made_by_ssh_keygen_are_accepted(string type, string bits)
    {
        var keygen = HostTool.Require("ssh-keygen", "openssh-client");
        var path = Path.Combine(Path.GetTempPath(), $"home-relay-test-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, HostTool.Run(keygen, ["-q", "-t", type, "-b", bits, "-N", "", "-C", "a comment", "-f", path]).ExitCode);
            var line = File.ReadAllText(path + ".pub");
            Assert.True(SshPublicKey.TryParse(line, out _, out var error), error);
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".pub");
        }
    }
}
