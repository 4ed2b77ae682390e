using HomeRelay.Core.Hosts;
using HomeRelay.Core.Tests.Support;

namespace HomeRelay.Core.Tests;

/// <summary>
/// The rendered scripts run for real, each in a private mount and network namespace (unshare), so that
/// /etc/wireguard is an empty tmpfs and nothing on this machine can be touched. The lab covers the full runs.
/// </summary>
public sealed class ApplyScriptTests
{
    private static readonly HostBundle Home = HostBundle.Home(Examples.Plan());
    private static readonly HostBundle Vps = HostBundle.Vps(Examples.Plan());

    /// <summary>Runs <paramref name="command"/> as the login shell would, after <paramref name="setup"/>, in fresh namespaces.</summary>
    private static HostTool.Result RunIsolated(string setup, string command, string stdin)
    {
        var unshare = HostTool.Require("unshare", "util-linux");
        HostTool.RequireRoot("unshare needs root for mount and network namespaces");
        using var script = new HostTool.TempFile(
            // /sys again: the kernel shows a network namespace's interfaces only in a sysfs mounted inside it.
            $"set -e\nmount -t tmpfs tmpfs /etc/wireguard\nmount -t tmpfs tmpfs /etc/sysctl.d\nmount -t sysfs sysfs /sys\n{setup}\n/bin/sh -c \"$(cat {command})\"\n");
        return HostTool.Run(unshare, ["--mount", "--net", "--propagation", "private", "/bin/bash", script.Path], stdin);
    }

    [SkippableFact]
    public void Apply_refuses_to_start_without_its_secrets_on_stdin_and_does_not_echo_them()
    {
        using var command = new HostTool.TempFile(Home.ApplyCommand);
        var result = RunIsolated("", command.Path, "private_key nonsense\n");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("stdin holds no valid private_key line", result.Stderr);
        Assert.DoesNotContain("nonsense", result.Output);
    }

    [SkippableFact]
    public void Apply_leaves_a_wg0_it_did_not_write_alone()
    {
        using var command = new HostTool.TempFile(Home.ApplyCommand);
        var result = RunIsolated(
            "printf '[Interface]\\nPrivateKey = theirs\\n' > /etc/wireguard/wg0.conf",
            command.Path, Examples.HomeSecrets.ToStdin());
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("/etc/wireguard/wg0.conf exists and was not written by home-relay", result.Stderr);
        Assert.DoesNotContain(Examples.HomeSecrets.KeyPair.PrivateKeyBase64, result.Output);
    }

    [SkippableFact]
    public void Remove_leaves_a_wg0_it_did_not_write_alone()
    {
        using var command = new HostTool.TempFile(Home.RemoveCommand);
        var result = RunIsolated(
            "printf '[Interface]\\n' > /etc/wireguard/wg0.conf",
            command.Path, "");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("was not written by home-relay; leaving this host alone", result.Stderr);
    }

    [SkippableFact]
    public void Remove_on_a_host_never_set_up_succeeds_quietly()
    {
        using var command = new HostTool.TempFile(Home.RemoveCommand);
        HostTool.Require("nft", "nftables");
        var result = RunIsolated("", command.Path, "");
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal("home-relay: removed the tunnel\n", result.Stderr);
    }

    [SkippableFact]
    public void A_failed_first_apply_leaves_nothing_behind()
    {
        HostTool.Require("nft", "nftables");
        using var command = new HostTool.TempFile(Vps.ApplyCommand);
        // The tunnel cannot start (a wg-quick that fails): every file, and the forwarding switch, must go back.
        var result = RunIsolated(
            "mkdir -p /run/fakebin && printf '#!/bin/sh\\necho wg-quick: no >&2\\nexit 1\\n' > /run/fakebin/wg-quick"
            + " && chmod +x /run/fakebin/wg-quick && export PATH=/run/fakebin:$PATH && sysctl -q -w net.ipv4.ip_forward=0"
            + " && trap 'echo files: $(ls -A /etc/wireguard /etc/sysctl.d | tr -s \"\\n\" \" \"); echo ip_forward: $(sysctl -n net.ipv4.ip_forward)' EXIT",
            command.Path, Examples.VpsSecrets.ToStdin());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("apply did not complete (status 1); putting the previous state back", result.Stderr);
        Assert.Contains("files: /etc/sysctl.d: /etc/wireguard:\n", result.Stdout); // both directories empty again
        Assert.Contains("ip_forward: 0", result.Stdout);
        Assert.DoesNotContain(Examples.VpsSecrets.KeyPair.PrivateKeyBase64, result.Output);
    }

    [SkippableFact]
    public void A_first_apply_that_fails_after_wg_quick_loaded_the_table_removes_the_table_too()
    {
        var nft = HostTool.Require("nft", "nftables");
        using var command = new HostTool.TempFile(Vps.ApplyCommand);
        // wg-quick's PreUp loads the table, then the start fails (say the port is taken): wg-quick's own error path
        // deletes only the interface, never running PostDown.
        var result = RunIsolated(
            "mkdir -p /run/fakebin && printf '#!/bin/sh\\nnft -f /etc/wireguard/wg0-fwd.nft\\necho wg-quick: port taken >&2\\nexit 1\\n' > /run/fakebin/wg-quick"
            + " && chmod +x /run/fakebin/wg-quick && export PATH=/run/fakebin:$PATH"
            + $" && trap 'echo tables: $({nft} list tables | tr -s \"\\n\" \" \")' EXIT",
            command.Path, Examples.VpsSecrets.ToStdin());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("port taken", result.Stderr);
        Assert.Contains("tables:\n", result.Stdout); // none left
    }

    [SkippableFact]
    public void A_tunnel_that_starts_without_listening_on_the_wireguard_port_fails_the_apply()
    {
        HostTool.Require("nft", "nftables");
        HostTool.Require("ss", "iproute2");
        using var command = new HostTool.TempFile(Vps.ApplyCommand);
        // wireguard-go only logs when another program holds the port, and wg-quick succeeds: a TUN device is up and
        // nothing listens.
        var result = RunIsolated(
            "mkdir -p /run/fakebin && printf '#!/bin/sh\\n[ \"$1\" = up ] || exit 0\\nip tuntap add dev wg0 mode tun && ip link set wg0 up\\n' > /run/fakebin/wg-quick"
            + " && chmod +x /run/fakebin/wg-quick && export PATH=/run/fakebin:$PATH",
            command.Path, Examples.VpsSecrets.ToStdin());
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("nothing listens on UDP 51820 after the tunnel started", result.Stderr);
        Assert.Contains("putting the previous state back", result.Stderr);
    }
}
