using HomeRelay.Core.Settings;
using HomeRelay.Core.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace HomeRelay.Core.Tests;

/// <summary>Pulumi.yaml declares the settings the program reads, in the form Pulumi's project schema accepts.</summary>
public sealed class ProjectFileTests
{
    private static readonly string[] SimpleTypes = ["string", "integer", "boolean", "array"];

    /// <summary>
    /// Settings Pulumi.yaml cannot declare: forwards is a list of objects (array items are string, integer, boolean or
    /// array), and homeLan is one network or a list (a declaration has one type, and Pulumi checks the stack against it).
    /// </summary>
    private static readonly string[] Undeclared = [SettingKeys.Forwards, SettingKeys.HomeLan];

    private static YamlMappingNode Declarations()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Examples.RepoRoot, "Pulumi.yaml"))));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        Assert.Equal("dotnet", ((YamlScalarNode)((YamlMappingNode)root["runtime"])["name"]).Value);
        Assert.Equal("infra/", ((YamlScalarNode)root["main"]).Value);
        return (YamlMappingNode)root["config"];
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? ((YamlScalarNode)value).Value : null;

    [Fact]
    public void Every_setting_but_the_undeclarable_ones_is_declared_unnamespaced_with_a_type_pulumi_accepts()
    {
        var declared = Declarations().Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => (YamlMappingNode)kv.Value);
        Assert.Equal(SettingKeys.All.Except(Undeclared).Order(), declared.Keys.Order());
        foreach (var (key, declaration) in declared)
        {
            Assert.Contains(Scalar(declaration, "type"), SimpleTypes);
            Assert.False(string.IsNullOrWhiteSpace(Scalar(declaration, "description")), $"{key} has no description");
            if (Scalar(declaration, "type") == "array")
            {
                Assert.Contains(Scalar((YamlMappingNode)declaration["items"], "type"), SimpleTypes);
            }
        }
        Assert.Equal("true", Scalar(declared[SettingKeys.SshPrivateKey], "secret"));
    }

    public static TheoryData<string> UndeclaredKeys => new(Undeclared);

    [Theory]
    [MemberData(nameof(UndeclaredKeys))]
    public void An_undeclared_setting_is_explained_in_a_comment_of_pulumi_yaml(string key) =>
        Assert.Contains(File.ReadLines(Path.Combine(Examples.RepoRoot, "Pulumi.yaml")), line => line.TrimStart().StartsWith($"# {key}:", StringComparison.Ordinal));

    [Theory]
    [InlineData(SettingKeys.Location, SettingKeys.Defaults.Location)]
    [InlineData(SettingKeys.ServerType, SettingKeys.Defaults.ServerType)]
    [InlineData(SettingKeys.Image, SettingKeys.Defaults.Image)]
    [InlineData(SettingKeys.DnsTtl, "60")]
    [InlineData(SettingKeys.HomeSshPort, "22")]
    [InlineData(SettingKeys.HomeUser, SettingKeys.Defaults.HomeUser)]
    [InlineData(SettingKeys.TunnelCidr, SettingKeys.Defaults.TunnelCidr)]
    [InlineData(SettingKeys.Ipv6, "true")]
    [InlineData(SettingKeys.TunnelIpv6Cidr, SettingKeys.Defaults.TunnelIpv6Cidr)]
    [InlineData(SettingKeys.WireGuardPort, "51820")]
    [InlineData(SettingKeys.Mtu, "1380")]
    [InlineData(SettingKeys.Keepalive, "10")]
    [InlineData(SettingKeys.KeyRotation, SettingKeys.Defaults.KeyRotation)]
    public void Declared_defaults_are_the_programs_defaults(string key, string expected) =>
        Assert.Equal(expected, Scalar((YamlMappingNode)Declarations()[key], "default"));
}

/// <summary>The README's settings table has a row for every setting the program reads.</summary>
public sealed class ReadmeSettingsTableTests
{
    public static TheoryData<string> Keys => new(SettingKeys.All);

    [Theory]
    [MemberData(nameof(Keys))]
    public void The_readme_settings_table_has_a_row_for_the_setting(string key) =>
        Assert.Contains(File.ReadLines(Path.Combine(Examples.RepoRoot, "README.md")), line => line.StartsWith($"| `{key}` |", StringComparison.Ordinal));
}
