using System.Globalization;

namespace HomeRelay.Core.Settings;

/// <summary>A port or an inclusive range of ports: <c>443</c>, <c>27015-27030</c>. Sorted by its first port.</summary>
public readonly record struct PortRange : IComparable<PortRange>
{
    public PortRange(int first, int last)
    {
        if (first is < 1 or > 65535 || last is < 1 or > 65535 || first > last)
        {
            throw new ArgumentOutOfRangeException(nameof(first), $"{first}-{last} is not a port range inside 1-65535.");
        }
        First = first;
        Last = last;
    }

    public PortRange(int port) : this(port, port)
    {
    }

    public int First { get; }
    public int Last { get; }

    public int Count => Last - First + 1;
    public bool IsSingle => First == Last;

    public bool Contains(int port) => port >= First && port <= Last;

    public bool Overlaps(PortRange other) => First <= other.Last && other.First <= Last;

    /// <summary>The port that <paramref name="port"/> of this range maps to in <paramref name="target"/> (same offset).</summary>
    public int MapTo(PortRange target, int port) => target.First + (port - First);

    /// <summary>Lets a single port be written where a range is expected.</summary>
    public static implicit operator PortRange(int port) => new(port);

    public int CompareTo(PortRange other) => (First, Last).CompareTo((other.First, other.Last));

    /// <summary>As nftables, Hetzner and the settings write it: <c>443</c> or <c>27015-27030</c>.</summary>
    public override string ToString() => IsSingle
        ? First.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{First}-{Last}");
}
