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
