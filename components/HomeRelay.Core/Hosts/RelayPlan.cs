using HomeRelay.Core.Keys;
using HomeRelay.Core.Settings;

namespace HomeRelay.Core.Hosts;

/// <summary>
/// Everything the host files are rendered from that is not secret: the settings, both public keys and the VPS's
/// public address (known once the server exists). Secrets travel separately, in <see cref="PeerSecrets"/>.
/// </summary>
public sealed record RelayPlan
{
    public RelayPlan(RelaySettings settings, string vpsPublicKey, string homePublicKey, string vpsEndpoint)
    {
        WireGuardKeyPair.DecodeKey(vpsPublicKey, "VPS public key");
        WireGuardKeyPair.DecodeKey(homePublicKey, "home public key");
        if (!System.Net.IPAddress.TryParse(vpsEndpoint, out _) && !SettingsReader.IsHostName(vpsEndpoint))
        {
            throw new ArgumentException($"The VPS endpoint '{vpsEndpoint}' is neither an IP address nor a host name.", nameof(vpsEndpoint));
        }
        Settings = settings;
        VpsPublicKey = vpsPublicKey;
        HomePublicKey = homePublicKey;
        VpsEndpoint = vpsEndpoint;
    }

    public RelaySettings Settings { get; }
    public string VpsPublicKey { get; }
    public string HomePublicKey { get; }

    /// <summary>Where the home peer dials: the VPS's public IPv4 address.</summary>
    public string VpsEndpoint { get; }

    public TunnelSettings Tunnel => Settings.Tunnel;
}

/// <summary>
/// The secret half of one peer's configuration. Rendered only into the stdin of the apply script, never into a
/// command line or a file other than the 0600 key files.
/// </summary>
public sealed class PeerSecrets(WireGuardKeyPair keyPair, PresharedKey presharedKey)
{
    public WireGuardKeyPair KeyPair { get; } = keyPair;
    public PresharedKey PresharedKey { get; } = presharedKey;

    /// <summary>What the apply script reads on stdin: <c>name value</c> lines. Secret.</summary>
    public string ToStdin() =>
        $"private_key {KeyPair.PrivateKeyBase64}\npreshared_key {PresharedKey.Base64}\n";

    public override string ToString() => $"PeerSecrets(public {KeyPair.PublicKeyBase64})";
}
