using HomeRelay.Core.Keys;
using HomeRelay.Core.Settings;
using Pulumi;

namespace HomeRelay.Components;

/// <summary>Reads the stack's settings from Pulumi config and refuses bad ones before any resource exists.</summary>
public static class StackSettings
{
    public static RelaySettings Read()
    {
        var config = new Config(SettingKeys.Namespace);
        var result = SettingsReader.Read(config.Get, StackKeys());
        foreach (var warning in result.Warnings)
        {
            Log.Warn(warning.ToString());
        }
        if (result.Settings is null)
        {
            // RunException prints its message without a stack trace: the user sees only the list of fixes.
            throw new RunException(new InvalidSettingsException(result.Errors.ToList()).Message);
        }
        return result.Settings;
    }

    /// <summary>
    /// The keys of our namespace that the stack sets. Pulumi hands the program its whole config as JSON in
    /// PULUMI_CONFIG (the SDK's Config reads the same variable) but offers no API to list it.
    /// </summary>
    private static IEnumerable<string> StackKeys()
    {
        var json = System.Environment.GetEnvironmentVariable("PULUMI_CONFIG");
        if (string.IsNullOrEmpty(json))
        {
            return [];
        }
        var prefix = SettingKeys.Namespace + ":";
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.EnumerateObject()
            .Select(p => p.Name)
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k[prefix.Length..])
            .ToList();
    }

    /// <summary>The admin's SSH private key (secret) and its public half, read out of the key file (not secret).</summary>
    public static (Output<string> PrivateKey, Output<string> PublicKey) AdminSshKey()
    {
        var config = new Config(SettingKeys.Namespace);
        var privateKey = config.GetSecret(SettingKeys.SshPrivateKey)
            ?? throw new RunException(
                $"{SettingKeys.Namespace}:{SettingKeys.SshPrivateKey}: is not set; set the key that logs in to both hosts: "
                + $"pulumi config set --secret {SettingKeys.SshPrivateKey} < ~/.ssh/id_ed25519");
        var publicKey = Output.Unsecret(privateKey.Apply(key =>
        {
            try
            {
                return OpenSshPrivateKey.PublicKeyOf(key).ToString();
            }
            catch (FormatException e)
            {
                throw new RunException($"{SettingKeys.Namespace}:{SettingKeys.SshPrivateKey}: {e.Message}");
            }
        }));
        return (privateKey, publicKey);
    }
}
