#!/usr/bin/env bash
# An established transfer through a NodePort survives the removal of its
# backend from the agent's file: `svcrouter run --config FILE --tc-dev eth0`
# in the node's namespace, a 6 s iperf3 from c1 to the local backend (lb1),
# and 2 s into it the file is rewritten without lb1 (b2 remains). The
# transfer goes on to its end without error; a new connection afterwards
# goes to b2.
#
# iperf3 opens a control connection and then a data connection, each a new
# flow: the Service has ClientIP affinity so that both reach one backend.
# c1 has two addresses; their first connections take the two backends in
# turn, and the one whose client address went to lb1 runs the transfer.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env iperf3 jq tc curl
tc_topology
ip -n "$(ns c1)" addr add 10.77.0.3/24 dev eth0
start_iperf lb1
start_iperf b2

both() {
	nodeport web 30080 Cluster 10.78.0.11@node-a 10.77.0.12@node-b
	nodeport iperf 30201 Cluster --target 5201 --affinity 10.78.0.11@node-a 10.77.0.12@node-b
}
both | manifest services.yaml >/dev/null
svcr_bg_in node "$TMP/agent" run --config "$TMP/services.yaml" --node-name node-a --tc-dev eth0 \
	--metrics-bind-address 127.0.0.1:0 --healthz-bind-address 127.0.0.1:0
wait_until --log "$TMP/agent" 5 "the agent to follow its file" grep -q following "$TMP/agent"

# iperf3 from c1's address SRC to the NodePort: iperf SRC SECONDS REPORT
iperf() { in_ns c1 iperf3 -c 10.77.0.5 -p 30201 -B "$1" -t "$2" -J >"$3" 2>&1; }
report_ok() { # report_ok FILE: no error, bytes received
	local bytes
	[[ -z $(jq -r '.error // empty' "$1" 2>/dev/null) ]] || return 1
	bytes=$(jq '.end.sum_received.bytes' "$1" 2>/dev/null) || return 1
	[[ $bytes =~ ^[0-9]+$ ]] && ((bytes > 0))
}
accepted() { grep -c "Accepted connection from" "$TMP/iperf-$1" || true; }

# One short test from each address: ClientIP affinity pins each to one backend.
for src in 10.77.0.2 10.77.0.3; do
	iperf "$src" 1 "$TMP/prime-$src" || fail "iperf3 from $src: $(cat "$TMP/prime-$src")"
	report_ok "$TMP/prime-$src" || fail "iperf3 from $src: $(cat "$TMP/prime-$src")"
done
grep "Accepted connection from" "$TMP/iperf-lb1" >"$TMP/lb1-clients" || true
src=$(grep -o 'from 10\.77\.0\.[23],' "$TMP/lb1-clients" | head -1 | grep -o '10\.77\.0\.[23]') ||
	fail "neither address reached lb1: lb1 saw $(cat "$TMP/lb1-clients"), b2 saw $(grep Accepted "$TMP/iperf-b2")"
pass "ClientIP affinity: $src goes to the local backend (lb1)"

lb1_before=$(accepted lb1) b2_before=$(accepted b2)
iperf "$src" 6 "$TMP/long" &
long=$!
PIDS+=("$long")
sleep 2
nodeport web 30080 Cluster 10.77.0.12@node-b | manifest next.yaml >/dev/null
nodeport iperf 30201 Cluster --target 5201 --affinity 10.77.0.12@node-b >>"$TMP/next.yaml"
mv "$TMP/next.yaml" "$TMP/services.yaml"
one_backend() {
	[[ $(on_node list -o json | jq '[.services[] | select(.port == 30201 and .scope == "external")
		| .backends | length] | .[0]') == 1 ]]
}
wait_until --log "$TMP/agent" 3 "the agent to apply the file without lb1" one_backend
exited "$long" && fail "the transfer had ended before the update was applied: $(cat "$TMP/long")"
pass "the file without lb1 is applied while the transfer runs"

rc=0
wait_pid "$long" 15 || rc=$?
((rc == 0)) && report_ok "$TMP/long" || fail "the transfer failed (iperf3 exited $rc): $(jq -c '.error // .end.sum_received' "$TMP/long" 2>/dev/null || cat "$TMP/long")"
assert_eq "the transfer's connections, accepted by lb1" 1 "$(($(accepted lb1) - lb1_before))"
last=$(jq '.intervals[-1].sum.bytes' "$TMP/long")
((last > 0)) || fail "no bytes in the transfer's last interval: $(jq -c '[.intervals[].sum.bytes]' "$TMP/long")"
pass "the transfer to lb1 ran to its end ($(jq '.end.sum_received.bytes' "$TMP/long") bytes, $last in its last second)"

mapfile -t seq < <(for _ in 1 2 3; do ask 30080; done)
assert_eq "new connections" "pod-remote 10.77.0.5|pod-remote 10.77.0.5|pod-remote 10.77.0.5" "$(IFS='|'; echo "${seq[*]}")"
iperf "$src" 1 "$TMP/after" && report_ok "$TMP/after" || fail "iperf3 after the update: $(cat "$TMP/after")"
assert_eq "new iperf3 tests accepted by b2" 1 "$(($(accepted b2) - b2_before))"
pass "new connections go to the remaining backend (b2), also from the client pinned to lb1"
