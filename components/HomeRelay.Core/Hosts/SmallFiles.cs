using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>The home's policy-routing hook (<c>scripts/hook.sh</c>): run by wg-quick after up and before down; safe to run again.</summary>
public static class HomeHook
{
    public static HostFile Render(RelayPlan plan)
    {
        var script = new BashScript("Managed by home-relay: the home's policy routing for the tunnel. Rendered from\n"
                + "components/HomeRelay.Core/Hosts/scripts/hook.sh with these settings.")
            .Setting("IFACE", HostNames.Interface)
            .Setting("TUNNEL_TABLE", HostNames.HomeRoutingTable)
            .Setting("RULE_PRIORITIES", HostNames.HomeRulePriorities.Cast<object>())
            .Setting("HOME_ADDRESSES", new object?[] { plan.Tunnel.HomeAddress, plan.Tunnel.HomeAddress6 }.OfType<object>())
            .Setting("VPS_ADDRESS", plan.Tunnel.VpsAddress)
            .Setting("HEARTBEAT", plan.Tunnel.Keepalive)
            .Part("rules.sh")
            .Part("hook.sh");
        return new HostFile(HostNames.HomeHookPath, "0700", script.ToString());
    }
}

/// <summary>
/// Forwarding, applied with <c>sysctl -p FILE</c> (never <c>--system</c>, which would reapply everything): always on
/// the VPS (both families when the tunnel carries IPv6), and on the home server only when it passes forwards on to
/// other hosts of its LAN.
/// </summary>
public static class ForwardingSysctl
{
    public static HostFile? For(HostRole role, RelayPlan plan)
    {
        var ipv6 = role == HostRole.Vps && plan.Settings.Ipv6;
        if (role == HostRole.Home && !plan.Settings.Forwards.Any(f => f.IsLanTarget))
        {
            return null;
        }
        var why = role == HostRole.Vps
            ? "the VPS forwards visitors' packets into the WireGuard tunnel"
            : "the home server passes forwards on to other hosts of its LAN";
        return new HostFile(HostNames.SysctlPath, "0644",
            $"# Managed by home-relay: {why}. Removing home-relay puts\n"
            + $"# back the values it found (kept in {HostNames.ForwardingBeforePath}).\n"
            + "net.ipv4.ip_forward = 1\n"
            + (ipv6 ? "net.ipv6.conf.all.forwarding = 1\n" : ""));
    }
}

/// <summary>sshd hardening for the VPS: keys only.</summary>
public static class SshdHardening
{
    public static HostFile Render() => new(HostNames.SshdDropInPath, "0644",
        "# Managed by home-relay. Named 00- to sort before cloud-init's 50-cloud-init.conf: sshd keeps the first value.\n"
        + "PasswordAuthentication no\n"
        + "KbdInteractiveAuthentication no\n"
        + "PermitEmptyPasswords no\n"
        + "PermitRootLogin prohibit-password\n"
        + "X11Forwarding no\n");
}
