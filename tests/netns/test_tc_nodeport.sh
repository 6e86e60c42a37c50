#!/usr/bin/env bash
# The packet path, end to end: an external client reaches a NodePort on the
# node's tc device (--tc-dev eth0). Topology: on the shared link, the client
# c1 (10.77.0.2), the node (10.77.0.5) and b2 (10.77.0.12), a backend of
# "another node"; behind the node, on a veth of its own, lb1 (10.78.0.11),
# a backend on this node, whose default route is the node.
#   - round-robin over both, from outside;
#   - the local backend sees the client's address; the remote one the
#     node's (SNAT: its reply must come back through the node);
#   - externalTrafficPolicy: Local: the local backend only, client address kept;
#   - a NodePort without endpoints refuses the connection (RST);
#   - unload removes the programs and leaves eth0 as it found it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env curl jq tc
tc_topology
start_backend node node-srv --tcp 9000

{
	nodeport cluster 30080 Cluster 10.78.0.11@node-a 10.77.0.12@node-b
	nodeport local 30081 Local 10.78.0.11@node-a 10.77.0.12@node-b
	nodeport empty 30082 Cluster
	dns_nodeport
} | manifest np.yaml >/dev/null
qdiscs_before=$(in_ns node tc qdisc show dev eth0)
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"

mapfile -t seq < <(for i in 1 2 3 4; do ask 30080; done)
assert_eq "Cluster, from outside" "pod-remote 10.77.0.5|pod-local 10.77.0.2|pod-remote 10.77.0.5|pod-local 10.77.0.2" "$(IFS='|'; echo "${seq[*]}")"
pass "NodePort from outside: round-robin; the local backend sees the client, the remote one the node (SNAT)"

mapfile -t seq < <(for i in 1 2 3; do ask 30081; done)
assert_eq "Local, from outside" "pod-local 10.77.0.2|pod-local 10.77.0.2|pod-local 10.77.0.2" "$(IFS='|'; echo "${seq[*]}")"
pass "externalTrafficPolicy: Local: this node's endpoint only, the client's address kept"

rc=0
in_ns c1 curl -sS --max-time 2 "http://10.77.0.5:30082/" >/dev/null 2>&1 || rc=$?
assert_eq "curl's exit code without endpoints (7: refused; 28 would be a timeout)" 7 "$rc"
pass "a NodePort without endpoints refuses the connection at once (TCP RST)"

# UDP: each new flow (source port) is balanced; replies come from the NodePort.
udp() { in_ns c1 "$PROBE" udp 10.77.0.5 30053 | tr '\n' ' '; }
u1=$(udp) u2=$(udp)
[[ $u1 == *"from=10.77.0.5:30053"* && $u2 == *"from=10.77.0.5:30053"* ]] || fail "UDP replies: $u1 / $u2"
assert_eq "UDP backends" "pod-local pod-remote" "$(printf '%s\n' "$u1" "$u2" | grep -o 'reply=[a-z-]*' | cut -d= -f2 | sort | xargs)"
pass "UDP through the NodePort: both backends, replies from the NodePort"

# An established connection keeps its backend when the backend leaves the
# Service; new connections are dropped, as kube-proxy does (no local
# endpoint is left, one is on node-b: the load balancer's health check
# steers traffic away).
in_ns c1 bash -c 'exec 3<>/dev/tcp/10.77.0.5/30081 && echo a >&3 && read -r x <&3 && echo "$x" &&
	sleep 1.5 && echo b >&3 && read -r y <&3 && echo "$y"' >"$TMP/held" 2>&1 &
held=$!
PIDS+=("$held")
wait_until --log "$TMP/held" 5 "the held connection's first answer" grep -q pod-local "$TMP/held"
{
	nodeport cluster 30080 Cluster 10.78.0.11@node-a 10.77.0.12@node-b
	nodeport local 30081 Local 10.77.0.12@node-b
	nodeport empty 30082 Cluster
} | manifest np2.yaml >/dev/null
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/np2.yaml" 2>&1) || fail "apply: $out"
wait_pid "$held" 10 || fail "the held connection failed: $(cat "$TMP/held")"
assert_eq "held connection" "pod-local pod-local" "$(xargs <"$TMP/held")"
rc=0
in_ns c1 curl -sS --max-time 2 "http://10.77.0.5:30081/" >/dev/null 2>&1 || rc=$?
assert_eq "a new connection once the local endpoint left (28: dropped, a timeout)" 28 "$rc"
[[ $(on_node stats -o json | jq .packet_path.no_local) -ge 1 ]] || fail "the drop is not counted as no_local"
pass "an established connection survives its backend's removal; new ones are dropped"
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"

# What is not a service passes the hooks untouched: a server on the node.
assert_eq "a server on the node" "node-srv" "$(in_ns c1 curl -sS --max-time 2 http://10.77.0.5:9000/ 2>&1)"
pass "other traffic to the node passes"

out=$(on_node unload 2>&1) || fail "unload: $out"
assert_eq "qdiscs after unload" "$qdiscs_before" "$(in_ns node tc qdisc show dev eth0)"
[[ -z $(in_ns node tc filter show dev eth0 ingress 2>/dev/null) ]] || fail "a filter is left on eth0"
assert_eq "after unload" "(failed)" "$(ask 30080)"
pass "unload leaves eth0 as it found it"

# Without tcx (kernels before 6.6): cls_bpf filters on a clsact qdisc.
out=$(on_node --node-name node-a --tc-dev eth0 --without tcx apply -f "$TMP/np.yaml" 2>&1) || fail "apply --without tcx: $out"
in_ns node tc qdisc show dev eth0 | grep -q clsact || fail "no clsact qdisc on eth0"
in_ns node tc filter show dev eth0 ingress | grep -q "svcr_tc_ingress" || fail "no ingress filter on eth0"
mapfile -t seq < <(for i in 1 2; do ask 30080; done)
assert_eq "Cluster, clsact" "pod-remote 10.77.0.5|pod-local 10.77.0.2" "$(IFS='|'; echo "${seq[*]}")"
out=$(on_node unload 2>&1) || fail "unload: $out"
assert_eq "qdiscs after unload (clsact)" "$qdiscs_before" "$(in_ns node tc qdisc show dev eth0)"
pass "clsact + cls_bpf where tcx is missing; unload removes the qdisc it created"

# A clsact qdisc that was there before is used, and left in place.
in_ns node tc qdisc add dev eth0 clsact
qdiscs_before=$(in_ns node tc qdisc show dev eth0)
out=$(on_node --node-name node-a --tc-dev eth0 --without tcx apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"
assert_eq "through an existing clsact" "pod-remote 10.77.0.5" "$(ask 30080)"
out=$(on_node unload 2>&1) || fail "unload: $out"
assert_eq "qdiscs after unload (existing clsact)" "$qdiscs_before" "$(in_ns node tc qdisc show dev eth0)"
[[ -z $(in_ns node tc filter show dev eth0 ingress) ]] || fail "our filter is left on eth0"
pass "an existing clsact qdisc is used and left as it was"

# The conntrack map's size: an option, fixed once loaded.
out=$(on_node --node-name node-a --tc-dev eth0 --conntrack-max 4096 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"
max=$(nsenter --net="/run/netns/$RUN-node" -- bpftool map show pinned "$PIN/maps/svcr_ct" -j | jq .max_entries)
assert_eq "conntrack map size" 4096 "$max"
if out=$(on_node --node-name node-a --tc-dev eth0 --conntrack-max 8192 apply -f "$TMP/np.yaml" 2>&1); then
	fail "a new --conntrack-max was taken on a loaded map"
fi
[[ $out == *"svcrouter unload"* ]] || fail "no hint to unload: $out"
assert_eq "still served" "pod-remote 10.77.0.5" "$(ask 30080)"
pass "--conntrack-max sizes the map; another size on a loaded one is refused, naming the way out"
