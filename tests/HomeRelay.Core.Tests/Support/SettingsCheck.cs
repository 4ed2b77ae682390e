using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Tests.Support;

/// <summary>Reads the example stack with some settings changed, and asserts on the problems found.</summary>
internal static class SettingsCheck
{
    /// <summary>The example stack with <paramref name="changes"/> (a null value removes the key).</summary>
    public static SettingsReader.Result ReadWith(params (string Key, string? Value)[] changes) =>
        SettingsReader.Read(Examples.DevWith(changes));

    /// <summary>The settings were refused for exactly one error, on <paramref name="key"/>, whose message mentions <paramref name="mentions"/>.</summary>
    public static SettingsProblem AssertSingleError(SettingsReader.Result result, string key, string mentions)
    {
        Assert.Null(result.Settings);
        var error = Assert.Single(result.Errors);
        Assert.Equal(key, error.Key);
        Assert.Contains(mentions, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith($"home-relay:{key}: ", error.ToString());
        return error;
    }

    /// <summary>The settings were accepted with exactly one warning, on <paramref name="key"/>.</summary>
    public static SettingsProblem AssertSingleWarning(SettingsReader.Result result, string key, string mentions)
    {
        Assert.NotNull(result.Settings);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(key, warning.Key);
        Assert.Contains(mentions, warning.Message, StringComparison.OrdinalIgnoreCase);
        return warning;
    }

    /// <summary>The settings were accepted without any problem.</summary>
    public static RelaySettings AssertValid(SettingsReader.Result result)
    {
        Assert.Empty(result.Problems);
        return result.SettingsOrThrow();
    }
}
