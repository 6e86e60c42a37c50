#!/usr/bin/env bash
# The packet path with IPv6 and ICMP, over the topology of tc_lib.sh (the
# client c1, the node with the programs on eth0, a local backend lb1 and a
# remote one b2), given IPv6 addresses too, and a router r on the shared
# link in front of a second client c2 whose link is narrower (MTU 1280):
#   - a dual-stack NodePort from outside over IPv6: round-robin, the local
#     backend sees the client, the remote one the node (SNAT);
#   - a UDP NodePort without endpoints answers ICMP port unreachable, over
#     IPv4 and IPv6: the client's socket reports "refused" at once;
#   - path MTU discovery through the NodePort: c2 downloads a body larger
#     than its path's MTU from the local backend; the router's
#     "fragmentation needed" reaches the backend only if translated.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env curl jq dig
tc_topology
ip -n "$RUN-node" addr add fd78::1/64 dev vb1 nodad
ip -n "$RUN-lb1" addr add fd78::11/64 dev eth0 nodad
ip -n "$RUN-lb1" -6 route add default via fd78::1
in_ns node sysctl -qw net.ipv6.conf.all.forwarding=1

# The router and the narrow client: r (10.77.0.20) -- c2 (10.88.0.2).
add_host r 20
ip netns add "$RUN-c2"
NETNS+=("$RUN-c2")
ip link add eth1 netns "$RUN-r" type veth peer name eth0 netns "$RUN-c2"
ip -n "$RUN-r" link set eth1 up
ip -n "$RUN-r" addr add 10.88.0.1/24 dev eth1
ip -n "$RUN-r" link set eth1 mtu 1280
in_ns r sysctl -qw net.ipv4.ip_forward=1
ip -n "$RUN-c2" link set lo up
ip -n "$RUN-c2" link set eth0 up
ip -n "$RUN-c2" addr add 10.88.0.2/24 dev eth0
ip -n "$RUN-c2" route add default via 10.88.0.1
ip -n "$RUN-node" route add 10.88.0.0/24 via 10.77.0.20

cat >"$TMP/np.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.80
  clusterIPs: [10.96.0.80, fd96::80]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-4, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.78.0.11], nodeName: node-a}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-6, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: ["fd78::11"], nodeName: node-a}
- {addresses: ["fd77::12"], nodeName: node-b}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.53
  clusterIPs: [10.96.0.53, fd96::53]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports: [{name: dns, port: 53, protocol: UDP, nodePort: 30053}]
---
YAML
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"

ask6() { in_ns c1 curl -sS --max-time 2 "http://[fd77::5]:30080/peer" 2>/dev/null || echo "(failed)"; }
mapfile -t seq < <(for i in 1 2 3 4; do ask6; done)
assert_eq "IPv6 NodePort, from outside" "pod-remote fd77::5|pod-local fd77::2|pod-remote fd77::5|pod-local fd77::2" "$(IFS='|'; echo "${seq[*]}")"
pass "IPv6 NodePort from outside: round-robin; the local backend sees the client, the remote one the node (SNAT)"

# dig says "connection refused" when ICMP port unreachable comes back; it
# would wait for its timeout (3 s, then fail) if the query were dropped.
for server in 10.77.0.5 fd77::5; do
	start=$(date +%s%N)
	answer=$(in_ns c1 dig +tries=1 +timeout=3 -p 30053 "@$server" web.test 2>&1 || true)
	ms=$((($(date +%s%N) - start) / 1000000))
	[[ $answer == *"connection refused"* ]] || fail "dig @$server without endpoints: $answer"
	((ms < 2000)) || fail "dig @$server took $ms ms to be refused"
done
refused=$(on_node stats -o json | jq '.packet_path.refused')
((refused >= 2)) || fail "the packet path counted $refused refusals"
pass "a UDP NodePort without endpoints answers ICMP port unreachable (IPv4 and IPv6)"

# The local backend sends full-size segments to c2; r cannot forward them
# and tells the frontend's address. Without translation the transfer stalls.
body=$(in_ns c2 curl -sS --max-time 10 "http://10.77.0.5:30080/bytes/200000" 2>&1 | tail -c 10) ||
	fail "download through the narrow path: $body"
assert_eq "end of the body" "pod-local" "$(echo "$body" | tr -d '.')"
icmp=$(on_node stats -o json | jq '.packet_path.icmp')
((icmp >= 1)) || fail "no ICMP error was translated ($icmp)"
pass "path MTU discovery through the NodePort: the router's 'fragmentation needed' reached the backend"
