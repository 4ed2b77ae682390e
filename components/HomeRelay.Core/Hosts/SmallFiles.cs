using System.Text;

namespace HomeRelay.Core.Hosts;

/// <summary>The home's policy-routing hook: run by wg-quick after up and before down; safe to run again.</summary>
public static class HomeHook
{
    public static HostFile Render(RelayPlan plan)
    {
        var table = HostNames.HomeRoutingTable;
        var priority = HostNames.HomeRulePriority;
        var text = new StringBuilder()
            .AppendLine("#!/bin/bash")
            .AppendLine("# Managed by home-relay. Sends replies to tunnel connections back through the tunnel (table")
            .AppendLine($"# {table}) while the home's own traffic keeps its default route. Deletes what it owns first,")
            .AppendLine("# so running it twice leaves one copy of each rule.")
            .AppendLine("set -euo pipefail")
            .AppendLine("export LC_ALL=C")
            .AppendLine()
            .AppendLine("del_rules() {")
            .AppendLine("\t# Each pass removes one copy; the loop ends when none is left (at most a handful).")
            .AppendLine($"\twhile ip -4 rule del pref {priority} 2>/dev/null; do :; done")
            .AppendLine($"\twhile ip -4 rule del pref {priority + 1} 2>/dev/null; do :; done")
            .AppendLine("}")
            .AppendLine()
            .AppendLine("up() {")
            .AppendLine("\tdel_rules")
            .AppendLine($"\tip -4 rule add pref {priority} from {plan.Tunnel.HomeAddress} lookup {table}")
            .AppendLine($"\tip -4 rule add pref {priority + 1} fwmark {table} lookup {table}")
            .AppendLine("\t# Loose reverse-path filtering: visitors' addresses arrive on wg0 but are routed elsewhere.")
            .AppendLine($"\tsysctl -q -w net.ipv4.conf.{HostNames.Interface}.rp_filter=2")
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
