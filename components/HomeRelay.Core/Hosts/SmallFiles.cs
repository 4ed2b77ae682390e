using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>The home's policy-routing hook (<c>scripts/hook.sh</c>): run by wg-quick after up and before down; safe to run again.</summary>
public static class HomeHook
{
    public static HostFile Render(RelayPlan plan)
    {
        var udpPorts = plan.Settings.Forwards.Where(f => f.Protocol == Protocol.Udp).Select(f => f.TargetPort).Distinct().Order();
        var script = new BashScript("Managed by home-relay: the home's policy routing for the tunnel. Rendered from\n"
                + "components/HomeRelay.Core/Hosts/scripts/hook.sh with these settings.")
            .Setting("IFACE", HostNames.Interface)
            .Setting("TUNNEL_TABLE", HostNames.HomeRoutingTable)
            .Setting("HOME_ADDRESS", plan.Tunnel.HomeAddress)
            .Setting("RULE_PRIORITIES", HostNames.HomeRulePriorities.Cast<object>())
            .Setting("UDP_PORTS", udpPorts.Select(p => (object)p.ToString()))
            .Part("hook.sh");
        return new HostFile(HostNames.HomeHookPath, "0700", script.ToString());
    }
}

/// <summary>The VPS's forwarding switch, applied with <c>sysctl -p FILE</c> (never <c>--system</c>, which would reapply everything).</summary>
public static class VpsSysctl
{
    public static HostFile Render() => new(HostNames.SysctlPath, "0644",
        "# Managed by home-relay: the VPS forwards visitors' packets into the WireGuard tunnel. Removing home-relay puts\n"
        + "# back the values it found (kept in " + HostNames.ForwardingBeforePath + ").\n"
        + "net.ipv4.ip_forward = 1\n");
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
