using HomeRelay.Cli;

// Renders 0600 files with Unix modes; the lab and the hosts it feeds are Linux.
[assembly: System.Runtime.Versioning.UnsupportedOSPlatform("windows")]

return await CommandLine.RunAsync(args, Console.Out, Console.Error);
