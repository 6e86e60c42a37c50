#!/usr/bin/env bash
# loadBalancerSourceRanges on the packet path, over the topology of
# tc_lib.sh plus a second client c3 (10.77.0.3): a LoadBalancer Service
# whose ingress IP 10.77.0.100 is routed to the node by the clients, with
# loadBalancerSourceRanges [10.77.0.2/32] (c1 only):
#   - c1 reaches the LoadBalancer IP; c3's connection is dropped (as
#     kube-proxy drops it: no answer), and the drop is counted;
#   - the NodePort of the same Service answers both (NodePorts are not
#     filtered).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env curl jq
tc_topology
add_host c3 3
for c in c1 c3; do ip -n "$RUN-$c" route add 10.77.0.100/32 via 10.77.0.5; done

cat >"$TMP/lb.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.90
  ports: [{name: http, port: 80, nodePort: 30090}]
  loadBalancerSourceRanges: [10.77.0.2/32]
status:
  loadBalancer:
    ingress: [{ip: 10.77.0.100}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: default, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.78.0.11], nodeName: node-a}
---
YAML
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/lb.yaml" 2>&1) || fail "apply: $out"

get() { in_ns "$1" curl -sS --max-time 2 "http://$2/peer" 2>/dev/null || echo "(failed: $?)"; }
assert_eq "c1 (in range) to the LoadBalancer IP" "pod-local 10.77.0.2" "$(get c1 10.77.0.100:80)"
assert_eq "c3 (out of range) to the LoadBalancer IP" "(failed: 28)" "$(get c3 10.77.0.100:80)"
denied=$(on_node stats -o json | jq '.packet_path.denied')
((denied >= 1)) || fail "the packet path counted $denied denied flows"
pass "loadBalancerSourceRanges: a client in range is served, another is dropped (and counted)"

assert_eq "c3 to the NodePort" "pod-local 10.77.0.3" "$(get c3 10.77.0.5:30090)"
assert_eq "c1 to the NodePort" "pod-local 10.77.0.2" "$(get c1 10.77.0.5:30090)"
pass "the Service's NodePort is not filtered"
