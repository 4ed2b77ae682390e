using System.Runtime.CompilerServices;

namespace HomeRelay.Core.Tests.Support;

/// <summary>
/// Byte-for-byte snapshots under tests/HomeRelay.Core.Tests/golden. Set HOME_RELAY_UPDATE_GOLDEN=1 to rewrite them
/// after an intended change, then review the diff with git.
/// </summary>
internal static class Golden
{
    public static void Matches(string name, string actual)
    {
        var dir = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(ThisFile()))!, "golden");
        var path = Path.Combine(dir, name);
        if (Environment.GetEnvironmentVariable("HOME_RELAY_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"No golden file {name}; run the tests once with HOME_RELAY_UPDATE_GOLDEN=1 and review it.");
        var expected = File.ReadAllText(path);
        Assert.True(expected == actual, $"{name} differs from its golden file; if the change is intended, run with HOME_RELAY_UPDATE_GOLDEN=1 and review the diff.\n--- expected\n{expected}\n--- actual\n{actual}");
    }

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
