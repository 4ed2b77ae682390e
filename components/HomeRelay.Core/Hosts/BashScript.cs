using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// Assembles a script that runs on a host from the bash files in <c>Hosts/scripts/</c> (embedded resources): a
/// header of <c>readonly</c> settings, then the files, each as it stands in the repository. No bash logic lives in C#;
/// the only text made here is the settings and, for apply, the rendered files as here-documents.
/// </summary>
public sealed partial class BashScript
{
    /// <summary>Ends each file's here-document; a file containing this line is refused.</summary>
    public const string FileDelimiter = "HOME_RELAY_FILE";

    private readonly StringBuilder text = new();

    public BashScript(string summary)
    {
        text.Append("#!/bin/bash\n");
        foreach (var line in summary.Split('\n'))
        {
            text.Append("# ").Append(line).Append('\n');
        }
    }

    /// <summary>Adds <c>readonly NAME=value</c>.</summary>
    public BashScript Setting(string name, object value)
    {
        text.Append("readonly ").Append(CheckName(name)).Append('=').Append(Quote(Format(value))).Append('\n');
        return this;
    }

    /// <summary>Adds <c>readonly NAME=(a b c)</c>.</summary>
    public BashScript Setting(string name, IEnumerable<object> values)
    {
        var items = values.Select(v => Quote(Format(v))).ToList();
        text.Append("readonly ").Append(CheckName(name)).Append("=(").AppendJoin(' ', items).Append(")\n");
        return this;
    }

    /// <summary>Adds a bash file of <c>Hosts/scripts/</c>, as it stands, without its <c>#!</c> line.</summary>
    public BashScript Part(string fileName)
    {
        var source = Source(fileName);
        var body = source.StartsWith("#!", StringComparison.Ordinal) ? source[(source.IndexOf('\n') + 1)..] : source;
        text.Append('\n').Append("# ---- ").Append(fileName).Append('\n').Append(body);
        return this;
    }

    /// <summary>
    /// Adds <c>install_rendered_files</c>: one <c>install_file PATH MODE</c> call per file with its content as a quoted
    /// here-document, so the script text (and a preview's diff of it) shows every byte that lands on the host.
    /// </summary>
    public BashScript RenderedFiles(IEnumerable<HostFile> files)
    {
        text.Append("\n# ---- the files this run installs, rendered by home-relay\n")
            .Append("install_rendered_files() {\n");
        foreach (var file in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            if (file.Content.Split('\n').Contains(FileDelimiter))
            {
                throw new InvalidOperationException($"{file.Path} contains the line {FileDelimiter}, which would end its here-document.");
            }
            if (!file.Content.EndsWith('\n'))
            {
                throw new InvalidOperationException($"{file.Path} does not end with a newline; its here-document would add one.");
            }
            text.Append("\tinstall_file ").Append(Quote(file.Path)).Append(' ').Append(file.Mode)
                .Append(" <<'").Append(FileDelimiter).Append("'\n")
                .Append(file.Content)
                .Append(FileDelimiter).Append('\n');
        }
        text.Append("}\n");
        return this;
    }

    public override string ToString() => text.ToString();

    /// <summary>The text of a bash file of <c>Hosts/scripts/</c>, e.g. for shellcheck in the tests.</summary>
    public static string Source(string fileName)
    {
        var name = $"HomeRelay.Core.Hosts.scripts.{fileName}";
        using var stream = typeof(BashScript).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"No embedded script {name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Replace("\r\n", "\n");
    }

    /// <summary>Every bash file of <c>Hosts/scripts/</c>.</summary>
    public static IEnumerable<string> SourceNames() => typeof(BashScript).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith("HomeRelay.Core.Hosts.scripts.", StringComparison.Ordinal))
        .Select(n => n["HomeRelay.Core.Hosts.scripts.".Length..])
        .Order(StringComparer.Ordinal);

    private static string Format(object value) => value switch
    {
        string s => s,
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Bare when it cannot be misread by bash, else single-quoted.</summary>
    internal static string Quote(string value) =>
        value.Length > 0 && SafeWord().IsMatch(value) ? value : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string CheckName(string name) => SettingName().IsMatch(name)
        ? name
        : throw new ArgumentException($"'{name}' is not an upper-case bash setting name.", nameof(name));

    [GeneratedRegex("^[A-Za-z0-9_./:,+@%=-]+$")]
    private static partial Regex SafeWord();

    [GeneratedRegex("^[A-Z][A-Z0-9_]*$")]
    private static partial Regex SettingName();
}
