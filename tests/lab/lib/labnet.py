#!/usr/bin/python3
"""Small network tools for the home-relay lab (standard library and PyYAML only).

  labnet.py forwards STACK          one line per port to probe: PROTO PORT TARGET_PORT CLIENT_IP HOST (HOST is home
                                    or a LAN target's address; a range gives its first, middle and last port)
  labnet.py services STACK HOST     the SPECs (tcp:80 udp:53 ...) of the target ports HOST serves
  labnet.py tunnel STACK            VPS_ADDRESS HOME_ADDRESS VPS_ADDRESS6 HOME_ADDRESS6 of the tunnel ("-" without IPv6)
  labnet.py bad-stack IN OUT        IN with errors the core must refuse: forwards[0].port 22, mtu 9000
  labnet.py add-forwards IN OUT PORT   IN with tcp and udp forwards of PORT added (a user adding a port)
  labnet.py add-forward IN OUT PROTO PORT [TARGET_PORT]   IN with one forward added
  labnet.py set IN OUT KEY VALUE    IN with home-relay:KEY set to VALUE (a string)
  labnet.py many-forwards IN OUT N  IN with forwards added up to N in all, mostly ranges of 4 ports (tcp and udp from
                                    40000, tcp singles from 50000), neighbours so Hetzner's firewall merges them
  labnet.py cloud-packages USERDATA the packages: list of a cloud-config document, one per line
  labnet.py cloud-finished STATUS UPTIME EPOCH   when cloud-init finished its last stage (modules-final), in ms
                                    since the epoch (UPTIME and EPOCH: one instant on the host, for a status.json in uptime)
  labnet.py cloud-errors RESULT STATUS   cloud-init's errors and recoverable errors from /run/cloud-init's
                                    result.json and status.json; exit 1 when there is any
  labnet.py serve [--fallback ADDR]... [--udp-reply plain|pktinfo] SPEC...
                                    answer each connection/datagram with the peer's address (SPEC: tcp:80, udp:53),
                                    over IPv4 and IPv6
  labnet.py probe PROTO HOST PORT [TIMEOUT [FROM_PORT]]   print what the service at HOST:PORT answers; exit 1 when
                                    nothing does (UDP from FROM_PORT: a service starting a flow from its own port)
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
IPV6_FREEBIND = 78  # from <linux/in6.h>


def load_stack(path):
    import yaml  # Debian's python3-yaml; imported here so that serve/probe need nothing but the standard library

    with open(path, encoding="utf-8") as f:
        config = (yaml.safe_load(f) or {}).get("config") or {}
    return config


def port_range(value):
    first, _, last = str(value).partition("-")
    return int(first), int(last or first)


def stack_forwards(path):
    """(protocol, first, last, first target port, host, client ip mode) per forward of the stack."""
    for f in load_stack(path).get("home-relay:forwards") or []:
        first, last = port_range(f["port"])
        target, _ = port_range(f.get("targetPort") or f["port"])
        host = f.get("targetHost") or "home"
        mode = (f.get("clientIp") or ("transparent" if host == "home" else "snat")).lower()
        yield f["protocol"].lower(), first, last, target, host, mode


def cmd_forwards(path):
    for proto, first, last, target, host, mode in stack_forwards(path):
        for port in sorted({first, (first + last) // 2, last}):
            print(proto, port, target + port - first, mode, host)


def cmd_services(path, host):
    specs = set()
    for proto, first, last, target, target_host, _ in stack_forwards(path):
        if target_host == host:
            specs.update(f"{proto}:{port}" for port in range(target, target + last - first + 1))
    print(" ".join(sorted(specs)))


def cmd_tunnel(path):
    config = load_stack(path)
    cidr = ipaddress.ip_network(config.get("home-relay:tunnelCidr") or "10.66.0.0/24")
    ipv6 = str(config.get("home-relay:ipv6", True)).lower() != "false"
    cidr6 = ipaddress.ip_network(config.get("home-relay:tunnelIpv6Cidr") or "fd66:7265:6c61::/64")
    print(cidr[1], cidr[2], cidr6[1] if ipv6 else "-", cidr6[2] if ipv6 else "-")


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


def cmd_add_forward(src, dst, proto, port, target_port=None):
    import yaml

    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    forward = {"protocol": proto, "port": int(port)}
    if target_port is not None:
        forward["targetPort"] = int(target_port)
    doc["config"]["home-relay:forwards"].append(forward)
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)


def cmd_set(src, dst, key, value):
    import yaml

    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    doc["config"]["home-relay:" + key] = value
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(doc, f, sort_keys=False)


def family_socket(family, kind):
    s = socket.socket(family, kind)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return s


def cmd_many_forwards(src, dst, total):
    import yaml

    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    forwards = doc["config"]["home-relay:forwards"]
    extra = int(total) - len(forwards)
    ranges, singles = extra * 9 // 20, extra - 2 * (extra * 9 // 20)
    for proto in ("tcp", "udp"):
        forwards += [{"protocol": proto, "port": f"{40000 + 4 * i}-{40003 + 4 * i}"} for i in range(ranges)]
    forwards += [{"protocol": "tcp", "port": 50000 + i} for i in range(singles)]
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


def tcp_listener(family, port, fallback):
    s = family_socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("0.0.0.0" if family == socket.AF_INET else "::", port))
    except OSError:
        # The port is taken on another address (the lab's sshd holds 22 on the management address):
        # listen on the tunnel address only, which may not exist yet.
        if fallback is None:
            raise
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        s.bind((fallback, port))
    s.listen(64)
    s.setblocking(False)
    return s


def udp_answer(sock, pktinfo):
    """Answers one datagram. Like most UDP servers (game servers...), a plain one replies from a socket bound to
    0.0.0.0 (or ::) and lets the kernel pick the source address; a pktinfo one replies from the address it was sent
    to, as DNS servers do."""
    if not pktinfo:
        _, peer = sock.recvfrom(2048)
        sock.sendto(f"{peer[0]}\n".encode(), peer)
        return peer
    _, ancillary, _, peer = sock.recvmsg(2048, socket.CMSG_SPACE(20))
    reply = []
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            reply = [(level, kind, struct.pack("I4s4s", 0, data[8:12], bytes(4)))]
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            reply = [(level, kind, data[:16] + bytes(4))]
    sock.sendmsg([f"{peer[0]}\n".encode()], reply, 0, peer)
    return peer


def cmd_serve(specs, fallbacks=(), pktinfo=False):
    sel = selectors.DefaultSelector()
    for spec in specs:
        proto, port = spec.split(":")
        for family in (socket.AF_INET, socket.AF_INET6):
            if proto == "tcp":
                fallback = next((a for a in fallbacks if (":" in a) == (family == socket.AF_INET6)), None)
                sel.register(tcp_listener(family, int(port), fallback), selectors.EVENT_READ, "tcp")
                continue
            s = family_socket(family, socket.SOCK_DGRAM)
            if pktinfo and family == socket.AF_INET:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            elif pktinfo:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            s.bind(("0.0.0.0" if family == socket.AF_INET else "::", int(port)))
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
                    print("udp", sock.getsockname()[1], "from", peer[0], "port", peer[1], flush=True)
            except OSError as e:
                print("error:", e, flush=True)


def cmd_probe(proto, host, port, timeout=2.0, from_port=None):
    try:
        if proto == "tcp":
            with socket.create_connection((host, int(port)), timeout=timeout) as s:
                s.settimeout(timeout)
                data = s.recv(256)
        else:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                if from_port is None:
                    s.connect((host, int(port)))
                    s.send(b"probe\n")
                    data = s.recv(256)
                else:
                    # As a UDP service does: bound to its port on every address, unconnected (a connected socket
                    # would only take the answer at the source address its route picked).
                    s.bind(("", int(from_port)))
                    s.sendto(b"probe\n", (host, int(port)))
                    data, _ = s.recvfrom(256)
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
    elif cmd == "services":
        cmd_services(*args)
    elif cmd == "tunnel":
        cmd_tunnel(*args)
    elif cmd == "bad-stack":
        cmd_bad_stack(*args)
    elif cmd == "add-forwards":
        cmd_add_forwards(*args)
    elif cmd == "add-forward":
        cmd_add_forward(*args)
    elif cmd == "set":
        cmd_set(*args)
    elif cmd == "many-forwards":
        cmd_many_forwards(*args)
    elif cmd == "cloud-packages":
        cmd_cloud_packages(*args)
    elif cmd == "cloud-finished":
        cmd_cloud_finished(*args)
    elif cmd == "cloud-errors":
        return cmd_cloud_errors(*args)
    elif cmd == "serve":
        fallbacks, pktinfo = [], False
        while args and args[0].startswith("--"):
            if args[0] == "--fallback":
                fallbacks, args = fallbacks + [args[1]], args[2:]
            elif args[0] == "--udp-reply":
                pktinfo, args = args[1] == "pktinfo", args[2:]
            else:
                return 64
        cmd_serve(args, fallbacks, pktinfo)
    elif cmd == "probe":
        return cmd_probe(args[0], args[1], args[2], float(args[3]) if len(args) > 3 else 2.0, args[4] if len(args) > 4 else None)
    elif cmd == "latency":
        return cmd_latency(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
