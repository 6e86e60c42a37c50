#!/usr/bin/env bash
# `svcrouter conntrack` and the packet path's counters in `stats`, over the
# topology of tests/netns/tc_lib.sh (a NodePort on the node's eth0, a local
# backend lb1 and a remote one b2):
#   - not loaded: conntrack lists nothing and says so; stats' packet_path is null;
#   - two connections from c1: one flow each, with client, frontend, backend,
#     protocol and state; the remote one source-NATed (SNAT address:port),
#     the local one not; stats counts two new flows and their six entries;
#   - closed flows are left out once past their timeout;
#   - a UDP flow; after unload, nothing is loaded again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env curl jq
tc_topology
{
	nodeport cluster 30080 Cluster 10.78.0.11@node-a 10.77.0.12@node-b
	dns_nodeport
} | manifest np.yaml >/dev/null

# Nothing pinned yet, then the socket path only: no packet path.
out=$(on_node conntrack 2>&1) || fail "conntrack before any load: $out"
[[ $out == *"packet path is not loaded"* ]] || fail "conntrack before any load: $out"
assert_eq "flows before any load" 0 "$(on_node conntrack -o json 2>/dev/null | jq '.flows | length')"
out=$(on_node --node-name node-a --node-ip 10.77.0.5 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"
stats=$(on_node stats -o json) || fail "stats: $stats"
assert_eq "packet_path without --tc-dev" null "$(jq -c .packet_path <<<"$stats")"
[[ $(jq '.services | length' <<<"$stats") -gt 0 ]] || fail "stats lost its services: $stats"
out=$(on_node stats) || fail "stats: $out"
[[ $out == *"packet path: not loaded"* ]] || fail "stats text without --tc-dev: $out"
pass "not loaded: conntrack lists nothing and says so, stats' packet_path is null"

out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"
assert_eq "flows before any request" 0 "$(on_node conntrack -o json | jq '.flows | length')"
assert_eq "new flows before any request" 0 "$(on_node stats -o json | jq .packet_path.new_flows)"

# Two connections from known client ports; which backend each got is in its answer.
declare -A answer backend
for cport in 40001 40002; do
	answer[$cport]=$(ask 30080 --local-port "$cport")
	case ${answer[$cport]} in
	"pod-local 10.77.0.2") backend[$cport]=10.78.0.11:8080 ;;
	"pod-remote 10.77.0.5") backend[$cport]=10.77.0.12:8080 ;;
	*) fail "request from port $cport: ${answer[$cport]}" ;;
	esac
done
assert_eq "backends of the two requests" "10.77.0.12:8080 10.78.0.11:8080" \
	"$(printf '%s\n' "${backend[@]}" | sort | xargs)"

ct=$(on_node conntrack -o json) || fail "conntrack: $ct"
assert_eq "flows" 2 "$(jq '.flows | length' <<<"$ct")"
for cport in 40001 40002; do
	flow=$(jq -c --arg c "10.77.0.2:$cport" '.flows[] | select(.client == $c)' <<<"$ct")
	[[ -n $flow ]] || fail "no flow of client 10.77.0.2:$cport: $ct"
	assert_eq "flow of port $cport" "10.77.0.5:30080 ${backend[$cport]} TCP closing" \
		"$(jq -r '[.frontend, .backend, .protocol, .state] | join(" ")' <<<"$flow")"
	jq -e '(.age_seconds | type) == "number" and .age_seconds < 30 and
		.idle_seconds <= .age_seconds' <<<"$flow" >/dev/null || fail "age and idle: $flow"
	snat=$(jq -r '.snat' <<<"$flow")
	if [[ ${backend[$cport]} == 10.78.0.11:8080 ]]; then
		assert_eq "SNAT of the local flow" null "$snat"
	else
		if ! [[ $snat =~ ^10\.77\.0\.5:([0-9]+)$ ]] || ((BASH_REMATCH[1] < 61000 || BASH_REMATCH[1] > 65535)); then
			fail "SNAT of the remote flow: '$snat', want 10.77.0.5:61000-65535"
		fi
	fi
done
pass "conntrack -o json: two flows; the remote one source-NATed from the node, the local one not"

out=$(on_node conntrack) || fail "conntrack: $out"
head -n1 <<<"$out" | grep -Eq '^CLIENT +FRONTEND +BACKEND +PROTO +STATE +AGE +IDLE +SNAT$' ||
	fail "conntrack's header: $out"
assert_eq "rows of conntrack" 2 "$(grep -c '^10\.77\.0\.2:4000[12] ' <<<"$out")"
grep -q '^10\.77\.0\.2:[0-9]* *10\.77\.0\.5:30080 *10\.78\.0\.11:8080 *TCP *closing .* -$' <<<"$out" ||
	fail "the local flow's row: $out"
pass "conntrack: an aligned table"

stats=$(on_node stats -o json) || fail "stats: $stats"
assert_eq "packet path's counters" "2 0 0 6" \
	"$(jq -r '.packet_path | [.new_flows, .refused, .snat_failed, .conntrack_entries] | join(" ")' <<<"$stats")"
[[ $(jq .packet_path.translated <<<"$stats") -ge 8 ]] || fail "packets translated: $stats"
assert_eq "a service's connections (existing keys kept)" 2 \
	"$(jq '[.services[] | select(.port == 30080 and .scope == "external")][0].connections' <<<"$stats")"
out=$(on_node stats) || fail "stats: $out"
[[ $out == *"packet path: new_flows=2 "*"conntrack_entries=6"* ]] || fail "stats text: $out"
pass "stats: the packet path's counters, summed over CPUs, and its conntrack entries"

# Closed flows live 10 s without traffic (SVCR_CT_TIMEOUT_TCP_CLOSE); then they are left out.
no_flows() { [[ $(on_node conntrack -o json | jq '.flows | length') == 0 ]]; }
wait_until 20 "the closed flows to be left out" no_flows
assert_eq "conntrack once expired" "no flows" "$(on_node conntrack)"
pass "flows past their timeout are left out"

reply=$(in_ns c1 "$PROBE" udp 10.77.0.5 30053 | tr '\n' ' ')
[[ $reply == *"from=10.77.0.5:30053"* ]] || fail "UDP: $reply"
ct=$(on_node conntrack -o json) || fail "conntrack: $ct"
assert_eq "flows (UDP)" 1 "$(jq '.flows | length' <<<"$ct")"
jq -e '.flows[0] | (.client | startswith("10.77.0.2:")) and .frontend == "10.77.0.5:30053" and
	(.backend == "10.78.0.11:5353" or .backend == "10.77.0.12:5353") and .protocol == "UDP" and
	.state == "udp"' <<<"$ct" >/dev/null || fail "the UDP flow: $ct"
pass "a UDP flow"

out=$(on_node unload 2>&1) || fail "unload: $out"
out=$(on_node conntrack 2>&1) || fail "conntrack after unload: $out"
[[ $out == *"packet path is not loaded"* ]] || fail "conntrack after unload: $out"
pass "after unload: not loaded"
