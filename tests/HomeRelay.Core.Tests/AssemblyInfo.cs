// The tests drive Linux tools (wg, nft, sshd, shellcheck) and write 0600 files.
[assembly: System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
