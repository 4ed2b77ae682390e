using HomeRelay.Core.Hosts;

namespace HomeRelay.Cli;

/// <summary>
/// Lays out what each host receives: <c>HOST/apply.cmd</c>, <c>apply.stdin</c> (0600, secret), <c>remove.cmd</c>,
/// <c>check.cmd</c> (VPS) and <c>files/</c> with every rendered file at its host path.
/// </summary>
internal sealed class RenderedOutput(string root)
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public string Root { get; } = Path.GetFullPath(root);

    public void WriteHost(string name, HostBundle bundle, PeerSecrets secrets, string? checkCommand)
    {
        var dir = Path.Combine(Root, name);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true); // a file rendered last time but not now must not linger
        }
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "apply.cmd"), bundle.ApplyCommand);
        File.WriteAllText(Path.Combine(dir, "remove.cmd"), bundle.RemoveCommand);
        if (checkCommand is not null)
        {
            File.WriteAllText(Path.Combine(dir, "check.cmd"), checkCommand);
        }
        WriteAllTextSecret(Path.Combine(dir, "apply.stdin"), secrets.ToStdin());
        foreach (var file in bundle.Files)
        {
            var path = Path.Combine(dir, "files", file.Path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, file.Content);
            File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(file.Mode, 8));
        }
    }

    public void WriteSecret(string name, string content) => WriteAllTextSecret(Path.Combine(Root, name), content);

    public void WritePublic(string name, string content) => File.WriteAllText(Path.Combine(Root, name), content);

    /// <summary>Creates the file 0600 before any byte is written, so a secret is never readable by others.</summary>
    public static void WriteAllTextSecret(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = OwnerOnly,
        });
        File.SetUnixFileMode(path, OwnerOnly);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }
}
