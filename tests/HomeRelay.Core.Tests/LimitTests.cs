using HomeRelay.Core.Settings;
using static HomeRelay.Core.Tests.Support.SettingsCheck;
using K = HomeRelay.Core.Settings.SettingKeys;

namespace HomeRelay.Core.Tests;

/// <summary>The limits that keep the rendered apply inside one SSH command argument (128 KiB on Linux).</summary>
public sealed class LimitTests
{
    /// <summary><paramref name="count"/> tcp forwards of adjacent single ports from 10000 (the firewall merges them into one rule).</summary>
    private static string AdjacentForwards(int count) =>
        "[" + string.Join(",", Enumerable.Range(10000, count).Select(p => $$"""{"protocol":"tcp","port":{{p}}}""")) + "]";

    [Fact]
    public void As_many_forwards_as_the_limit_are_accepted() =>
        Assert.Equal(Limits.MaxForwards, AssertValid(ReadWith((K.Forwards, AdjacentForwards(Limits.MaxForwards)))).Forwards.Length);

    [Fact]
    public void One_forward_more_than_the_limit_is_refused_saying_the_limit() =>
        AssertSingleError(ReadWith((K.Forwards, AdjacentForwards(Limits.MaxForwards + 1))), K.Forwards, $"limit of {Limits.MaxForwards}");

    [Fact]
    public void One_forward_more_than_the_limit_is_refused_saying_the_count() =>
        AssertSingleError(ReadWith((K.Forwards, AdjacentForwards(Limits.MaxForwards + 1))), K.Forwards, $"{Limits.MaxForwards + 1} forwards");

    [Fact]
    public void A_shifted_range_as_long_as_the_translation_limit_is_accepted() =>
        AssertValid(ReadWith((K.Forwards, $$"""[{"protocol":"udp","port":"10001-{{10000 + Limits.MaxTranslatedPorts}}","targetPort":"20001-{{20000 + Limits.MaxTranslatedPorts}}"}]""")));

    [Fact]
    public void A_shifted_range_longer_than_the_translation_limit_is_refused_with_the_count() =>
        AssertSingleError(
            ReadWith((K.Forwards, $$"""[{"protocol":"udp","port":"10000-{{10000 + Limits.MaxTranslatedPorts}}","targetPort":"20000-{{20000 + Limits.MaxTranslatedPorts}}"}]""")),
            K.Forwards, $"{Limits.MaxTranslatedPorts + 1} translated ports, more than the limit of {Limits.MaxTranslatedPorts}");

    [Fact]
    public void Translated_ports_add_up_over_forwards() =>
        AssertSingleError(ReadWith((K.Forwards, """
            [{"protocol":"udp","port":"10000-10599","targetPort":"20000-20599"},{"protocol":"tcp","port":"10000-10599","targetPort":"20000-20599"}]
            """)), K.Forwards, "1200 translated ports");

    [Fact]
    public void Forwards_that_keep_their_ports_translate_none_however_wide() =>
        AssertValid(ReadWith((K.Forwards, """[{"protocol":"udp","port":"10000-40000"},{"protocol":"tcp","port":443,"targetPort":8443}]""")));
}
