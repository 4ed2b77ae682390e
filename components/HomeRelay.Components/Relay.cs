using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using HomeRelay.Core.Hosts;
using HomeRelay.Core.Keys;
using HomeRelay.Core.Settings;
using Pulumi;
using Pulumi.Command.Remote;
using Pulumi.Command.Remote.Inputs;

namespace HomeRelay.Components;

public sealed class RelayArgs
{
    public required RelaySettings Settings { get; init; }

    /// <summary>Secret: the OpenSSH private key that logs in to both hosts.</summary>
    public required Output<string> AdminPrivateKey { get; init; }

    /// <summary>Its public half, authorized for root on the VPS.</summary>
    public required Output<string> AdminPublicKey { get; init; }
}

/// <summary>
/// The whole relay: keys, the VPS, its DNS name, both tunnel peers (VPS first, then home) and a last check that
/// fails the deployment unless the tunnel is up and the forwards answer.
/// </summary>
/// <remarks>
/// Components here take plain Args classes and register no inputs of their own: registered component inputs are
/// stored in state and diffed a second time, which would double every script diff and copy secrets into state.
/// </remarks>
public sealed class Relay : ComponentResource
{
    [Output("ipv4Address")]
    public Output<string> Ipv4Address { get; private set; }

    /// <summary>The relay's public IPv6 (the AAAA record's address); empty with <c>ipv6: false</c>.</summary>
    [Output("ipv6Address")]
    public Output<string> Ipv6Address { get; private set; }

    [Output("dnsName")]
    public Output<string> DnsName { get; private set; }

    [Output("vpsPublicKey")]
    public Output<string> VpsPublicKey { get; private set; }

    [Output("homePublicKey")]
    public Output<string> HomePublicKey { get; private set; }

    [Output("vpsHostKey")]
    public Output<string> VpsHostKey { get; private set; }

    [Output("forwards")]
    public Output<ImmutableArray<string>> Forwards { get; private set; }

    internal WireGuardKeys Keys { get; }
    internal RelayServer Server { get; }
    internal WireGuardPeer VpsPeer { get; }
    internal WireGuardPeer HomePeer { get; }
    internal Command Check { get; }

    public Relay(string name, RelayArgs args, ComponentResourceOptions? options = null)
        : base("home-relay:index:Relay", name, ResourceArgs.Empty, options)
    {
        var s = args.Settings;
        var child = new ComponentResourceOptions { Parent = this };

        Keys = new WireGuardKeys($"{name}-keys", new WireGuardKeysArgs { Rotation = s.KeyRotation }, child);
        var hostKey = new SshHostKey($"{name}-hostkey", child);
        Server = new RelayServer($"{name}-vps", new RelayServerArgs
        {
            Settings = s,
            AdminPublicKey = args.AdminPublicKey,
            UserData = Output.CreateSecret(hostKey.Key.Apply(CloudInit.Render)),
        }, child);
        var dns = new RelayDns($"{name}-dns", new RelayDnsArgs
        {
            Dns = s.Dns,
            Ipv4Address = Server.Ipv4Address,
            Ipv6Address = s.Ipv6 ? (Input<string>)Server.Ipv6Address : null,
        }, child);

        // Everything rendered from public values only, so the commands' texts are plain, diffable strings.
        var plan = Output.Tuple(Keys.VpsPublicKey, Keys.HomePublicKey, Server.Ipv4Address)
            .Apply(t => new RelayPlan(s, t.Item1, t.Item2, t.Item3));
        var vpsBundle = plan.Apply(HostBundle.Vps);
        var homeBundle = plan.Apply(HostBundle.Home);

        var vpsConnection = new ConnectionArgs
        {
            Host = Server.Ipv4Address,
            User = "root",
            PrivateKey = args.AdminPrivateKey,
            HostKey = hostKey.PublicKey,
            // A new server needs a minute or two before sshd answers; dial retries come without a pause.
            DialErrorLimit = 60,
            PerDialTimeout = 10,
        };
        VpsPeer = new WireGuardPeer($"{name}-vps-peer", new WireGuardPeerArgs
        {
            Connection = vpsConnection,
            ApplyCommand = vpsBundle.Apply(b => b.ApplyCommand),
            RemoveCommand = vpsBundle.Apply(b => b.RemoveCommand),
            Secrets = Output.Tuple(Keys.VpsPrivateKey, Keys.PresharedKey).Apply(t => Stdin(t.Item1, t.Item2)),
            // A replaced server keeps its address and host key, so only its id tells that it must be set up again.
            Triggers = { Trigger(Server.ServerId) },
            DeletedWith = Server.Server,
        }, child);

        HomePeer = new WireGuardPeer($"{name}-home-peer", new WireGuardPeerArgs
        {
            Connection = new ConnectionArgs
            {
                Host = s.Home.Host,
                Port = s.Home.SshPort,
                User = s.Home.User,
                PrivateKey = args.AdminPrivateKey,
                HostKey = SshPublicKey.Parse(s.Home.HostKey).ToString(),
                DialErrorLimit = 5,
            },
            ApplyCommand = homeBundle.Apply(b => b.ApplyCommand),
            RemoveCommand = homeBundle.Apply(b => b.RemoveCommand),
            Secrets = Output.Tuple(Keys.HomePrivateKey, Keys.PresharedKey).Apply(t => Stdin(t.Item1, t.Item2)),
            // Moving the home server: a plain update would apply on the new host and leave the tunnel on the old one.
            // A change of these replaces the peer instead, delete first: the old state's remove runs over the old
            // state's connection (the old host), then apply runs on the new one.
            Triggers = { Trigger(s.Home.Host), Trigger(s.Home.SshPort), Trigger(s.Home.User) },
            DependsOn = { VpsPeer.Command },
        }, child);

        Check = new Command($"{name}-check", new CommandArgs
        {
            Connection = vpsConnection,
            Create = plan.Apply(HostBundle.CheckCommand),
            AddPreviousOutputInEnv = false,
            // Check again whenever either peer's configuration changes (hashes keep the state small), and whenever a
            // peer was set up from scratch: a new server, or the home peer's new id after a move of the home server.
            Triggers =
            {
                Trigger(vpsBundle.Apply(b => Sha256(b.ApplyCommand))),
                Trigger(homeBundle.Apply(b => Sha256(b.ApplyCommand))),
                Trigger(Server.ServerId),
                Trigger(HomePeer.Applied),
            },
        }, new CustomResourceOptions { Parent = this, DependsOn = { VpsPeer.Command, HomePeer.Command }, DeletedWith = Server.Server });

        Ipv4Address = Server.Ipv4Address;
        Ipv6Address = Server.Ipv6Address;
        DnsName = dns.Name;
        VpsPublicKey = Keys.VpsPublicKey;
        HomePublicKey = Keys.HomePublicKey;
        VpsHostKey = hostKey.PublicKey;
        Forwards = Output.Create(s.Forwards.Select(f => $"{f.ProtocolName}://{s.Dns.Name}:{f.Port}").ToImmutableArray());
        RegisterOutputs();
    }

    /// <summary><c>Triggers</c> is an <c>InputList&lt;object&gt;</c>, whose Add overloads are ambiguous for an output.</summary>
    private static Input<object> Trigger(Output<string> value) => value.Apply(object (v) => v);

    /// <summary>A plain value as a trigger (a cast would be a reference conversion, not Input's implicit one).</summary>
    private static Input<object> Trigger(object value) => Output.Create(value);

    private static string Stdin(string privateKey, string presharedKey) =>
        new PeerSecrets(WireGuardKeyPair.FromPrivateKeyBase64(privateKey), PresharedKey.FromBase64(presharedKey)).ToStdin();

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
