namespace HomeRelay.Core.Settings;

/// <summary>One thing wrong (or risky) with a setting: the key it concerns and what to do about it.</summary>
public sealed record SettingsProblem(string Key, string Message, bool IsWarning = false)
{
    public override string ToString() => $"{(IsWarning ? "warning: " : "")}{SettingKeys.Namespace}:{Key}: {Message}";
}

/// <summary>Thrown when settings cannot be used; its message lists every problem, one per line, and no values of secrets.</summary>
public sealed class InvalidSettingsException(IReadOnlyList<SettingsProblem> problems)
    : Exception(Describe(problems))
{
    public IReadOnlyList<SettingsProblem> Problems { get; } = problems;

    private static string Describe(IReadOnlyList<SettingsProblem> problems) =>
        $"The stack's settings have {problems.Count} problem(s); nothing was created:{Environment.NewLine}"
        + string.Join(Environment.NewLine, problems.Select(p => $"  - {p}"));
}
