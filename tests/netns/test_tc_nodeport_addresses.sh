#!/usr/bin/env bash
# --nodeport-addresses: NodePorts are served on the node's addresses in the
# given CIDRs only (kube-proxy's flag). The node has two addresses on eth0,
# 10.77.0.5/24 and 10.79.0.5/24; the client c1 reaches both on the link.
#   - with 10.79.0.0/24 the NodePort answers on 10.79.0.5 (both backends,
#     SNAT for the remote one) and is not translated on 10.77.0.5: the
#     node's own stack refuses it, nothing listens there;
#   - `list` shows the NodePort's entries on 10.79.0.5 only;
#   - another apply with 10.77.0.0/24 moves it; `run` takes the flag too;
#   - an invalid value is refused, naming the flag and the value, and
#     changes nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env curl jq tc
tc_topology
ip -n "$(ns node)" addr add 10.79.0.5/24 dev eth0
ip -n "$(ns c1)" route add 10.79.0.0/24 dev eth0

nodeport web 30080 Cluster 10.78.0.11@node-a 10.77.0.12@node-b | manifest np.yaml >/dev/null

# GET /peer from c1 to ADDR:30080: the backend's name and the address it saw,
# or "(failed rc=N)" with curl's exit code (7: refused at once).
ask_at() {
	local rc=0
	in_ns c1 curl -sS --max-time 2 "http://$1:30080/peer" 2>/dev/null || rc=$?
	((rc == 0)) || echo "(failed rc=$rc)"
}
# The NodePort's entries in `list`: "scope address:port" per line, sorted.
nodeport_entries() {
	on_node list -o json | jq -r '.services[] | select(.port == 30080) | "\(.scope) \(.vip):\(.port)"' |
		sort | xargs
}
# Answers on ON from both backends, and a refusal (not translated) on OFF.
assert_served_on() {
	local on=$1 off=$2 seq
	mapfile -t seq < <(for _ in 1 2 3 4; do ask_at "$on"; done)
	assert_eq "answers on $on" "pod-local 10.77.0.2|pod-remote 10.77.0.5" \
		"$(printf '%s\n' "${seq[@]}" | sort -u | paste -sd'|')"
	assert_eq "on $off" "(failed rc=7)" "$(ask_at "$off")"
	assert_eq "entries" "external $on:30080 node $on:30080" "$(nodeport_entries)"
}

out=$(on_node --node-name node-a --tc-dev eth0 --nodeport-addresses 10.79.0.0/24 apply -f "$TMP/np.yaml" 2>&1) ||
	fail "apply: $out"
assert_served_on 10.79.0.5 10.77.0.5
pass "--nodeport-addresses 10.79.0.0/24: served on 10.79.0.5 only, 10.77.0.5 is not translated"

out=$(on_node --node-name node-a --tc-dev eth0 --nodeport-addresses 10.77.0.0/24 \
	--nodeport-addresses fd00::/8 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"
assert_served_on 10.77.0.5 10.79.0.5
pass "another apply with 10.77.0.0/24 (and an IPv6 CIDR beside it) moves the NodePort there"

# Invalid values: refused before anything is touched.
for bad in 10.79.0.0/33 10.79.0.0 fd00::/8x; do
	rc=0
	out=$(on_node --node-name node-a --tc-dev eth0 --nodeport-addresses "$bad" apply -f "$TMP/np.yaml" 2>&1) || rc=$?
	assert_eq "exit code for --nodeport-addresses $bad" 2 "$rc"
	[[ $out == *--nodeport-addresses* && $out == *"$bad"* ]] || fail "the message names neither flag nor value: $out"
done
rc=0
out=$(on_node --tc-dev eth0 --nodeport-addresses primary --nodeport-addresses 10.0.0.0/8 apply -f "$TMP/np.yaml" 2>&1) || rc=$?
assert_eq "exit code for primary with a CIDR" 2 "$rc"
[[ $out == *--nodeport-addresses*primary* ]] || fail "primary with a CIDR: $out"
assert_eq "entries after the refusals" "external 10.77.0.5:30080 node 10.77.0.5:30080" "$(nodeport_entries)"
pass "invalid values are refused, naming the flag and the value; nothing changed"

# The agent takes it too.
svcr_bg_in node "$TMP/agent" run --config "$TMP/np.yaml" --node-name node-a --tc-dev eth0 \
	--nodeport-addresses 10.79.0.0/24 --metrics-bind-address 127.0.0.1:0 --healthz-bind-address 127.0.0.1:0
wait_until --log "$TMP/agent" 5 "the agent to follow its file" grep -q following "$TMP/agent"
assert_served_on 10.79.0.5 10.77.0.5
pass "run --nodeport-addresses: served on 10.79.0.5 only"
