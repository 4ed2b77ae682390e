using HomeRelay.Core.Keys;
using Pulumi;
using Pulumi.Random;

namespace HomeRelay.Components;

public sealed class WireGuardKeysArgs
{
    /// <summary>Any word; a new value makes new keys (the <c>keyRotation</c> setting).</summary>
    public required Input<string> Rotation { get; init; }
}

/// <summary>
/// Both peers' WireGuard key pairs and their preshared key: 32 random bytes each, made once and kept in the stack's
/// state as secrets, so every <c>pulumi up</c> sees the same keys until <c>keyRotation</c> changes.
/// </summary>
public sealed class WireGuardKeys : ComponentResource
{
    [Output("vpsPublicKey")]
    public Output<string> VpsPublicKey { get; private set; }

    [Output("homePublicKey")]
    public Output<string> HomePublicKey { get; private set; }

    /// <summary>Secret.</summary>
    [Output("vpsPrivateKey")]
    public Output<string> VpsPrivateKey { get; private set; }

    /// <summary>Secret.</summary>
    [Output("homePrivateKey")]
    public Output<string> HomePrivateKey { get; private set; }

    /// <summary>Secret.</summary>
    [Output("presharedKey")]
    public Output<string> PresharedKey { get; private set; }

    public WireGuardKeys(string name, WireGuardKeysArgs args, ComponentResourceOptions? options = null)
        : base("home-relay:index:WireGuardKeys", name, ResourceArgs.Empty, options)
    {
        var vps = KeyPair(Seed($"{name}-vps", args.Rotation));
        var home = KeyPair(Seed($"{name}-home", args.Rotation));
        VpsPublicKey = Output.Unsecret(vps.Apply(k => k.PublicKeyBase64));
        HomePublicKey = Output.Unsecret(home.Apply(k => k.PublicKeyBase64));
        // Wrapped on purpose: the provider marks RandomBytes.base64 secret, but derived values must stay secret
        // wherever they go, including engines (such as the mock engine) that ignore AdditionalSecretOutputs.
        VpsPrivateKey = Output.CreateSecret(vps.Apply(k => k.PrivateKeyBase64));
        HomePrivateKey = Output.CreateSecret(home.Apply(k => k.PrivateKeyBase64));
        PresharedKey = Output.CreateSecret(Seed($"{name}-psk", args.Rotation).Apply(bytes => Core.Keys.PresharedKey.FromBytes(bytes).Base64));
        RegisterOutputs();

        Output<byte[]> Seed(string seedName, Input<string> rotation) => new RandomBytes(seedName, new RandomBytesArgs
        {
            Length = WireGuardKeyPair.KeyLength,
            Keepers = { ["rotation"] = rotation },
        }, new CustomResourceOptions { Parent = this }).Base64.Apply(Convert.FromBase64String);
    }

    private static Output<WireGuardKeyPair> KeyPair(Output<byte[]> seed) => seed.Apply(bytes => WireGuardKeyPair.FromSeed(bytes));
}
