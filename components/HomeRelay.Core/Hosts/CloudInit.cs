using System.Text;
using HomeRelay.Core.Keys;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// The VPS's first-boot user data. It carries the SSH host key that the program made, so that every remote
/// command can pin it from the very first connection; that makes the whole document a secret.
/// </summary>
public static class CloudInit
{
    /// <summary>What the VPS needs before the first remote command: WireGuard tools and nftables.</summary>
    public static readonly IReadOnlyList<string> Packages = ["nftables", "unattended-upgrades", "wireguard-tools"];

    public static string Render(SshEd25519Key hostKey)
    {
        var text = new StringBuilder()
            .AppendLine("#cloud-config")
            .AppendLine("# Managed by home-relay. Changing this document replaces the server (its address is kept).")
            .AppendLine("ssh_deletekeys: true")
            .AppendLine("ssh_keys:")
            .AppendLine("  ed25519_private: |");
        foreach (var line in hostKey.ToOpenSshPrivateKey().TrimEnd('\n').Split('\n'))
        {
            text.AppendLine($"    {line}");
        }
        text.AppendLine($"  ed25519_public: {hostKey.PublicKey}")
            .AppendLine("disable_root: false")
            .AppendLine("ssh_pwauth: false")
            .AppendLine("package_update: true")
            .AppendLine("packages:");
        foreach (var package in Packages)
        {
            text.AppendLine($"  - {package}");
        }
        text.AppendLine("write_files:");
        AppendFile(text, SshdHardening.Render());
        AppendFile(text, new HostFile("/etc/apt/apt.conf.d/20auto-upgrades", "0644",
            "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"));
        return WireGuardConfigs.Lf(text);
    }

    private static void AppendFile(StringBuilder text, HostFile file)
    {
        text.AppendLine($"  - path: {file.Path}")
            .AppendLine($"    permissions: '{file.Mode}'")
            .AppendLine("    owner: root:root")
            .AppendLine("    content: |");
        foreach (var line in file.Content.TrimEnd('\n').Split('\n'))
        {
            text.AppendLine($"      {line}");
        }
    }
}
