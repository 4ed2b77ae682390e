using HomeRelay.Core.Cloud;
using HomeRelay.Core.Hosts;
using HomeRelay.Core.Net;
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
/// forwards and ICMP, a primary IPv4 and (with <c>ipv6</c>) a primary IPv6 of its own (the addresses, and so the DNS
/// records and the home peer's endpoint, survive a server replacement) and the server booted with the core's cloud-init.
/// </summary>
public sealed class RelayServer : ComponentResource
{
    [Output("ipv4Address")]
    public Output<string> Ipv4Address { get; private set; }

    /// <summary>
    /// The relay's public IPv6: the first host of its primary IPv6 network, the address Hetzner's image configures.
    /// Empty with <c>ipv6: false</c>.
    /// </summary>
    [Output("ipv6Address")]
    public Output<string> Ipv6Address { get; private set; }

    [Output("serverId")]
    public Output<string> ServerId { get; private set; }

    internal Server Server { get; }

    internal Firewall Firewall { get; }

    /// <summary>Null with <c>ipv6: false</c>.</summary>
    internal PrimaryIp? PrimaryIpv6 { get; }

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
        var publicNet = new ServerPublicNetArgs { Ipv4Enabled = true, Ipv4 = ipv4.Id.Apply(int.Parse), Ipv6Enabled = s.Ipv6 };
        if (s.Ipv6)
        {
            // Its own resource for the same reason as the IPv4: the AAAA record and a preview's diff stay put when the
            // server is replaced. (No AssigneeType: without an AssigneeId the provider only warns that it is unused.)
            PrimaryIpv6 = new PrimaryIp($"{name}-ipv6", new PrimaryIpArgs
            {
                Type = "ipv6",
                Location = s.Location,
                AutoDelete = false,
                Labels = labels,
            }, child);
            publicNet.Ipv6 = PrimaryIpv6.Id.Apply(int.Parse);
        }

        Server = new Server($"{name}-server", new ServerArgs
        {
            ServerType = s.ServerType,
            Image = s.Image,
            Location = s.Location,
            SshKeys = { sshKey.Id },
            UserData = args.UserData,
            FirewallIds = { Firewall.Id.Apply(int.Parse) },
            PublicNets = { publicNet },
            Labels = labels,
        }, new CustomResourceOptions
        {
            Parent = this,
            // The primary IPs can belong to one server at a time: the old server must go before the new one starts.
            DeleteBeforeReplace = true,
            // In place, the provider would power the server off, swap its primary IPs and power it on again, and the
            // system would keep the IPv6 configuration of its first boot (cloud-init writes it once): the AAAA record
            // would name an address the server does not have. A new server boots with the right one.
            ReplaceOnChanges = { "publicNets" },
        });

        Ipv4Address = ipv4.IpAddress;
        // From the primary IP, not the server's computed ipv6Address: it stays known while the server is replaced.
        Ipv6Address = PrimaryIpv6?.IpNetwork.Apply(FirstHost) ?? Output.Create("");
        ServerId = Server.Id;
        RegisterOutputs();
    }

    /// <summary>
    /// The first host address of an IPv6 network (<c>2a01:4f8:c0c:abcd::/64</c> gives <c>2a01:4f8:c0c:abcd::1</c>), in
    /// canonical form. Hetzner's primary IPv6 is a /64 whose first host is the address the server's image configures.
    /// Computed, not written as the network's text followed by "1", which is right only for one spelling of it.
    /// </summary>
    internal static string FirstHost(string network) =>
        Ipv6Cidr.TryParse(network, out var cidr, out var error) && cidr.PrefixLength < 128
            ? cidr.Host(1).ToString()
            : throw new FormatException($"The primary IPv6 network '{network}' has no first host: {error ?? "it is a single address"}");

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
