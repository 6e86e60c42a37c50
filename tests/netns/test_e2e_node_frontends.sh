#!/usr/bin/env bash
# A LoadBalancer's other frontends, reached by local processes: its NodePort
# on the node's address (--node-ip), an external IP and a load balancer
# ingress IP are served by the socket path, over all endpoints (as
# kube-proxy sends local traffic, even with externalTrafficPolicy: Local);
# the entries for packets from outside (scope external) hold only this
# node's endpoints. The client's namespace plays the node.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080
manifest lb.yaml >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80, nodePort: 30080}]
  externalTrafficPolicy: Local
  externalIPs: [198.51.100.7]
status:
  loadBalancer: {ingress: [{ip: 203.0.113.9}, {ip: 203.0.113.10, ipMode: Proxy}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.77.0.11], nodeName: node-a}
- {addresses: [10.77.0.12], nodeName: node-b}
YAML
out=$(svcr --node-ip 10.77.0.2 --node-name node-a apply -f "$TMP/lb.yaml" 2>&1) || fail "apply: $out"

for target in 10.77.0.2:30080 198.51.100.7 203.0.113.9; do
	mapfile -t seq < <(requests c1 4 "$target")
	assert_round_robin 2 "${seq[@]}"
	pass "$target: round-robin over both endpoints for a local process"
done
# ipMode Proxy: the load balancer proxies, the node does not serve its IP.
assert_eq "ipMode Proxy" "(failed)" "$(requests c1 1 203.0.113.10:80)"

entries() { # entries SCOPE: "address:port backends..." of that scope, sorted
	svcr list -o json | jq -r --arg s "$1" '.services[] | select(.scope == $s)
		| "\(.vip):\(.port) \([.backends[].ip] | join(","))"' | sort | xargs
}
assert_eq "cluster scope" "10.96.0.20:80 10.77.0.11,10.77.0.12" "$(entries cluster)"
assert_eq "node scope" "10.77.0.2:30080 10.77.0.11,10.77.0.12 198.51.100.7:80 10.77.0.11,10.77.0.12 203.0.113.9:80 10.77.0.11,10.77.0.12" "$(entries node)"
assert_eq "external scope" "10.77.0.2:30080 10.77.0.11 198.51.100.7:80 10.77.0.11 203.0.113.9:80 10.77.0.11" "$(entries external)"
pass "the packet path's entries hold this node's endpoints only (externalTrafficPolicy: Local)"
