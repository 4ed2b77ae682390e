namespace HomeRelay.Core.Settings;

/// <summary>
/// The config keys of a stack (in <c>Pulumi.&lt;stack&gt;.yaml</c> they carry the <c>home-relay:</c> namespace).
/// One list, so the Pulumi program, the lab and the README table cannot drift apart.
/// </summary>
public static class SettingKeys
{
    public const string Namespace = "home-relay";

    public const string Location = "location";
    public const string ServerType = "serverType";
    public const string Image = "image";
    public const string DnsZone = "dnsZone";
    public const string DnsName = "dnsName";
    public const string DnsTtl = "dnsTtl";
    public const string Forwards = "forwards";
    public const string SshSourceRanges = "sshSourceRanges";
    public const string HomeHost = "homeHost";
    public const string HomeSshPort = "homeSshPort";
    public const string HomeUser = "homeUser";
    public const string HomeHostKey = "homeHostKey";
    public const string HomeLan = "homeLan";
    public const string TunnelCidr = "tunnelCidr";
    public const string Ipv6 = "ipv6";
    public const string TunnelIpv6Cidr = "tunnelIpv6Cidr";
    public const string WireGuardPort = "wireguardPort";
    public const string Mtu = "mtu";
    public const string Keepalive = "keepalive";
    public const string KeyRotation = "keyRotation";

    /// <summary>Secret: the OpenSSH private key that logs in to both hosts. Read by the Pulumi layer only.</summary>
    public const string SshPrivateKey = "sshPrivateKey";

    public static readonly IReadOnlyList<string> All =
    [
        Location, ServerType, Image, DnsZone, DnsName, DnsTtl, Forwards, SshSourceRanges,
        HomeHost, HomeSshPort, HomeUser, HomeHostKey, HomeLan,
        TunnelCidr, Ipv6, TunnelIpv6Cidr, WireGuardPort, Mtu, Keepalive, KeyRotation, SshPrivateKey,
    ];

    /// <summary>
    /// A problem for each key that is not a setting (a typo, which Pulumi itself would ignore silently).
    /// <paramref name="keys"/> are without the namespace.
    /// </summary>
    public static IEnumerable<SettingsProblem> Unknown(IEnumerable<string> keys) => keys
        .Where(k => !All.Contains(k.Split('.', '[')[0]))
        .Order(StringComparer.Ordinal)
        .Select(k => new SettingsProblem(k, $"is not a home-relay setting; known settings are {string.Join(", ", All)}"));

    public static class Defaults
    {
        public const string Location = "fsn1";
        public const string ServerType = "cx23";
        /// <summary>Debian 13, the current stable; the boot lab proves the VPS's first boot on it (and on debian-12).</summary>
        public const string Image = "debian-13";
        public const int DnsTtl = 60;
        public const int HomeSshPort = 22;
        public const string HomeUser = "root";
        public const string TunnelCidr = "10.66.0.0/24";

        /// <summary>The IPv6 front door: an AAAA record, IPv6 visitors forwarded, the tunnel carrying IPv6.</summary>
        public const bool Ipv6 = true;

        /// <summary>
        /// Unique-local ("fd" + "home-relay"'s "rel" in hex): one /64 that every install may share, as the tunnel is
        /// its own network; change it only when the home LAN already uses it.
        /// </summary>
        public const string TunnelIpv6Cidr = "fd66:7265:6c61::/64";
        public const int WireGuardPort = 51820;

        /// <summary>Below 1420 because CGNAT, PPPoE and DS-Lite lines carry less than 1500 bytes.</summary>
        public const int Mtu = 1380;
        /// <summary>
        /// Recovery from a new CGNAT address takes up to one keepalive (the lab measured 0.9-9.5 s at 10 against
        /// 0.9-23.4 s at 25), and a 30 s CGNAT mapping survives a lost keepalive at 10 but not at 25; for 0.32 MB a day
        /// more (0.78 against 0.45). README, Benchmark; `tests/lab/run --bench keepalive`.
        /// </summary>
        public const int Keepalive = 10;
        public const string KeyRotation = "1";
    }
}
