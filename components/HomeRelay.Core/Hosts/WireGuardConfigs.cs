using System.Text;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// The wg-quick configuration of each peer. Neither holds a private key: PostUp loads it from the 0600 key file,
/// so the file (and its diff in a preview) is safe to show.
/// </summary>
public static class WireGuardConfigs
{
    private const string Header = HostScripts.ManagedMarker + ": the next `pulumi up` overwrites changes made here.";

    public static HostFile Vps(RelayPlan plan)
    {
        var t = plan.Tunnel;
        var text = new StringBuilder()
            .AppendLine(Header)
            .AppendLine("[Interface]")
            .AppendLine($"Address = {Addresses(t.VpsAddress, t.VpsAddress6, t)}")
            .AppendLine($"ListenPort = {t.ListenPort}")
            .AppendLine($"MTU = {t.Mtu}")
            .AppendLine($"PreUp = nft -f {HostNames.VpsRulesetPath}")
            .AppendLine($"PostUp = {LoadSecrets(plan.HomePublicKey)}")
            .AppendLine($"PostDown = {DropTable(HostNames.VpsTable)}")
            .AppendLine()
            .AppendLine("[Peer]")
            .AppendLine("# the home server")
            .AppendLine($"PublicKey = {plan.HomePublicKey}")
            .AppendLine($"AllowedIPs = {t.HomeAddress}/32{(t.HomeAddress6 is { } home6 ? $", {home6}/128" : "")}");
        return new HostFile(HostNames.ConfigPath, "0600", Lf(text));
    }

    public static HostFile Home(RelayPlan plan)
    {
        var t = plan.Tunnel;
        var text = new StringBuilder()
            .AppendLine(Header)
            .AppendLine("[Interface]")
            .AppendLine($"Address = {Addresses(t.HomeAddress, t.HomeAddress6, t)}")
            .AppendLine($"MTU = {t.Mtu}")
            .AppendLine("# Routes for the peer go to their own table, so the home's own traffic keeps its default route;")
            .AppendLine("# the hook sends only replies to tunnel connections there.")
            .AppendLine($"Table = {HostNames.HomeRoutingTable}")
            .AppendLine("# WireGuard's own datagrams carry this mark: they leave by the home's line even when its random port")
            .AppendLine("# falls inside a forwarded UDP range.")
            .AppendLine($"FwMark = {HostNames.HomeTunnelSocketMark}")
            .AppendLine($"PreUp = nft -f {HostNames.HomeRulesetPath}")
            .AppendLine($"PostUp = {LoadSecrets(plan.VpsPublicKey)}")
            .AppendLine($"PostUp = {HostNames.HomeHookPath} up")
            .AppendLine($"PreDown = {HostNames.HomeHookPath} down")
            .AppendLine($"PostDown = {DropTable(HostNames.HomeTable)}")
            .AppendLine()
            .AppendLine("[Peer]")
            .AppendLine("# the VPS")
            .AppendLine($"PublicKey = {plan.VpsPublicKey}")
            .AppendLine($"Endpoint = {FormatEndpoint(plan.VpsEndpoint)}:{t.ListenPort}")
            .AppendLine("# Visitors keep their own address, so any source must be accepted from the VPS.")
            .AppendLine($"AllowedIPs = 0.0.0.0/0{(t.Ipv6Cidr is null ? "" : ", ::/0")}")
            .AppendLine("# We dial out through CGNAT; keepalives hold the NAT mapping open.")
            .AppendLine($"PersistentKeepalive = {t.Keepalive}");
        return new HostFile(HostNames.ConfigPath, "0600", Lf(text));
    }

    /// <summary>The interface's addresses: IPv4, and IPv6 when the tunnel carries it.</summary>
    private static string Addresses(System.Net.IPAddress v4, System.Net.IPAddress? v6, Settings.TunnelSettings t) =>
        v6 is null ? $"{v4}/{t.Cidr.PrefixLength}" : $"{v4}/{t.Cidr.PrefixLength}, {v6}/{t.Ipv6Cidr!.PrefixLength}";

    private static string LoadSecrets(string peerPublicKey) =>
        $"wg set %i private-key {HostNames.PrivateKeyPath} peer {peerPublicKey} preshared-key {HostNames.PresharedKeyPath}";

    /// <summary>Declaring the table first makes the delete succeed even when the table is already gone.</summary>
    internal static string DropTable(string table) => $"nft 'table inet {table}; delete table inet {table}'";

    private static string FormatEndpoint(string endpoint) => endpoint.Contains(':') ? $"[{endpoint}]" : endpoint;

    internal static string Lf(StringBuilder text) => text.ToString().Replace("\r\n", "\n");
}
