using System.Collections.Immutable;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// What one host receives: its rendered files (for inspection and tests) and the three remote commands that deliver
/// and undo them. The Pulumi layer and the lab send exactly these strings.
/// </summary>
public sealed record HostBundle(HostRole Role, ImmutableArray<HostFile> Files, string ApplyCommand, string RemoveCommand)
{
    public static HostBundle Vps(RelayPlan plan)
    {
        ImmutableArray<HostFile> files = [WireGuardConfigs.Vps(plan), NftRulesets.Vps(plan), ForwardingSysctl.For(HostRole.Vps, plan)!];
        return new HostBundle(HostRole.Vps, files,
            HostScripts.AsRemoteCommand(HostScripts.Apply(HostRole.Vps, files, plan.Settings.Ipv6), "home-relay-apply", sudo: false),
            HostScripts.AsRemoteCommand(HostScripts.Remove(HostRole.Vps), "home-relay-remove", sudo: false));
    }

    public static HostBundle Home(RelayPlan plan)
    {
        ImmutableArray<HostFile> files =
            [WireGuardConfigs.Home(plan), NftRulesets.Home(plan), HomeHook.Render(plan), .. OptionalFile(ForwardingSysctl.For(HostRole.Home, plan))];
        var sudo = !plan.Settings.Home.IsRoot;
        return new HostBundle(HostRole.Home, files,
            HostScripts.AsRemoteCommand(HostScripts.Apply(HostRole.Home, files, plan.Settings.Ipv6), "home-relay-apply", sudo),
            HostScripts.AsRemoteCommand(HostScripts.Remove(HostRole.Home), "home-relay-remove", sudo));
    }

    private static IEnumerable<HostFile> OptionalFile(HostFile? file) => file is null ? [] : [file];

    /// <summary>The deployment check, run on the VPS once both peers are configured.</summary>
    public static string CheckCommand(RelayPlan plan) =>
        HostScripts.AsRemoteCommand(HostScripts.Check(plan), "home-relay-check", sudo: false);

    /// <summary>
    /// <c>./relay status</c>, run on the VPS as root: needs the settings and the relay's public addresses (the IPv6 one
    /// null without an IPv6 front door), no key.
    /// </summary>
    public static string StatusCommand(RelaySettings settings, string relayAddress, string? relayAddress6, StatusFormat format) =>
        HostScripts.AsRemoteCommand(HostScripts.Status(settings, relayAddress, relayAddress6, format), "home-relay-status", sudo: false);
}
