#!/usr/bin/env python3
"""One set of Services, written the way each service router is fed, for the benchmarks.

  bench-services.py PREFIX N E NODE EP...

N Services: N-1 fillers s0..s{N-2} (ClusterIP 10.100.X.Y, one TCP port 80 -> 8080, E
endpoints 10.2xx.X.Y that nobody contacts) and last the measured one, default/web:
ClusterIP 10.96.0.10, type NodePort, ports p 80/TCP (nodePort 30080), u 80/UDP (30080) and
i 5201/TCP (30201), targets 8080, 8080 and 5201 on the endpoints EP... (on node NODE, "-"
for none). Written as:

  PREFIX.yaml          the manifests (svcrouter apply -f)
  PREFIX.iptables      the nat table kube-proxy's iptables mode writes (iptables-restore)
  PREFIX.nft           the table kube-proxy's nftables mode writes (nft -f)
and one change, the first Service's first endpoint replaced, as each one applies it:
  PREFIX.change.yaml   the whole manifest again (apply makes the table equal to a file)
  PREFIX.change.iptables  kube-proxy's partial restore (iptables-restore --noflush): the
                       top-level chains rewritten whole, as every sync does, and the changed
                       Service's chains
  PREFIX.change.nft    kube-proxy's nftables transaction: a new endpoint chain, the service
                       chain flushed and written again, the old endpoint chain deleted

In both kube-proxy layouts the measured Service's rules come last, where a linear list costs
most; the cluster CIDR is 10.77.0.0/16 (the benchmark's clients count as pods: the masquerade
mark of ClusterIP traffic is evaluated and does not match). Left out of both, as in
scripts/bench-connect.sh: the filter table's chains (empty while every Service has endpoints)
and the health check node ports.
"""
import base64
import hashlib
import sys

CLUSTER_CIDR = "10.77.0.0/16"
WEB_VIP = "10.96.0.10"
# name, protocol, port, target port, node port
WEB_PORTS = [("p", "tcp", 80, 8080, 30080), ("u", "udp", 80, 8080, 30080),
             ("i", "tcp", 5201, 5201, 30201)]
FILLER_PORT = ("http", "tcp", 80, 8080, None)


def vip(i):
    a, b = divmod(i, 250)
    return f"10.{100 + a // 250}.{a % 250}.{b + 1}"


def endpoint(i, k, changed=False):
    a, b = divmod(i, 250)
    return f"10.{200 + 2 * k + a // 250 + (40 if changed else 0)}.{a % 250}.{b + 1}"


def kp_hash(s):
    """kube-proxy's chain name suffix: base32 of a SHA-256, 16 characters."""
    return base64.b32encode(hashlib.sha256(s.encode()).digest())[:16].decode()


class Service:
    def __init__(self, name, ip, ports, endpoints, node_port, node=None):
        self.name, self.ip, self.ports, self.endpoints = name, ip, ports, endpoints
        self.node_port, self.node = node_port, node


def services(n, e, node, web_endpoints, change=False):
    out = []
    for i in range(n - 1):
        eps = [endpoint(i, k, change and i == 0 and k == 0) for k in range(e)]
        out.append(Service(f"s{i}", vip(i), [FILLER_PORT], eps, False))
    web_eps = list(web_endpoints)
    if change and n == 1:
        web_eps[0] = "10.240.0.1"
    out.append(Service("web", WEB_VIP, WEB_PORTS, web_eps, True, node))
    return out


def manifest(svcs):
    docs = []
    for s in svcs:
        ports = ", ".join(
            f"{{name: {p}, protocol: {proto.upper()}, port: {port}, targetPort: {tp}"
            + (f", nodePort: {np}" if s.node_port else "") + "}"
            for p, proto, port, tp, np in s.ports)
        kind = "NodePort" if s.node_port else "ClusterIP"
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: {s.name}, namespace: default}}\n"
                    f"spec: {{type: {kind}, clusterIP: {s.ip}, ports: [{ports}]}}\n")
        eports = ", ".join(f"{{name: {p}, protocol: {proto.upper()}, port: {tp}}}"
                           for p, proto, _, tp, _ in s.ports)
        on = f", nodeName: {s.node}" if s.node else ""
        eps = ", ".join(f'{{addresses: ["{ep}"]{on}}}' for ep in s.endpoints)
        docs.append("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                    f"metadata: {{name: {s.name}-1, namespace: default, "
                    f"labels: {{kubernetes.io/service-name: {s.name}}}}}\n"
                    f"addressType: IPv4\nports: [{eports}]\nendpoints: [{eps}]\n")
    return "---\n".join(docs)


# ---- iptables: KUBE-SERVICES -> KUBE-SVC-* (statistic mode random) -> KUBE-SEP-* (DNAT)

def ipt_names(s, port):
    p, proto = port[0], port[1]
    key = f"default/{s.name}:{p}"
    svc = "KUBE-SVC-" + kp_hash(key + proto)
    ext = "KUBE-EXT-" + kp_hash(key + proto)
    seps = ["KUBE-SEP-" + kp_hash(key + proto + ep) for ep in s.endpoints]
    return key, svc, ext, seps


def ipt_service_rule(s, port):
    key, svc, _, _ = ipt_names(s, port)
    proto, pnum = port[1], port[2]
    return (f'-A KUBE-SERVICES -m comment --comment "{key} cluster IP" -m {proto} -p {proto} '
            f"-d {s.ip}/32 --dport {pnum} -j {svc}\n")


def ipt_service_chains(s, port):
    """The chains of one service port: declarations and rules."""
    key, svc, ext, seps = ipt_names(s, port)
    _, proto, pnum, tp, np = port
    decl = [svc] + seps + ([ext] if s.node_port else [])
    rules = [f'-A {svc} ! -s {CLUSTER_CIDR} -m comment --comment "{key} cluster IP" '
             f"-m {proto} -p {proto} -d {s.ip}/32 --dport {pnum} -j KUBE-MARK-MASQ\n"]
    n = len(seps)
    for k, (ep, sep) in enumerate(zip(s.endpoints, seps)):
        stat = (f"-m statistic --mode random --probability {1 / (n - k):.11f} "
                if k < n - 1 else "")
        rules.append(f'-A {svc} -m comment --comment "{key} -> {ep}:{tp}" {stat}-j {sep}\n')
    for ep, sep in zip(s.endpoints, seps):
        rules.append(f'-A {sep} -m comment --comment "{key}" -s {ep}/32 -j KUBE-MARK-MASQ\n')
        rules.append(f'-A {sep} -m comment --comment "{key}" -m {proto} -p {proto} '
                     f"-j DNAT --to-destination {ep}:{tp}\n")
    if s.node_port:
        rules.append(f'-A {ext} -m comment --comment "masquerade traffic for {key} external '
                     f'destinations" -j KUBE-MARK-MASQ\n')
        rules.append(f"-A {ext} -j {svc}\n")
    return decl, rules


def ipt_top(svcs):
    """The top-level chains, rewritten whole by every kube-proxy sync."""
    rules = [ipt_service_rule(s, port) for s in svcs for port in s.ports]
    rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
                 'must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n')
    for s in svcs:
        if not s.node_port:
            continue
        for port in s.ports:
            key, _, ext, _ = ipt_names(s, port)
            rules.append(f'-A KUBE-NODEPORTS -m comment --comment "{key}" -m {port[1]} -p {port[1]} '
                         f"--dport {port[4]} -j {ext}\n")
    return rules


TOP = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]


def iptables(svcs):
    out = ["*nat\n", ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n",
           ":POSTROUTING ACCEPT [0:0]\n"]
    out += [f":{c} - [0:0]\n" for c in TOP]
    chains = [ipt_service_chains(s, port) for s in svcs for port in s.ports]
    out += [f":{c} - [0:0]\n" for decl, _ in chains for c in decl]
    out += ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n',
            '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n',
            '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\n',
            "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n",
            "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n",
            "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n",
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
            "-j MASQUERADE --random-fully\n"]
    out += ipt_top(svcs)
    out += [r for _, rules in chains for r in rules]
    out.append("COMMIT\n")
    return "".join(out)


def iptables_change(old, new):
    """kube-proxy's partial sync: top-level chains whole, the changed service's chains, the
    endpoint chain that went deleted."""
    s_old, s_new = old[0], new[0]
    port = s_new.ports[0]
    decl, rules = ipt_service_chains(s_new, port)
    _, _, _, old_seps = ipt_names(s_old, s_old.ports[0])
    gone = [c for c in old_seps if c not in decl]
    out = ["*nat\n", ":KUBE-SERVICES - [0:0]\n", ":KUBE-NODEPORTS - [0:0]\n"]
    out += [f":{c} - [0:0]\n" for c in decl + gone]
    out += ipt_top(new)
    out += rules
    out += [f"-X {c}\n" for c in gone]
    out.append("COMMIT\n")
    return "".join(out)


# ---- nftables: kube-proxy's nftables mode (verdict maps, numgen)

def nft_names(s, port):
    p, proto = port[0], port[1]
    key = f"default/{s.name}/{proto}/{p}"
    h = kp_hash(key)
    svc = f"service-{h[:8]}-{key}"
    ext = f"external-{h[:8]}-{key}"
    eps = [f"endpoint-{kp_hash(key + ep)[:8]}-{key}__{ep}/{port[3]}" for ep in s.endpoints]
    return svc, ext, eps


def nft_service_chains(s, port, verb="add"):
    """nft commands for one service port's chains (verb add: the whole set; the change uses
    the parts)."""
    svc, ext, eps = nft_names(s, port)
    _, proto, pnum, tp, np = port
    cmds = []
    for ep, chain in zip(s.endpoints, eps):
        cmds.append(f'{verb} chain ip kube-proxy {chain}')
        cmds.append(f'add rule ip kube-proxy {chain} ip saddr {ep} jump mark-for-masquerade')
        cmds.append(f'add rule ip kube-proxy {chain} meta l4proto {proto} dnat to {ep}:{tp}')
    cmds.append(f'{verb} chain ip kube-proxy {svc}')
    cmds += nft_service_rules(s, port)
    if s.node_port:
        cmds.append(f'{verb} chain ip kube-proxy {ext}')
        cmds.append(f'add rule ip kube-proxy {ext} jump mark-for-masquerade')
        cmds.append(f'add rule ip kube-proxy {ext} goto {svc}')
    return cmds


def nft_service_rules(s, port):
    svc, _, eps = nft_names(s, port)
    _, proto, pnum, _, _ = port
    vmap = ", ".join(f'{k} : goto {c}' for k, c in enumerate(eps))
    return [f'add rule ip kube-proxy {svc} ip daddr {s.ip} {proto} dport {pnum} '
            f"ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade",
            f'add rule ip kube-proxy {svc} numgen random mod {len(eps)} vmap {{ {vmap} }}']


def nft(svcs):
    out = ["add table ip kube-proxy",
           "add chain ip kube-proxy mark-for-masquerade",
           "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000",
           "add chain ip kube-proxy masquerading",
           "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return",
           "add rule ip kube-proxy masquerading mark set mark xor 0x4000",
           "add rule ip kube-proxy masquerading masquerade fully-random",
           "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }",
           "add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; }",
           "add chain ip kube-proxy services",
           "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
           "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }",
           "add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }",
           "add rule ip kube-proxy nat-prerouting jump services",
           "add rule ip kube-proxy nat-output jump services",
           "add rule ip kube-proxy nat-postrouting jump masquerading",
           "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
           "add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 "
           "meta l4proto . th dport vmap @service-nodeports"]
    for s in svcs:
        for port in s.ports:
            out += nft_service_chains(s, port)
    elems = []
    nodeports = []
    for s in svcs:
        for port in s.ports:
            svc, ext, _ = nft_names(s, port)
            elems.append(f'{s.ip} . {port[1]} . {port[2]} : goto {svc}')
            if s.node_port:
                nodeports.append(f'{port[1]} . {port[4]} : goto {ext}')
    # In pieces: one element list of 100,000 is slow for nft's parser.
    for i in range(0, len(elems), 1000):
        out.append("add element ip kube-proxy service-ips { " + ", ".join(elems[i:i + 1000]) + " }")
    if nodeports:
        out.append("add element ip kube-proxy service-nodeports { " + ", ".join(nodeports) + " }")
    return "\n".join(out) + "\n"


def nft_change(old, new):
    s_old, s_new = old[0], new[0]
    port = s_new.ports[0]
    svc, _, new_eps = nft_names(s_new, port)
    _, _, old_eps = nft_names(s_old, port)
    out = []
    for ep, chain in zip(s_new.endpoints, new_eps):
        if chain in old_eps:
            continue
        out.append(f'add chain ip kube-proxy {chain}')
        out.append(f'add rule ip kube-proxy {chain} ip saddr {ep} jump mark-for-masquerade')
        out.append(f'add rule ip kube-proxy {chain} meta l4proto {port[1]} dnat to {ep}:{port[3]}')
    out.append(f'flush chain ip kube-proxy {svc}')
    out += nft_service_rules(s_new, port)
    for chain in old_eps:
        if chain not in new_eps:
            out.append(f'flush chain ip kube-proxy {chain}')
            out.append(f'delete chain ip kube-proxy {chain}')
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 6:
        sys.exit("usage: bench-services.py PREFIX N E NODE EP...")
    prefix, n, e = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    node, eps = (None if sys.argv[4] == "-" else sys.argv[4]), sys.argv[5:]
    if not 1 <= n <= 250 * 250 * 2 or not 1 <= e <= 10:
        sys.exit("bench-services.py: N is 1..125000, E 1..10")
    svcs, changed = services(n, e, node, eps), services(n, e, node, eps, change=True)
    files = {".yaml": manifest(svcs), ".iptables": iptables(svcs), ".nft": nft(svcs),
             ".change.yaml": manifest(changed), ".change.iptables": iptables_change(svcs, changed),
             ".change.nft": nft_change(svcs, changed)}
    for suffix, text in files.items():
        with open(prefix + suffix, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
