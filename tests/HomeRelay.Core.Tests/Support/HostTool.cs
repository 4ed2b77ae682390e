using System.Diagnostics;

namespace HomeRelay.Core.Tests.Support;

/// <summary>Runs a real host tool (wg, nft, shellcheck, ssh-keygen...); tests skip with the reason when it is missing.</summary>
internal static class HostTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => Stdout + Stderr;
    }

    public static string? Find(string name) =>
        new[] { "/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin" }
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    /// <summary>Skips the calling test unless <paramref name="name"/> is installed (CI installs them all).</summary>
    public static string Require(string name, string package)
    {
        var path = Find(name);
        Skip.If(path is null, $"{name} is not installed (apt-get install {package}); CI installs it");
        return path!;
    }

    public static void RequireRoot(string why) =>
        Skip.IfNot(Environment.UserName == "root", $"needs root: {why}");

    public static Result Run(string path, IEnumerable<string> args, string? stdin = null)
    {
        var info = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["LC_ALL"] = "C";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{path} did not finish in 60 s");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A temp file that deletes itself; secret content is created 0600.</summary>
    public sealed class TempFile : IDisposable
    {
        public TempFile(string content, string suffix = "")
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"home-relay-test-{Guid.NewGuid():N}{suffix}");
            using (File.Create(Path)) { }
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(Path, content);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
