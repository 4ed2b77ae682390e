using HomeRelay.Core.Keys;
using Pulumi;
using Pulumi.Random;

namespace HomeRelay.Components;

/// <summary>
/// The VPS's SSH host key, made in the program so that the very first remote command can pin it: cloud-init plants
/// the private half, every connection checks the public half. Kept for the life of the stack (it survives a server
/// replacement, like the server's address).
/// </summary>
public sealed class SshHostKey : ComponentResource
{
    /// <summary><c>ssh-ed25519 AAAA...</c>, as <c>ConnectionArgs.HostKey</c> and known_hosts take it.</summary>
    [Output("publicKey")]
    public Output<string> PublicKey { get; private set; }

    internal Output<SshEd25519Key> Key { get; }

    public SshHostKey(string name, ComponentResourceOptions? options = null)
        : base("home-relay:index:SshHostKey", name, ResourceArgs.Empty, options)
    {
        var seed = new RandomBytes($"{name}-seed", new RandomBytesArgs { Length = 32 },
            new CustomResourceOptions { Parent = this });
        Key = Output.CreateSecret(seed.Base64.Apply(b64 => SshEd25519Key.FromSeed(Convert.FromBase64String(b64))));
        PublicKey = Output.Unsecret(Key.Apply(k => k.PublicKey.ToString()));
        RegisterOutputs();
    }
}
