#!/usr/bin/env bash
# e2e "should fallback to terminating endpoints when there are no ready
# endpoints" (internalTrafficPolicy Cluster and Local, KEP-1669): with no
# ready endpoint, serving+terminating ones are used; terminating and not
# serving never; a ready endpoint takes over again as soon as there is one.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology ca:2 cb:3 b1:11 b2:12 b3:13 b4:14
for i in 1 2 3 4; do start_backend b$i pod$i --tcp 8080; done
term=ready=false,serving=true,terminating=true
gone=ready=false,serving=false,terminating=true

# Cluster.
{ service web 10.96.0.10 80 && slice web-x web 8080 -- 10.77.0.11/$term 10.77.0.12/$term 10.77.0.13/$gone; } | apply_yaml cluster
mapfile -t seq < <(requests ca 4 10.96.0.10)
assert_round_robin 2 "${seq[@]}"
printf '%s\n' "${seq[@]}" | grep -qx pod3 && fail "terminating, not serving pod3 was used"
assert_eq "list reason" terminating-fallback "$(svcr list -o json | jq -r '[.services[0].backends[].reason[]] | unique | join(",")')"
pass "Cluster, no ready endpoint: serving+terminating ${seq[*]}"
{ service web 10.96.0.10 80 && slice web-x web 8080 -- 10.77.0.11/$term 10.77.0.12/$term 10.77.0.14; } | apply_yaml cluster-ready
assert_eq "a ready endpoint takes over" "pod4 pod4" "$(requests ca 2 10.96.0.10 | xargs)"
pass "Cluster: ready pod4 preferred to terminating ones"

# Local: computed per node. node-a has only a terminating endpoint, node-b a ready one.
add_node node-a
add_node node-b
file=$({ service loc 10.96.0.20 80 --local && slice loc-x loc 8080 -- 10.77.0.11@node-a/$term 10.77.0.12@node-b 10.77.0.13@node-a/$gone; } | manifest local.yaml)
svcr_on node-a apply -f "$file" >/dev/null
svcr_on node-b apply -f "$file" >/dev/null
assert_eq "node-a: local terminating fallback" "pod1 pod1" "$(requests ca 2 10.96.0.20 node-a | xargs)"
assert_eq "node-b: its ready endpoint" "pod2 pod2" "$(requests cb 2 10.96.0.20 node-b | xargs)"
assert_eq "node-a reason" "local,terminating-fallback" "$(svcr_on node-a list -o json | jq -r '.services[0].backends[0].reason | sort | join(",")')"
pass "Local: node-a falls back to its terminating pod1, node-b uses ready pod2"
