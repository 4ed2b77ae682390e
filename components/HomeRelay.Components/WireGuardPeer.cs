using Pulumi;
using Pulumi.Command.Remote;
using Pulumi.Command.Remote.Inputs;

namespace HomeRelay.Components;

public sealed class WireGuardPeerArgs
{
    /// <summary>How to reach the host; its <c>HostKey</c> must be set, so the host is verified.</summary>
    public required Input<ConnectionArgs> Connection { get; init; }

    /// <summary>The core's apply command (no secret inside; its text is what a preview diff shows).</summary>
    public required Input<string> ApplyCommand { get; init; }

    /// <summary>The core's remove command, run by <c>pulumi destroy</c> and before a replacement.</summary>
    public required Input<string> RemoveCommand { get; init; }

    /// <summary>Secret: the key material the apply script reads on stdin.</summary>
    public required Input<string> Secrets { get; init; }

    /// <summary>Values whose change must re-run apply from scratch (e.g. the server's id after a replacement).</summary>
    public InputList<object> Triggers { get; init; } = [];

    /// <summary>What must be configured first. Set on the command itself: children do not inherit a component's DependsOn.</summary>
    public InputList<Resource> DependsOn { get; init; } = [];

    /// <summary>When this resource is deleted, skip remove (the host goes with it). Not inherited by children either.</summary>
    public Resource? DeletedWith { get; init; }
}

/// <summary>
/// One end of the tunnel, configured over SSH: apply on create and update (it is idempotent), remove on delete.
/// Secrets travel only on stdin; stdout and stderr are kept secret and out of the log.
/// </summary>
public sealed class WireGuardPeer : ComponentResource
{
    [Output("applied")]
    public Output<string> Applied { get; private set; }

    internal Command Command { get; }

    public WireGuardPeer(string name, WireGuardPeerArgs args, ComponentResourceOptions? options = null)
        : base("home-relay:index:WireGuardPeer", name, ResourceArgs.Empty, options)
    {
        Command = new Command($"{name}-apply", new CommandArgs
        {
            Connection = args.Connection,
            Create = args.ApplyCommand,
            Update = args.ApplyCommand,
            Delete = args.RemoveCommand,
            Stdin = Output.CreateSecret(args.Secrets.ToOutput()),
            // Stdout is streamed to the log even when secret; nothing the scripts print should be, but keep it out.
            Logging = Logging.None,
            AddPreviousOutputInEnv = false,
            Triggers = args.Triggers,
        }, new CustomResourceOptions
        {
            Parent = this,
            DependsOn = args.DependsOn,
            DeletedWith = args.DeletedWith,
            AdditionalSecretOutputs = { "stdout", "stderr" },
            // Remove the old configuration before the new one is applied to the (possibly same) host.
            DeleteBeforeReplace = true,
        });
        Applied = Command.Id;
        RegisterOutputs();
    }
}
