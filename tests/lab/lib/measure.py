#!/usr/bin/python3
"""Measuring tools for the lab's keepalive and MTU benchmarks and check 4 (standard library and PyYAML only).

  measure.py setting STACK KEY DEFAULT   the stack's home-relay:KEY, or DEFAULT
  measure.py blob PORT                   serve over IPv4 and IPv6: a TCP client sends "N\\n" and gets N bytes back
  measure.py fetch HOST PORT BYTES TIMEOUT
                                         download BYTES from a blob server within TIMEOUT seconds; prints JSON
                                         {"ok", "bytes", "seconds"} (ok false: a stall or an error, "error" says which)
  measure.py recover HOST PORT WANT SINCE_MS TIMEOUT [INTERVAL]
                                         starts a TCP probe every INTERVAL seconds (default 0.05), each in its own
                                         thread with a 2 s timeout, until one is answered with WANT (the address the
                                         service saw). Prints JSON {"ms": time of that answer - SINCE_MS (epoch ms),
                                         "first_probe_ms": when the first probe went out, "probes": how many}.
                                         Exit 1 after TIMEOUT seconds without such an answer.
  measure.py counters                    reads `nft -j list counters ...` on stdin: "NAME PACKETS BYTES" per counter

The probes overlap, so the time of recovery is known to about INTERVAL plus one round trip, whatever the timeout of
a probe whose SYN was lost. Every network operation has a timeout; the lab points these only at its own namespaces.
"""
import json
import socket
import struct
import sys
import threading
import time


def cmd_setting(path, key, default):
    import yaml

    with open(path, encoding="utf-8") as f:
        config = (yaml.safe_load(f) or {}).get("config") or {}
    value = config.get("home-relay:" + key)
    print(default if value is None else str(value).lower() if isinstance(value, bool) else value)


def serve_blob(conn):
    # A download stalled at a black hole leaves megabytes unsent: closed normally (or with the process killed), the
    # socket would live on as an orphan retransmitting them for minutes, and with it the host's network namespace,
    # past the lab's teardown. Linger 0 makes every close an abort (RST), which frees it at once.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with conn:
        conn.settimeout(5)
        request = b""
        while not request.endswith(b"\n") and len(request) < 32:
            chunk = conn.recv(32)
            if not chunk:
                return
            request += chunk
        left = int(request.strip() or 0)
        block = b"x" * 65536
        conn.settimeout(30)
        while left > 0:
            n = conn.send(block[: min(left, len(block))])
            left -= n
        # Sent is not delivered: wait for the client to close after reading it all, then abort.
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass


def cmd_blob(port):
    listeners = []
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((address, int(port)))
        s.listen(64)
        listeners.append(s)

    def accept(s):
        while True:
            conn, _ = s.accept()
            threading.Thread(target=lambda: guarded(serve_blob, conn), daemon=True).start()

    for s in listeners:
        threading.Thread(target=accept, args=(s,), daemon=True).start()
    print("serving blob", port, flush=True)
    while True:
        time.sleep(3600)


def guarded(fn, *args):
    try:
        fn(*args)
    except (OSError, ValueError) as e:
        print("error:", e, flush=True)


def cmd_fetch(host, port, size, timeout):
    size, deadline = int(size), time.monotonic() + float(timeout)
    start, got, error = time.monotonic(), 0, None
    try:
        with socket.create_connection((host, int(port)), timeout=float(timeout)) as s:
            s.sendall(f"{size}\n".encode())
            while got < size:
                left = deadline - time.monotonic()
                if left <= 0:
                    error = "timeout"
                    break
                s.settimeout(left)
                chunk = s.recv(262144)
                if not chunk:
                    error = "closed early"
                    break
                got += len(chunk)
    except socket.timeout:
        error = "timeout"
    except OSError as e:
        error = f"{e.__class__.__name__}: {e}"
    result = {"ok": got >= size, "bytes": got, "seconds": round(time.monotonic() - start, 3)}
    if error and got < size:
        result["error"] = error
    print(json.dumps(result))
    return 0


def cmd_recover(host, port, want, since_ms, timeout, interval="0.05"):
    since, interval = int(since_ms) / 1000, float(interval)
    done, answers, lock = threading.Event(), [], threading.Lock()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def probe():
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect((host, int(port)))
                data = s.recv(256)
            if data.decode(errors="replace").strip() == want:
                with lock:
                    answers.append(time.time())
                done.set()
        except OSError:
            pass

    first, probes, deadline = time.time(), 0, time.monotonic() + float(timeout)
    while not done.is_set() and time.monotonic() < deadline:
        threading.Thread(target=probe, daemon=True).start()
        probes += 1
        done.wait(interval)
    if not answers:
        print(json.dumps({"ms": None, "probes": probes}))
        return 1
    print(json.dumps({"ms": round((min(answers) - since) * 1000), "first_probe_ms": round((first - since) * 1000),
                      "probes": probes}))
    return 0


def cmd_counters():
    for item in json.load(sys.stdin)["nftables"]:
        c = item.get("counter")
        if c:
            print(c["name"], c["packets"], c["bytes"])


def main(argv):
    commands = {"setting": cmd_setting, "blob": cmd_blob, "fetch": cmd_fetch, "recover": cmd_recover,
                "counters": cmd_counters}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 64
    return commands[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
