namespace HomeRelay.Core.Settings;

/// <summary>
/// Limits that keep a stack deliverable, in one place. <see cref="SettingsReader"/> refuses a stack beyond any of them
/// before anything is created, saying the limit, the stack's count and what to change.
/// </summary>
public static class Limits
{
    /// <summary>
    /// Forwards in a stack. The rendered apply script travels as one argument of one SSH command, and Linux caps a
    /// single argument at 128 KiB (MAX_ARG_STRLEN): every forward adds to it.
    /// </summary>
    public const int MaxForwards = 1000;

    /// <summary>
    /// Translated ports in a stack: the ports of forwards whose targetPort differs from port, a shifted range counting
    /// its length. Each is one nftables map entry in the same apply script (nftables cannot shift a port by an
    /// offset, so a shifted range is mapped port by port). With the most forwards, every one of them translated, the
    /// VPS's apply stays under half of the 128 KiB (a test renders it).
    /// </summary>
    public const int MaxTranslatedPorts = 500;

    /// <summary>Rules in one Hetzner Cloud firewall (its API's set_rules: "limited to 50 entries per Firewall").</summary>
    public const int HetznerFirewallRules = 50;

    /// <summary>
    /// "Effective" rules in one Hetzner Cloud firewall (set_rules: "and 500 effective rules"): each rule counts once per
    /// source network it lists.
    /// </summary>
    public const int HetznerFirewallEffectiveRules = 500;
}
