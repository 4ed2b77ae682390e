using HomeRelay.Core.Hosts;
using HomeRelay.Core.Settings;
using HomeRelay.Core.Tests.Support;

namespace HomeRelay.Core.Tests;

public sealed class RenderTests
{
    private static readonly RelayPlan Plan = Examples.Plan();
    private static readonly HostBundle Vps = HostBundle.Vps(Plan);
    private static readonly HostBundle Home = HostBundle.Home(Plan);

    /// <summary>Every non-secret artifact by a readable name: these are what golden files pin and leak checks scan.</summary>
    public static TheoryData<string> PublicArtifactNames() => [.. PublicArtifacts().Keys];

    private static Dictionary<string, string> PublicArtifacts() => new()
    {
        ["vps/wg0.conf"] = WireGuardConfigs.Vps(Plan).Content,
        ["vps/wg0-fwd.nft"] = NftRulesets.Vps(Plan).Content,
        ["vps/90-home-relay.conf"] = ForwardingSysctl.For(HostRole.Vps, Plan)!.Content,
        ["vps/00-home-relay.sshd.conf"] = SshdHardening.Render().Content,
        ["vps/apply.cmd"] = Vps.ApplyCommand,
        ["vps/remove.cmd"] = Vps.RemoveCommand,
        ["vps/check.cmd"] = HostBundle.CheckCommand(Plan),
        ["vps/status.cmd"] = HostBundle.StatusCommand(Plan.Settings, Examples.VpsEndpoint, Examples.VpsAddress6, StatusFormat.Text),
        ["home/wg0.conf"] = WireGuardConfigs.Home(Plan).Content,
        ["home/wg0-home.nft"] = NftRulesets.Home(Plan).Content,
        ["home/wg0-hook.sh"] = HomeHook.Render(Plan).Content,
        ["home/apply.cmd"] = Home.ApplyCommand,
        ["home/remove.cmd"] = Home.RemoveCommand,
    };

    public static TheoryData<string> ScriptNames() => ["vps/apply.cmd", "vps/remove.cmd", "vps/check.cmd", "vps/status.cmd", "home/apply.cmd", "home/remove.cmd"];

    [Theory]
    [MemberData(nameof(PublicArtifactNames))]
    public void Rendered_files_match_their_golden_copy(string name) => Golden.Matches(name, PublicArtifacts()[name]);

    [Fact]
    public void Cloud_init_matches_its_golden_copy() =>
        Golden.Matches("vps/cloud-init.yaml", RedactPrivateKey(CloudInit.Render(Examples.VpsHostKey)));

    /// <summary>The golden copy keeps the key's frame but not its body, so no private key block sits in the repository.</summary>
    private static string RedactPrivateKey(string userData)
    {
        var lines = userData.Split('\n');
        var begin = Array.FindIndex(lines, l => l.Contains("BEGIN OPENSSH PRIVATE KEY"));
        var end = Array.FindIndex(lines, l => l.Contains("END OPENSSH PRIVATE KEY"));
        Assert.True(begin > 0 && end > begin + 1, "cloud-init carries an OpenSSH private key block");
        return string.Join('\n', [.. lines[..(begin + 1)], "    (key body checked by SshKeyTests)", .. lines[end..]]);
    }

    [Theory]
    [MemberData(nameof(PublicArtifactNames))]
    public void No_secret_appears_in_any_public_file_or_command(string name)
    {
        foreach (var secret in Examples.SecretStrings())
        {
            Assert.DoesNotContain(secret, PublicArtifacts()[name]);
        }
    }

    [Fact]
    public void Public_keys_are_where_each_peer_expects_them()
    {
        Assert.Contains($"PublicKey = {Examples.HomeSecrets.KeyPair.PublicKeyBase64}", Vps.Files[0].Content);
        Assert.Contains($"PublicKey = {Examples.VpsSecrets.KeyPair.PublicKeyBase64}", Home.Files[0].Content);
        Assert.Contains("Endpoint = 203.0.113.10:51820", Home.Files[0].Content);
    }

    [Fact]
    public void Only_snat_forwards_are_masqueraded_into_the_tunnel()
    {
        var vps = NftRulesets.Vps(Plan).Content;
        // A LAN target is snat too, but masqueraded by the home server.
        var snat = Plan.Settings.Forwards.Single(f => f.ClientIp == ClientIpMode.Snat && !f.IsLanTarget);
        Assert.Contains($"set snat_marks {{\n\t\ttype mark\n\t\telements = {{\n\t\t{ForwardMarks.Text(snat)}\n\t\t}}", vps);
        var masquerades = vps.Split('\n').Where(l => l.Contains("masquerade")).ToList();
        Assert.Equal("\t\toifname \"wg0\" ct mark @snat_marks masquerade", Assert.Single(masquerades, l => !l.Contains("iifname")));
        // The others: what a UDP service at home sends from its own port, out to the internet.
        Assert.All(masquerades.Where(l => l.Contains("iifname")), l => Assert.Contains("udp sport @home_udp_ports masquerade", l));
    }

    [Fact]
    public void Target_ports_are_what_the_home_firewall_opens()
    {
        var home = NftRulesets.Home(Plan).Content;
        Assert.Contains("elements = {\n\t\ttcp . 22,\n\t\ttcp . 80,\n\t\ttcp . 443,\n\t\ttcp . 445,\n\t\ttcp . 27015-27030,\n"
            + "\t\tudp . 25565,\n\t\tudp . 27015-27030\n\t\t}", home);
        Assert.Contains("\t\ttcp . 2222 : 22,\n\t\ttcp . 8445 : 445\n", NftRulesets.Vps(Plan).Content);
    }

    [SkippableTheory]
    [InlineData("vps/wg0-fwd.nft")]
    [InlineData("home/wg0-home.nft")]
    public void Rulesets_are_accepted_by_nft(string name)
    {
        var nft = HostTool.Require("nft", "nftables");
        HostTool.RequireRoot("nft -c checks a ruleset against the kernel");
        using var file = new HostTool.TempFile(PublicArtifacts()[name], ".nft");
        var result = HostTool.Run(nft, ["-c", "-f", file.Path]);
        Assert.True(result.ExitCode == 0, result.Output);
    }

    [SkippableTheory]
    [MemberData(nameof(ScriptNames))]
    public void Scripts_pass_bash_n_and_shellcheck(string name)
    {
        var shellcheck = HostTool.Require("shellcheck", "shellcheck");
        using var file = new HostTool.TempFile(ScriptOf(PublicArtifacts()[name]), ".sh");
        var syntax = HostTool.Run("/bin/bash", ["-n", file.Path]);
        Assert.True(syntax.ExitCode == 0, syntax.Output);
        var lint = HostTool.Run(shellcheck, ["--shell=bash", "--severity=style", file.Path]);
        Assert.True(lint.ExitCode == 0, lint.Output);
    }

    public static TheoryData<string> ScriptSourceNames() => [.. BashScript.SourceNames()];

    [SkippableTheory]
    [MemberData(nameof(ScriptSourceNames))]
    public void Each_bash_file_passes_shellcheck_as_it_stands_in_the_repository(string name)
    {
        var shellcheck = HostTool.Require("shellcheck", "shellcheck");
        using var file = new HostTool.TempFile(BashScript.Source(name), ".sh");
        var lint = HostTool.Run(shellcheck, ["--shell=bash", "--severity=style", file.Path]);
        Assert.True(lint.ExitCode == 0, $"{name}:\n{lint.Output}");
    }

    [Fact]
    public void Every_bash_file_is_embedded()
    {
        var onDisk = Directory.GetFiles(Path.Combine(Examples.RepoRoot, "components/HomeRelay.Core/Hosts/scripts"), "*.sh").Select(Path.GetFileName);
        Assert.Equal(onDisk.Order(StringComparer.Ordinal), BashScript.SourceNames());
    }

    [SkippableFact]
    public void The_home_hook_passes_shellcheck()
    {
        var shellcheck = HostTool.Require("shellcheck", "shellcheck");
        using var file = new HostTool.TempFile(HomeHook.Render(Plan).Content, ".sh");
        var lint = HostTool.Run(shellcheck, ["--severity=style", file.Path]);
        Assert.True(lint.ExitCode == 0, lint.Output);
    }

    [Theory]
    [MemberData(nameof(ScriptNames))]
    public void A_posix_login_shell_hands_bash_exactly_the_rendered_script(string name)
    {
        var command = PublicArtifacts()[name];
        // Swap bash for a function that prints its script argument: what it prints is what bash would have run.
        var probe = "show() { printf %s \"$1\"; }; " + command.Replace("bash -c \"$(cat", "show \"$(cat", StringComparison.Ordinal);
        var result = HostTool.Run("/bin/sh", ["-c", probe]);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(ScriptOf(command).TrimEnd('\n'), result.Stdout);
    }

    [SkippableFact]
    public void Cloud_init_passes_its_schema_check()
    {
        var cloudInit = HostTool.Require("cloud-init", "cloud-init");
        using var file = new HostTool.TempFile(CloudInit.Render(Examples.VpsHostKey), ".yaml");
        var result = HostTool.Run(cloudInit, ["schema", "-c", file.Path]);
        Assert.True(result.ExitCode == 0, result.Output);
    }

    [SkippableFact]
    public void Sshd_accepts_the_hardening_drop_in()
    {
        var sshd = HostTool.Require("sshd", "openssh-server");
        HostTool.RequireRoot("sshd -t reads host keys");
        Directory.CreateDirectory("/run/sshd");
        using var dropIn = new HostTool.TempFile(SshdHardening.Render().Content, ".conf");
        using var hostKey = new HostTool.TempFile(Examples.VpsHostKey.ToOpenSshPrivateKey());
        using var config = new HostTool.TempFile($"Include {dropIn.Path}\nHostKey {hostKey.Path}\n");
        var result = HostTool.Run(sshd, ["-t", "-f", config.Path]);
        Assert.True(result.ExitCode == 0, result.Output);
        var effective = HostTool.Run(sshd, ["-T", "-f", config.Path, "-C", "user=root,host=h,addr=192.0.2.1"]).Stdout;
        Assert.Contains("passwordauthentication no", effective);
        Assert.Contains("permitrootlogin without-password", effective);
    }

    [Fact]
    public void Cloud_init_carries_the_host_key_and_no_wireguard_secret()
    {
        var userData = CloudInit.Render(Examples.VpsHostKey);
        Assert.StartsWith("#cloud-config\n", userData);
        Assert.Contains($"ed25519_public: {Examples.VpsHostKey.PublicKey}", userData);
        Assert.DoesNotContain(Examples.VpsSecrets.KeyPair.PrivateKeyBase64, userData);
        Assert.DoesNotContain(Examples.VpsSecrets.PresharedKey.Base64, userData);
    }

    /// <summary>The script inside a remote command: between the here-document's first line and its delimiter.</summary>
    internal static string ScriptOf(string command)
    {
        var lines = command.Split('\n');
        var end = Array.LastIndexOf(lines, "HOME_RELAY_SCRIPT");
        return string.Join('\n', lines[1..end]) + "\n";
    }
}
