#!/usr/bin/env bash
# A Service with two ports to different target ports: each service port
# reaches its own backend port, round-robin, with the EndpointSlice port
# matched by name.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12
start_backend b1 b1-http --tcp 8080
start_backend b2 b2-http --tcp 8080
start_backend b1 b1-admin --tcp 9090
start_backend b2 b2-admin --tcp 9090
svcr apply -f "$(manifest multi.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: multi}
spec:
  clusterIP: 10.96.0.20
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: admin, port: 81, targetPort: 9090}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: multi-x, labels: {kubernetes.io/service-name: multi}}
addressType: IPv4
# listed in the other order than the Service: matched by name, not position
ports: [{name: admin, port: 9090}, {name: http, port: 8080}]
endpoints:
- addresses: [10.77.0.11]
- addresses: [10.77.0.12]
YAML
)"
mapfile -t http < <(for _ in 1 2 3 4; do in_client c1 curl -sS --max-time 2 http://10.96.0.20:80/; done)
mapfile -t admin < <(for _ in 1 2 3 4; do in_client c1 curl -sS --max-time 2 http://10.96.0.20:81/; done)
assert_round_robin 2 "${http[@]}"
assert_round_robin 2 "${admin[@]}"
printf '%s\n' "${http[@]}" | grep -qv -- '-http$' && fail "port 80 reached ${http[*]}"
printf '%s\n' "${admin[@]}" | grep -qv -- '-admin$' && fail "port 81 reached ${admin[*]}"
pass "port 80 -> ${http[*]}; port 81 -> ${admin[*]}"
