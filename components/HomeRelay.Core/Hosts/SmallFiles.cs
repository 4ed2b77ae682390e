using System.Text;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>The home's policy-routing hook: run by wg-quick after up and before down; safe to run again.</summary>
public static class HomeHook
{
    public static HostFile Render(RelayPlan plan)
    {
        var table = HostNames.HomeRoutingTable;
        var p = HostNames.HomeRulePriorities;
        var udpPorts = plan.Settings.Forwards.Where(f => f.Protocol == Protocol.Udp).Select(f => f.TargetPort).Distinct().Order();
        var text = new StringBuilder()
            .AppendLine("#!/bin/bash")
            .AppendLine("# Managed by home-relay. Sends replies to tunnel connections back through the tunnel (table")
            .AppendLine($"# {table}) while the home's own traffic keeps its default route. Deletes what it owns first,")
            .AppendLine("# so running it twice leaves one copy of each rule.")
            .AppendLine("set -euo pipefail")
            .AppendLine("export LC_ALL=C")
            .AppendLine()
            .AppendLine("del_rules() {")
            .AppendLine("	local pref")
            .AppendLine($"	for pref in {string.Join(' ', p)}; do")
            .AppendLine("		# Each pass removes one rule; the loop ends when none is left at that priority.")
            .AppendLine("		while ip -4 rule del pref \"$pref\" 2>/dev/null; do :; done")
            .AppendLine("	done")
            .AppendLine("}")
            .AppendLine()
            .AppendLine("up() {")
            .AppendLine("	del_rules");
        foreach (var port in udpPorts)
        {
            text.AppendLine($"	# udp/{port}: a service on 0.0.0.0 answers from the address the route picks, so route its")
                .AppendLine("	# replies into the tunnel by port (LAN destinations still match the main table first).")
                .AppendLine($"	ip -4 rule add pref {p[0]} ipproto udp sport {port} lookup main suppress_prefixlength 0")
                .AppendLine($"	ip -4 rule add pref {p[1]} ipproto udp sport {port} lookup {table}");
        }
        text.AppendLine($"	ip -4 rule add pref {p[2]} from {plan.Tunnel.HomeAddress} lookup {table}")
            .AppendLine($"	ip -4 rule add pref {p[3]} fwmark {table} lookup {table}")
            .AppendLine("	# Loose reverse-path filtering: visitors' addresses arrive on wg0 but are routed elsewhere.")
            .AppendLine($"	sysctl -q -w net.ipv4.conf.{HostNames.Interface}.rp_filter=2")
            .AppendLine("}")
            .AppendLine()
            .AppendLine("case \"${1:-}\" in")
            .AppendLine("up) up ;;")
            .AppendLine("down) del_rules ;;")
            .AppendLine("*) echo \"usage: $0 up|down\" >&2; exit 2 ;;")
            .AppendLine("esac");
        return new HostFile(HostNames.HomeHookPath, "0700", WireGuardConfigs.Lf(text));
    }
}

/// <summary>The VPS's forwarding switch, applied with <c>sysctl -p FILE</c> (never <c>--system</c>, which would reapply everything).</summary>
public static class VpsSysctl
{
    public static HostFile Render() => new(HostNames.SysctlPath, "0644",
        "# Managed by home-relay: the VPS forwards visitors' packets into the WireGuard tunnel.\n"
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
