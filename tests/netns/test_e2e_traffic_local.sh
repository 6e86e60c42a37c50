#!/usr/bin/env bash
# e2e "should respect internalTrafficPolicy=Local Pod to Pod": two nodes,
# each with its own svcrouter (--node-name node-a / node-b) and its own
# clients. A Local service sends a client only to endpoints on its node, and
# refuses it when there are none; a Cluster service uses all of them.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology ca:2 cb:3 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
add_node node-a
add_node node-b
apply_both() {
	local file
	file=$(manifest "$1.yaml")
	for node in node-a node-b; do svcr_on $node apply -f "$file" >/dev/null || fail "apply on $node"; done
}
{
	service local 10.96.0.10 80 --local
	slice local-x local 8080 -- 10.77.0.11@node-a 10.77.0.12@node-b 10.77.0.13@node-b
	service cluster 10.96.0.11 80
	slice cluster-x cluster 8080 -- 10.77.0.11@node-a 10.77.0.12@node-b 10.77.0.13@node-b
} | apply_both both
assert_eq "local client on node-a" "pod1 pod1 pod1" "$(requests ca 3 10.96.0.10 node-a | xargs)"
mapfile -t b < <(requests cb 4 10.96.0.10 node-b)
assert_round_robin 2 "${b[@]}"
printf '%s\n' "${b[@]}" | grep -qx pod1 && fail "node-b client reached node-a's pod1"
mapfile -t c < <(requests ca 6 10.96.0.11 node-a)
assert_round_robin 3 "${c[@]}"
pass "Local: node-a -> pod1, node-b -> ${b[*]}; Cluster: ${c[*]}"

# node-a loses its only local endpoint: its clients are refused at once.
{
	service local 10.96.0.10 80 --local
	slice local-x local 8080 -- 10.77.0.12@node-b 10.77.0.13@node-b
} | apply_both moved
out=$(in_client_on node-a ca "$PROBE" tcp 10.96.0.10 80 || true)
grep -qx 'errno=ECONNREFUSED' <<<"$out" || fail "node-a without local endpoints: $out"
mapfile -t b < <(requests cb 2 10.96.0.10 node-b)
assert_round_robin 2 "${b[@]}"
pass "no local endpoint on node-a: refused there; node-b still served"
