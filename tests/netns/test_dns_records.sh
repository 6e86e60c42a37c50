#!/usr/bin/env bash
# The node-local DNS responder (run --dns-listen) with a real client: dig
# asks for every record kind of the Kubernetes DNS specification and the
# answer sections are compared whole. Also case, NXDOMAIN against NODATA,
# TCP, truncation (TC) and the retry over TCP, IPv6, malformed and
# oversized queries (it keeps serving), and the metrics (promtool).
# The agent runs in the namespace "node" (10.77.0.5), dig in "c1".
source "$(dirname "$0")/lib.sh"
require_env dig python3 curl
PROMTOOL=$(promtool_path)
make_topology c1:2 node:5

conf=$TMP/services.yaml
{
	cat <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00::10"]
  ipFamilies: [IPv4, IPv6]
  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.77.0.11]
- addresses: [10.77.0.12]
  conditions: {ready: false}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db, service.kubernetes.io/headless: ""}}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints:
- {addresses: [10.1.0.1], hostname: db-0}
- {addresses: [10.1.0.2], hostname: db-1}
- {addresses: [10.1.0.3], hostname: db-2, conditions: {ready: false}}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: default}
spec: {type: ExternalName, externalName: web.default.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: many, namespace: default}
spec: {clusterIP: None, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: many-1, namespace: default, labels: {kubernetes.io/service-name: many}}
addressType: IPv4
endpoints:
YAML
	for i in $(seq 1 100); do echo "- addresses: [10.2.0.$i]"; done
} >"$conf"
# No upstream is reachable: only the cluster's names are asked here.
svcr_bg_in node "$TMP/agent" run --config "$conf" --dns-listen 10.77.0.5:53 \
	--dns-listen '[fd77::5]:53' --dns-upstream 10.77.0.99 --metrics-bind-address 10.77.0.5:10249
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"

ask() { dig_answer c1 10.77.0.5 "$@"; }
expect() { # expect WHAT EXPECTED-LINES DIG-ARGS...
	local what=$1 want=$2
	shift 2
	assert_eq "$what" "$want" "$(ask "$@")"
}
S=svc.cluster.local

expect "A" "web.default.$S. 30 IN A 10.96.0.10" web.default.$S A
expect "AAAA" "web.default.$S. 30 IN AAAA fd00::10" web.default.$S AAAA
expect "SRV of a named port" "_http._tcp.web.default.$S. 30 IN SRV 0 100 80 web.default.$S." \
	_http._tcp.web.default.$S SRV
expect "SRV of a UDP port" "_dns._udp.web.default.$S. 30 IN SRV 0 100 53 web.default.$S." \
	_dns._udp.web.default.$S SRV
expect "PTR of a ClusterIP" "10.0.96.10.in-addr.arpa. 30 IN PTR web.default.$S." -x 10.96.0.10
expect "PTR of an IPv6 ClusterIP" \
	"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 30 IN PTR web.default.$S." \
	-x fd00::10
expect "PTR of an endpoint" "11.0.77.10.in-addr.arpa. 30 IN PTR 10-77-0-11.web.default.$S." -x 10.77.0.11
expect "an endpoint's name" "10-77-0-11.web.default.$S. 30 IN A 10.77.0.11" 10-77-0-11.web.default.$S
pass "ClusterIP Service: A, AAAA, SRV, PTR (IPv4, IPv6, endpoint)"

expect "headless A" "db.shop.$S. 30 IN A 10.1.0.1
db.shop.$S. 30 IN A 10.1.0.2" db.shop.$S A
expect "headless hostname" "db-1.db.shop.$S. 30 IN A 10.1.0.2" db-1.db.shop.$S A
expect "headless SRV" "_pg._tcp.db.shop.$S. 30 IN SRV 0 50 5432 db-0.db.shop.$S.
_pg._tcp.db.shop.$S. 30 IN SRV 0 50 5432 db-1.db.shop.$S." _pg._tcp.db.shop.$S SRV
expect "headless PTR" "1.0.1.10.in-addr.arpa. 30 IN PTR db-0.db.shop.$S." -x 10.1.0.1
assert_eq "a not-ready endpoint" NXDOMAIN "$(dig_rcode c1 10.77.0.5 db-2.db.shop.$S)"
pass "headless Service (its slice labelled headless): ready endpoints, hostnames, SRV, PTR"

expect "ExternalName" "alias.default.$S. 30 IN CNAME web.default.$S.
web.default.$S. 30 IN A 10.96.0.10" alias.default.$S A
expect "pod A" "10-0-0-1.default.pod.cluster.local. 30 IN A 10.0.0.1" 10-0-0-1.default.pod.cluster.local A
expect "pod AAAA" "fd00--1.shop.pod.cluster.local. 30 IN AAAA fd00::1" fd00--1.shop.pod.cluster.local AAAA
expect "schema version" 'dns-version.cluster.local. 30 IN TXT "1.1.0"' dns-version.cluster.local TXT
expect "case" "WeB.Default.SVC.Cluster.Local. 30 IN A 10.96.0.10" WeB.Default.SVC.Cluster.Local A
pass "ExternalName CNAME, pod names, dns-version TXT, case-insensitive (the question's case echoed)"

assert_eq "NXDOMAIN" NXDOMAIN "$(dig_rcode c1 10.77.0.5 nope.default.$S A)"
assert_eq "NODATA" NOERROR "$(dig_rcode c1 10.77.0.5 web.default.$S TXT)"
assert_eq "NODATA answer" "" "$(ask web.default.$S TXT)"
assert_eq "a namespace" NOERROR "$(dig_rcode c1 10.77.0.5 shop.$S A)"
soa=$(dig_at c1 10.77.0.5 +noall +authority nope.default.$S | awk '{ $1 = $1; print }')
[[ $soa == "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. "*" 7200 1800 86400 30" ]] ||
	fail "NXDOMAIN's authority: $soa"
pass "NXDOMAIN and NODATA (NOERROR, no answer), each with the SOA for negative caching"

expect "over TCP" "web.default.$S. 30 IN A 10.96.0.10" web.default.$S A +tcp
assert_eq "IPv6 listener" "web.default.$S. 30 IN A 10.96.0.10" "$(dig_answer c1 fd77::5 web.default.$S A)"
flags=$(dig_at c1 10.77.0.5 +noall +comments +ignore +noedns many.default.$S A | grep -o 'flags: [a-z ]*;')
[[ $flags == *" tc"* ]] || fail "100 addresses over UDP without EDNS0: not truncated ($flags)"
assert_eq "truncated, then over TCP (dig retries)" 100 "$(ask many.default.$S A | grep -c ' IN A ')"
assert_eq "EDNS0 buffer of 4096" 100 "$(ask many.default.$S A +bufsize=4096 +ignore | grep -c ' IN A ')"
pass "TCP, IPv6, TC over 512 bytes and the retry over TCP, EDNS0's larger buffer"

# Malformed and oversized queries, over UDP and TCP: FORMERR or nothing,
# and the responder keeps serving.
in_ns c1 python3 - >"$TMP/malformed" <<'PY' || fail "malformed queries: $(cat "$TMP/malformed")"
import socket, struct
def udp(payload, want_reply):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(payload, ("10.77.0.5", 53))
    try:
        reply = s.recv(65535)
    except socket.timeout:
        reply = None
    assert (reply is not None) == want_reply, (payload[:20], reply)
    return reply
udp(b"\x12", False)                                  # too short
udp(bytes(5000), False)                              # over the buffer
r = udp(b"\xab\xcd\x01\x00\x00\x01" + bytes(6), True)  # a question that is not there
assert r[:2] == b"\xab\xcd" and r[3] & 0x0f == 1, r  # FORMERR, same ID
r = udp(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", True)
assert r[3] & 0x0f == 1, r                           # a name pointing at itself
udp(b"\x00\x07\x81\x00\x00\x01" + bytes(6), False)   # a response: never answered
t = socket.create_connection(("10.77.0.5", 53), timeout=2)
t.sendall(struct.pack("!H", 65535) + bytes(65535))   # the largest TCP message, garbage
n = struct.unpack("!H", t.recv(2))[0]
reply = b""
while len(reply) < n:
    reply += t.recv(n - len(reply))
assert reply[3] & 0x0f == 1, reply                   # FORMERR
t.close()
t = socket.create_connection(("10.77.0.5", 53), timeout=2)
t.sendall(b"\x00\x40garbage")                        # a message cut short, then gone
t.close()
print("ok")
PY
expect "still serving" "web.default.$S. 30 IN A 10.96.0.10" web.default.$S A
pass "malformed and oversized queries: FORMERR or dropped; still serving"

in_ns c1 curl -sS --max-time 2 http://10.77.0.5:10249/metrics >"$TMP/metrics"
"$PROMTOOL" check metrics <"$TMP/metrics" || fail "promtool check metrics: $(grep dns "$TMP/metrics")"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$TMP/metrics"; }
(($(metric 'svcrouter_dns_queries_total{type="A",rcode="NOERROR"}') >= 10)) ||
	fail "A/NOERROR not counted: $(grep dns_queries "$TMP/metrics")"
(($(metric 'svcrouter_dns_queries_total{type="A",rcode="NXDOMAIN"}') >= 2)) ||
	fail "A/NXDOMAIN not counted: $(grep dns_queries "$TMP/metrics")"
(($(metric 'svcrouter_dns_queries_total{type="other",rcode="FORMERR"}') >= 2)) ||
	fail "FORMERR not counted: $(grep dns_queries "$TMP/metrics")"
(($(metric svcrouter_dns_dropped_total) >= 3)) || fail "drops not counted: $(grep dns_ "$TMP/metrics")"
(($(metric svcrouter_dns_truncated_total) >= 1)) || fail "TC not counted"
pass "/metrics passes promtool; queries by type and rcode, drops, truncations counted"
