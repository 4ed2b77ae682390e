using HomeRelay.Cli;
using HomeRelay.Core.Tests.Support;

namespace HomeRelay.Core.Tests;

/// <summary><c>home-relay-render</c> as the lab runs it: the example stack, a state and an output directory of its own.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("home-relay-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Out => Path.Combine(dir, "out");

    /// <summary>The example stack file with <paramref name="extraLines"/> appended under <c>config:</c>.</summary>
    private string StackWith(string extraLines = "")
    {
        var path = Path.Combine(dir, "Pulumi.test.yaml");
        File.WriteAllText(path, File.ReadAllText(Examples.DevStackPath).TrimEnd('\n') + "\n" + extraLines);
        return path;
    }

    private (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CommandLine.RunAsync(args, stdout, stderr).GetAwaiter().GetResult();
        return (code, stdout.ToString(), stderr.ToString());
    }

    private (int Code, string Stdout, string Stderr) Render(string stack, params string[] more) => Run(
    [
        "render", "--stack", stack, "--state", Path.Combine(dir, "state"), "--vps-address", Examples.VpsEndpoint,
        "--home-host", "100.64.0.2", "--out", Out, .. more,
    ]);

    [Fact]
    public void Render_refuses_a_misspelt_setting_as_validate_does()
    {
        var (code, _, stderr) = Render(StackWith("  home-relay:mtuu: 1280\n"));
        Assert.Equal(CommandLine.InvalidSettings, code);
        Assert.Contains("home-relay:mtuu: is not a home-relay setting", stderr);
    }

    [Fact]
    public void Render_writes_nothing_when_it_refuses_the_settings()
    {
        Render(StackWith("  home-relay:mtuu: 1280\n"));
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Validate_refuses_a_misspelt_setting()
    {
        var (code, _, stderr) = Run("validate", "--stack", StackWith("  home-relay:mtuu: 1280\n"));
        Assert.Equal(CommandLine.InvalidSettings, code);
        Assert.Contains("home-relay:mtuu:", stderr);
    }

    [Fact]
    public void Render_renders_the_example_stack_with_the_home_host_override()
    {
        var (code, stdout, stderr) = Render(StackWith());
        Assert.True(code == 0, stderr);
        Assert.Contains("rendered 7 forward(s)", stdout);
    }

    [Fact]
    public void The_home_user_override_makes_the_home_commands_run_through_sudo()
    {
        var (code, _, stderr) = Render(StackWith(), "--home-user", "relay");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("sudo ", File.ReadAllText(Path.Combine(Out, "home", "apply.cmd")));
    }

    [Fact]
    public void The_home_user_override_is_validated_like_the_setting()
    {
        var (code, _, stderr) = Render(StackWith(), "--home-user", "Not A User");
        Assert.Equal(CommandLine.InvalidSettings, code);
        Assert.Contains("home-relay:homeUser:", stderr);
    }

    [Fact]
    public void A_misspelt_option_is_a_usage_error_naming_it()
    {
        var (code, _, stderr) = Render(StackWith(), "--home-usr", "relay");
        Assert.Equal(CommandLine.Usage, code);
        Assert.Contains("--home-usr", stderr);
    }

    [Fact]
    public void Status_prints_the_remote_command_of_relay_status()
    {
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--vps-address", Examples.VpsEndpoint);
        Assert.True(code == 0, stderr);
        Assert.StartsWith("bash -c \"$(cat <<'HOME_RELAY_SCRIPT'\n#!/bin/bash\n# home-relay status (VPS)", stdout);
        Assert.Contains("readonly OUTPUT=text\n", stdout);
        Assert.EndsWith("HOME_RELAY_SCRIPT\n)\" home-relay-status\n", stdout);
    }

    [Fact]
    public void Status_with_json_renders_the_json_report()
    {
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--json", "--vps-address", Examples.VpsEndpoint);
        Assert.True(code == 0, stderr);
        Assert.Contains("readonly OUTPUT=json\n", stdout);
    }

    [Fact]
    public void Status_refuses_an_address_that_is_not_ipv4_as_a_usage_error()
    {
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--vps-address", "relay.example.com");
        Assert.Equal(CommandLine.Usage, code);
        Assert.Empty(stdout);
        Assert.Contains("--vps-address: 'relay.example.com' is not an IPv4 address", stderr);
    }

    [Fact]
    public void Status_refuses_a_short_form_ipv4_address_that_dotnet_would_read_as_another()
    {
        // IPAddress.TryParse takes "203.0.113" for 203.0.0.113: the status would then check the wrong address.
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--vps-address", "203.0.113");
        Assert.Equal(CommandLine.Usage, code);
        Assert.Empty(stdout);
        Assert.Contains("--vps-address: '203.0.113' is not an IPv4 address", stderr);
    }

    [Fact]
    public void Status_takes_the_relays_ipv6_address_in_its_compressed_form()
    {
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--vps-address", Examples.VpsEndpoint,
            "--vps-address6", "2001:DB8:5:0:0:0:0:1");
        Assert.True(code == 0, stderr);
        Assert.Contains("readonly RELAY_ADDRESS6=2001:db8:5::1\n", stdout);
    }

    [Fact]
    public void Status_without_an_ipv6_address_expects_no_aaaa_record()
    {
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--vps-address", Examples.VpsEndpoint);
        Assert.True(code == 0, stderr);
        Assert.Contains("readonly RELAY_ADDRESS6=''\n", stdout);
    }

    [Fact]
    public void Status_refuses_an_ipv6_address_that_is_not_one_as_a_usage_error()
    {
        var (code, stdout, stderr) = Run("status", "--stack", StackWith(), "--vps-address", Examples.VpsEndpoint,
            "--vps-address6", Examples.VpsEndpoint);
        Assert.Equal(CommandLine.Usage, code);
        Assert.Empty(stdout);
        Assert.Contains("--vps-address6: '203.0.113.10' is not an IPv6 address", stderr);
    }

    [Fact]
    public void Status_refuses_invalid_settings_printing_nothing()
    {
        var (code, stdout, _) = Run("status", "--stack", StackWith("  home-relay:mtuu: 1280\n"), "--vps-address", Examples.VpsEndpoint);
        Assert.Equal(CommandLine.InvalidSettings, code);
        Assert.Empty(stdout);
    }
}
