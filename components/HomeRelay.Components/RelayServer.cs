using HomeRelay.Core.Cloud;
using HomeRelay.Core.Hosts;
using HomeRelay.Core.Settings;
using Pulumi;
using Pulumi.HCloud;
using Pulumi.HCloud.Inputs;

namespace HomeRelay.Components;

public sealed class RelayServerArgs
{
    public required RelaySettings Settings { get; init; }

    /// <summary>The admin's public key line: root's authorized key on the VPS.</summary>
    public required Input<string> AdminPublicKey { get; init; }

    /// <summary>Secret: the cloud-init document (it carries the SSH host key).</summary>
    public required Output<string> UserData { get; init; }
}

/// <summary>
/// The Hetzner VPS: the admin's SSH key, a firewall that opens only SSH (from the admin ranges), WireGuard, the
/// forwards and ICMP, a primary IPv4 of its own (the address, and so the DNS record and the home peer's endpoint,
/// survives a server replacement) and the server booted with the core's cloud-init.
/// </summary>
public sealed class RelayServer : ComponentResource
{
    [Output("ipv4Address")]
    public Output<string> Ipv4Address { get; private set; }

    [Output("ipv6Address")]
    public Output<string> Ipv6Address { get; private set; }

    [Output("serverId")]
    public Output<string> ServerId { get; private set; }

    internal Server Server { get; }

    internal Firewall Firewall { get; }

    public RelayServer(string name, RelayServerArgs args, ComponentResourceOptions? options = null)
        : base("home-relay:index:RelayServer", name, ResourceArgs.Empty, options)
    {
        var s = args.Settings;
        var child = new CustomResourceOptions { Parent = this };
        var labels = new InputMap<string> { ["managed-by"] = "home-relay" };

        var sshKey = new SshKey($"{name}-admin", new SshKeyArgs { PublicKey = args.AdminPublicKey, Labels = labels }, child);
        Firewall = new Firewall($"{name}-firewall", new FirewallArgs { Rules = FirewallRules(s), Labels = labels }, child);
        var ipv4 = new PrimaryIp($"{name}-ipv4", new PrimaryIpArgs
        {
            Type = "ipv4",
            AssigneeType = "server",
            Location = s.Location,
            // Kept when the server goes: the address outlives a server replacement. `pulumi destroy` still deletes it.
            AutoDelete = false,
            Labels = labels,
        }, child);

        Server = new Server($"{name}-server", new ServerArgs
        {
            ServerType = s.ServerType,
            Image = s.Image,
            Location = s.Location,
            SshKeys = { sshKey.Id },
            UserData = args.UserData,
            FirewallIds = { Firewall.Id.Apply(int.Parse) },
            PublicNets =
            {
                new ServerPublicNetArgs { Ipv4Enabled = true, Ipv4 = ipv4.Id.Apply(int.Parse), Ipv6Enabled = true },
            },
            Labels = labels,
        }, new CustomResourceOptions
        {
            Parent = this,
            // The primary IPv4 can belong to one server at a time: the old server must go before the new one starts.
            DeleteBeforeReplace = true,
        });

        Ipv4Address = ipv4.IpAddress;
        Ipv6Address = Server.Ipv6Address;
        ServerId = Server.Id;
        RegisterOutputs();
    }

    /// <summary>The core's plan, one rule each; Hetzner allows all outbound traffic when no outbound rule exists.</summary>
    internal static InputList<FirewallRuleArgs> FirewallRules(RelaySettings s)
    {
        var rules = new InputList<FirewallRuleArgs>();
        foreach (var rule in HetznerFirewallPlan.For(s).Rules)
        {
            rules.Add(Rule(rule.Protocol, rule.Port, [.. rule.Sources], rule.Description));
        }
        return rules;
    }

    private static FirewallRuleArgs Rule(string protocol, string? port, InputList<string> sources, string description)
    {
        var rule = new FirewallRuleArgs { Direction = "in", Protocol = protocol, SourceIps = sources, Description = description };
        if (port is not null)
        {
            rule.Port = port; // ICMP has no port
        }
        return rule;
    }
}
