using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Tests;

public sealed class StackFileTests
{
    private const string Minimal = """
        config:
          hcloud:token:
            secure: v1:abc
          home-relay:sshPrivateKey:
            secure: v1:def
          home-relay:mtu: 1400
          home-relay:forwards:
            - protocol: tcp
              port: 443
              targetPort: "8443"
        """;

    [Fact]
    public void Lists_become_json_and_scalars_text_as_pulumi_hands_them_over()
    {
        var stack = StackFile.Parse(Minimal);
        Assert.Equal("1400", stack.Get("mtu"));
        Assert.Equal("""[{"protocol":"tcp","port":443,"targetPort":"8443"}]""", stack.Get("forwards"));
    }

    [Fact]
    public void Encrypted_values_are_known_but_never_read_and_provider_keys_are_ignored()
    {
        var stack = StackFile.Parse(Minimal);
        Assert.Equal(["sshPrivateKey"], stack.SecureKeys);
        Assert.Null(stack.Get("sshPrivateKey"));
        Assert.DoesNotContain("token", stack.Keys);
    }

    [Fact]
    public void A_misspelt_setting_is_refused_by_name()
    {
        var result = StackFile.Parse(Minimal + "\n  home-relay:mtuu: 1400\n").Read();
        Assert.Null(result.Settings);
        Assert.Contains(result.Errors, e => e.Key == "mtuu" && e.Message.Contains("not a home-relay setting"));
    }

    [Fact]
    public void Broken_yaml_is_refused_with_the_file_name()
    {
        var e = Assert.Throws<FormatException>(() => StackFile.Parse("config: [\n", "Pulumi.bad.yaml"));
        Assert.StartsWith("Pulumi.bad.yaml is not valid YAML", e.Message);
    }
}
