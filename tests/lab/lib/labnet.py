#!/usr/bin/python3
"""Small network tools for the home-relay lab (standard library and PyYAML only).

  labnet.py forwards STACK          one line per forward: PROTO PORT TARGET_PORT CLIENT_IP
  labnet.py tunnel STACK            VPS_ADDRESS HOME_ADDRESS of the tunnel
  labnet.py bad-stack IN OUT        IN with errors the core must refuse: forwards[0].port 22, mtu 9000
  labnet.py add-forwards IN OUT PORT   IN with tcp and udp forwards of PORT added (a user adding a port)
  labnet.py home-user IN OUT USER   IN with homeUser set to USER (the boot lab's home operator, not root)
  labnet.py cloud-packages USERDATA the packages: list of a cloud-config document, one per line
  labnet.py cloud-finished STATUS UPTIME EPOCH   when cloud-init finished its last stage (modules-final), in ms
                                    since the epoch (UPTIME and EPOCH: one instant on the host, for a status.json in uptime)
  labnet.py cloud-errors RESULT STATUS   cloud-init's errors and recoverable errors from /run/cloud-init's
                                    result.json and status.json; exit 1 when there is any
  labnet.py serve [--fallback ADDR] [--udp-reply plain|pktinfo] SPEC...
                                    answer each connection/datagram with the peer's address (SPEC: tcp:80, udp:53)
  labnet.py probe PROTO HOST PORT   print what the service at HOST:PORT answers; exit 1 when nothing does
  labnet.py latency HOST PORT N     median and all TCP connect times in milliseconds, as JSON

Every network operation has a timeout; the lab only points these at addresses inside its own namespaces.
"""
import ipaddress
import json
import selectors
import socket
import statistics
import struct
import sys
import time

IP_FREEBIND = 15  # from <linux/in.h>; not exported by the socket module
IP_PKTINFO = 8


def load_stack(path):
    import yaml  # Debian's python3-yaml; imported here so that serve/probe need nothing but the standard library

    with open(path, encoding="utf-8") as f:
        config = (yaml.safe_load(f) or {}).get("config") or {}
    return config


def cmd_forwards(path):
    for f in load_stack(path).get("home-relay:forwards") or []:
        port = int(f["port"])
        target = int(f.get("targetPort") or port)
        print(f["protocol"].lower(), port, target, (f.get("clientIp") or "transparent").lower())


def cmd_tunnel(path):
    cidr = ipaddress.ip_network(load_stack(path).get("home-relay:tunnelCidr") or "10.66.0.0/24")
    print(cidr[1], cidr[2])


def cmd_bad_stack(src, dst):
    import yaml

    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    config = doc["config"]
    config["home-relay:forwards"][0]["port"] = 22
    config["home-relay:mtu"] = 9000
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)


def cmd_add_forwards(src, dst, port):
    import yaml

    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    doc["config"]["home-relay:forwards"] += [{"protocol": p, "port": int(port)} for p in ("tcp", "udp")]
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)


def cmd_home_user(src, dst, user):
    import yaml

    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    doc["config"]["home-relay:homeUser"] = user
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)


def cmd_cloud_packages(path):
    import yaml

    with open(path, encoding="utf-8") as f:
        for package in yaml.safe_load(f).get("packages") or []:
            print(package)


def cmd_cloud_errors(result_path, status_path):
    """Errors of every stage; cloud-init 23.4 and later also keep warnings as "recoverable_errors"."""
    with open(result_path, encoding="utf-8") as f:
        found = [f"result: {e}" for e in json.load(f)["v1"].get("errors") or []]
    with open(status_path, encoding="utf-8") as f:
        for stage, state in sorted(json.load(f)["v1"].items()):
            if not isinstance(state, dict):
                continue
            found += [f"{stage}: {e}" for e in state.get("errors") or []]
            for level, messages in sorted((state.get("recoverable_errors") or {}).items()):
                found += [f"{stage} {level}: {m}" for m in messages]
    for line in found:
        print(line)
    return 1 if found else 0


def cmd_cloud_finished(status_path, uptime, epoch):
    with open(status_path, encoding="utf-8") as f:
        finished = float(json.load(f)["v1"]["modules-final"]["finished"])
    # cloud-init 25 counts in seconds of uptime, 22.4 (Debian 12) in seconds since the epoch.
    if finished > float(uptime):
        print(int(finished * 1000))
    else:
        print(int((float(epoch) - (float(uptime) - finished)) * 1000))


def tcp_listener(port, fallback):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0", port))
    except OSError:
        # The port is taken on another address (the lab's sshd holds 22 on the management address):
        # listen on the tunnel address only, which may not exist yet.
        if not fallback:
            raise
        s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        s.bind((fallback, port))
    s.listen(64)
    s.setblocking(False)
    return s


def udp_answer(sock, pktinfo):
    """Answers one datagram. Like most UDP servers (game servers...), a plain one replies from a socket bound to
    0.0.0.0 and lets the kernel pick the source address; a pktinfo one replies from the address it was sent to,
    as DNS servers do."""
    if not pktinfo:
        _, peer = sock.recvfrom(2048)
        sock.sendto(f"{peer[0]}\n".encode(), peer)
        return peer
    _, ancillary, _, peer = sock.recvmsg(2048, socket.CMSG_SPACE(12))
    info = [data for level, kind, data in ancillary if level == socket.IPPROTO_IP and kind == IP_PKTINFO]
    reply = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("I4s4s", 0, info[0][8:12], bytes(4)))] if info else []
    sock.sendmsg([f"{peer[0]}\n".encode()], reply, 0, peer)
    return peer


def cmd_serve(specs, fallback=None, pktinfo=False):
    sel = selectors.DefaultSelector()
    for spec in specs:
        proto, port = spec.split(":")
        if proto == "tcp":
            sel.register(tcp_listener(int(port), fallback), selectors.EVENT_READ, "tcp")
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            if pktinfo:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            s.bind(("0.0.0.0", int(port)))
            sel.register(s, selectors.EVENT_READ, "udp")
    print("serving", " ".join(specs), flush=True)
    while True:
        for key, _ in sel.select(timeout=5):
            sock = key.fileobj
            try:
                if key.data == "tcp":
                    conn, peer = sock.accept()
                    with conn:
                        conn.settimeout(2)
                        conn.sendall(f"{peer[0]}\n".encode())
                    print("tcp", sock.getsockname()[1], "from", peer[0], flush=True)
                else:
                    peer = udp_answer(sock, pktinfo)
                    print("udp", sock.getsockname()[1], "from", peer[0], flush=True)
            except OSError as e:
                print("error:", e, flush=True)


def cmd_probe(proto, host, port, timeout=2.0):
    try:
        if proto == "tcp":
            with socket.create_connection((host, int(port)), timeout=timeout) as s:
                s.settimeout(timeout)
                data = s.recv(256)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.connect((host, int(port)))
                s.send(b"probe\n")
                data = s.recv(256)
    except OSError as e:
        print(f"no answer ({e.__class__.__name__}: {e})")
        return 1
    print(data.decode(errors="replace").strip() or "(empty answer)")
    return 0


def cmd_latency(host, port, count):
    times = []
    for _ in range(int(count)):
        start = time.perf_counter()
        with socket.create_connection((host, int(port)), timeout=2):
            times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.01)
    print(json.dumps({"median_ms": round(statistics.median(times), 3), "samples_ms": [round(t, 3) for t in times]}))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    cmd, args = argv[1], argv[2:]
    if cmd == "forwards":
        cmd_forwards(*args)
    elif cmd == "tunnel":
        cmd_tunnel(*args)
    elif cmd == "bad-stack":
        cmd_bad_stack(*args)
    elif cmd == "add-forwards":
        cmd_add_forwards(*args)
    elif cmd == "home-user":
        cmd_home_user(*args)
    elif cmd == "cloud-packages":
        cmd_cloud_packages(*args)
    elif cmd == "cloud-finished":
        cmd_cloud_finished(*args)
    elif cmd == "cloud-errors":
        return cmd_cloud_errors(*args)
    elif cmd == "serve":
        fallback, pktinfo = None, False
        while args and args[0].startswith("--"):
            if args[0] == "--fallback":
                fallback, args = args[1], args[2:]
            elif args[0] == "--udp-reply":
                pktinfo, args = args[1] == "pktinfo", args[2:]
            else:
                return 64
        cmd_serve(args, fallback, pktinfo)
    elif cmd == "probe":
        return cmd_probe(args[0], args[1], args[2], float(args[3]) if len(args) > 3 else 2.0)
    elif cmd == "latency":
        return cmd_latency(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
