using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace HomeRelay.Core.Settings;

/// <summary>
/// Reads a <c>Pulumi.&lt;stack&gt;.yaml</c> file the way Pulumi hands config to the program: scalars as text, lists
/// and objects as JSON. Lets the lab and <c>validate</c> use the very file that <c>pulumi up</c> reads.
/// Encrypted values (<c>secure:</c>) are reported as present but are never decrypted here.
/// </summary>
public sealed class StackFile
{
    private readonly Dictionary<string, string> values;

    private StackFile(Dictionary<string, string> values, IReadOnlySet<string> secureKeys)
    {
        this.values = values;
        SecureKeys = secureKeys;
    }

    /// <summary>Keys (without namespace) whose values are encrypted in the file.</summary>
    public IReadOnlySet<string> SecureKeys { get; }

    public string? Get(string key) => values.GetValueOrDefault(key);

    public IEnumerable<string> Keys => values.Keys.Concat(SecureKeys);

    public static StackFile Load(string path) => Parse(File.ReadAllText(path), path);

    public static StackFile Parse(string yaml, string source = "stack file")
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new FormatException($"{source} is not valid YAML: {e.Message}");
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var secure = new HashSet<string>(StringComparer.Ordinal);
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("config"), out var configNode))
        {
            return new StackFile(values, secure);
        }
        if (configNode is not YamlMappingNode config)
        {
            throw new FormatException($"{source}: 'config' is not a mapping of keys to values.");
        }
        var prefix = SettingKeys.Namespace + ":";
        foreach (var (keyNode, valueNode) in config.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue; // provider settings such as hcloud:token belong to Pulumi, not to us
            }
            key = key[prefix.Length..];
            if (valueNode is YamlMappingNode map && map.Children.Count == 1
                && map.Children.ContainsKey(new YamlScalarNode("secure")))
            {
                secure.Add(key);
                continue;
            }
            values[key] = valueNode is YamlScalarNode scalar ? scalar.Value ?? "" : ToJson(valueNode)!.ToJsonString();
        }
        return new StackFile(values, secure);
    }

    /// <summary>Settings problems plus unknown keys (typos), which Pulumi itself would silently ignore.</summary>
    /// <param name="overrides">Values that replace the file's (the lab points homeHost and homeUser at its own hosts).</param>
    public SettingsReader.Result Read(IReadOnlyDictionary<string, string>? overrides = null) =>
        SettingsReader.Read(key => overrides is not null && overrides.TryGetValue(key, out var value) ? value : Get(key), Keys);

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlScalarNode s when s.Style is YamlDotNet.Core.ScalarStyle.Plain && long.TryParse(s.Value, out var n) => JsonValue.Create(n),
        YamlScalarNode s when s.Style is YamlDotNet.Core.ScalarStyle.Plain && s.Value is "true" or "false" => JsonValue.Create(s.Value == "true"),
        YamlScalarNode s when s.Style is YamlDotNet.Core.ScalarStyle.Plain && s.Value is null or "~" or "null" => null,
        YamlScalarNode s => JsonValue.Create(s.Value),
        YamlSequenceNode seq => new JsonArray([.. seq.Children.Select(ToJson)]),
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        _ => throw new FormatException("Unsupported YAML node (anchors and aliases are not supported in stack files)."),
    };
}
