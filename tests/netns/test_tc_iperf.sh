#!/usr/bin/env bash
# iperf3 through a NodePort on the packet path (--tc-dev eth0): a real bulk
# TCP client in c1, iperf3 servers behind it, once on this node (lb1: DNAT
# only, the server sees the client) and once on "another node" (b2: SNAT,
# the server sees the node), with one and with two parallel streams. Each
# run must end without error (iperf3's control connection outlives its data
# connections, and the end of a test closes them all), with bytes received.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env iperf3 jq tc
tc_topology
start_iperf lb1
start_iperf b2

{
	nodeport iperf-local 30201 Cluster --target 5201 10.78.0.11@node-a
	nodeport iperf-remote 30202 Cluster --target 5201 10.77.0.12@node-b
} | manifest np.yaml >/dev/null
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"

# iperf3 from c1 to the NodePort: iperf PORT STREAMS; the JSON report is
# $TMP/report, the bytes the server received are printed.
iperf() {
	local port=$1 streams=$2 rc=0
	in_ns c1 iperf3 -c 10.77.0.5 -p "$port" -t 2 -P "$streams" -J >"$TMP/report" 2>&1 || rc=$?
	if ((rc != 0)) || [[ $(jq -r '.error // empty' "$TMP/report" 2>/dev/null) != "" ]]; then
		fail "iperf3 to :$port with $streams stream(s) exited $rc: $(jq -r '.error // empty' "$TMP/report" 2>/dev/null || cat "$TMP/report")"
	fi
	jq '.end.sum_received.bytes' "$TMP/report"
}

for run in "30201 lb1 10.77.0.2 local backend, no SNAT" "30202 b2 10.77.0.5 remote backend, SNAT"; do
	read -r port server seen what <<<"$run"
	for streams in 1 2; do
		before=$(grep -c "Accepted connection from" "$TMP/iperf-$server" || true)
		bytes=$(iperf "$port" "$streams")
		[[ $bytes =~ ^[0-9]+$ ]] && ((bytes > 0)) || fail "iperf3 to :$port, $streams stream(s): received '$bytes' bytes"
		# The server saw this test's control connection from the expected address.
		accepted=$(grep "Accepted connection from" "$TMP/iperf-$server" | tail -n +$((before + 1)))
		[[ $accepted == *"from $seen,"* ]] ||
			fail "iperf3 server in $server, test to :$port: expected a connection from $seen: $accepted"
		pass "iperf3 through NodePort :$port ($what), $streams stream(s): $bytes bytes received"
	done
done
