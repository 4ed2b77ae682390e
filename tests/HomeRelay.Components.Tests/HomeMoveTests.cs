using Pulumi;
using Pulumi.Command.Remote;
using static HomeRelay.Components.Tests.TestDeployment;

namespace HomeRelay.Components.Tests;

/// <summary>
/// Moving the home server (<c>homeHost</c>, <c>homeSshPort</c> or <c>homeUser</c>): the tunnel must come off the old host
/// before it goes on the new one.
/// </summary>
/// <remarks>
/// The mock engine neither diffs nor replaces, so these tests assert what drives the real engine, and that is enough:
/// a command's <c>triggers</c> are replace-on-change (the Command SDK adds <c>ReplaceOnChanges = triggers[*]</c> to every
/// command's options, and the provider's schema says the same); a replacement with <c>DeleteBeforeReplace</c> deletes
/// the old resource before it creates the new one; and pulumi-command's Delete (v1.2.1, remote/commandController.go)
/// runs the <em>old state's</em> delete command over the <em>old state's</em> connection. So the old host runs remove,
/// then the new host runs apply.
/// </remarks>
public sealed class HomeMoveTests
{
    private static async Task<object[]> TriggersOf(Run run, string name) =>
        [.. await ValueOf(run.ArgsOf<CommandArgs>(name).Triggers.ToOutput())];

    [Fact]
    public async Task The_home_peers_triggers_are_homeHost_homeSshPort_and_homeUser()
    {
        var run = await RunAsync();
        Assert.Equal(["192.168.1.20", 22, "root"], await TriggersOf(run, "relay-home-peer-apply"));
    }

    [Fact]
    public async Task A_change_of_any_of_them_is_a_change_of_the_home_peers_triggers()
    {
        var before = await TriggersOf(await RunAsync(), "relay-home-peer-apply");
        foreach (var (key, value) in new[] { ("homeHost", "192.168.1.30"), ("homeSshPort", "2222"), ("homeUser", "relay") })
        {
            var config = ExampleConfig();
            config[key] = value;
            Assert.NotEqual(before, await TriggersOf(await RunAsync(config), "relay-home-peer-apply"));
        }
    }

    [Fact]
    public async Task The_home_peer_is_replaced_on_a_trigger_change_and_removed_before_it_is_applied_again()
    {
        var options = Assert.IsType<CustomResourceOptions>((await RunAsync()).OptionsOf("relay-home-peer-apply"));
        Assert.Contains("triggers[*]", options.ReplaceOnChanges);
        Assert.True(options.DeleteBeforeReplace);
    }

    [Fact]
    public async Task The_check_runs_again_after_the_home_peer_was_set_up_anew()
    {
        var run = await RunAsync();
        var homePeerId = await ValueOf(run.Named<Command>("relay-home-peer-apply").Id);
        Assert.Contains(homePeerId, await TriggersOf(run, "relay-check"));
    }
}
