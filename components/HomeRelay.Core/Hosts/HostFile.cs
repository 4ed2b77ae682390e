namespace HomeRelay.Core.Hosts;

/// <summary>One file that lands on a host, byte for byte. <paramref name="Mode"/> is octal, e.g. "0600".</summary>
public sealed record HostFile(string Path, string Mode, string Content)
{
    public override string ToString() => $"{Path} ({Mode}, {Content.Length} bytes)";
}

/// <summary>Which end of the tunnel a file or script is for.</summary>
public enum HostRole { Vps, Home }

/// <summary>Names that must agree between the files, the scripts and the checks.</summary>
public static class HostNames
{
    public const string Interface = "wg0";
    public const string WireGuardDir = "/etc/wireguard";
    public const string ConfigPath = "/etc/wireguard/wg0.conf";
    public const string PrivateKeyPath = "/etc/wireguard/wg0.key";
    public const string PresharedKeyPath = "/etc/wireguard/wg0.psk";
    public const string VpsRulesetPath = "/etc/wireguard/wg0-fwd.nft";
    public const string HomeRulesetPath = "/etc/wireguard/wg0-home.nft";
    public const string HomeHookPath = "/etc/wireguard/wg0-hook.sh";

    /// <summary>The forwarding value the VPS had before the first apply, so that remove can restore it.</summary>
    public const string ForwardingBeforePath = "/etc/wireguard/wg0-ip_forward.before";
    public const string SysctlPath = "/etc/sysctl.d/90-home-relay.conf";

    /// <summary>Sorts before cloud-init's 50-cloud-init.conf: sshd keeps the first value it reads.</summary>
    public const string SshdDropInPath = "/etc/ssh/sshd_config.d/00-home-relay.conf";

    public const string VpsTable = "wgfwd";
    public const string HomeTable = "wghome";

    /// <summary>Routing table, firewall mark and conntrack mark of tunnel connections at home (one number, easy to grep).</summary>
    public const int HomeRoutingTable = 51821;

    /// <summary>
    /// The firewall mark of the home's own WireGuard datagrams (wg-quick's <c>FwMark</c>): its port is random, from the
    /// ephemeral ports where forwarded UDP ranges may lie, and the mark keeps them from being taken for a UDP service's.
    /// </summary>
    public const int HomeTunnelSocketMark = 51820;

    /// <summary>
    /// The home's policy rules (both families), in order: marked packets to the main table without its default route
    /// (LAN destinations stay on the LAN), then to the tunnel table; packets from the tunnel address to the tunnel table.
    /// A constant three, whatever the number of forwards.
    /// </summary>
    public static readonly IReadOnlyList<int> HomeRulePriorities = [5180, 5181, 5182];

    /// <summary>How long ago the last handshake may be for the check to pass (WireGuard re-keys every 2 minutes).</summary>
    public const int HandshakeMaxAgeSeconds = 180;
}
