#!/usr/bin/env bash
# The agent restarted while the API server is down: the pinned table keeps
# serving as it was (nothing is pruned before the first lists), and once
# the API server is back the agent converges, a change made meanwhile
# included.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../apiserver/lib.sh"
require_env curl jq && require_apiserver
make_topology api:100 node:5 c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
start_apiserver api
put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a"}}' >/dev/null
{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11 10.77.0.12; } | put_yaml >/dev/null
start_kube_agent node node-a
wait_backends web "10.77.0.11 10.77.0.12"
first=$AGENT_PID

fault '{"fault":"down"}'
kill "$first"
wait_pid "$first" 10 || fail "agent exit status $?"
mv "$TMP/agent-node" "$TMP/agent-node.first"
start_kube_agent node node-a
wait_until --log "$TMP/agent-node" 10 "the new agent to meet the API server down" \
	grep -q '503' "$TMP/agent-node"
mapfile -t seq < <(requests c1 4 10.96.0.10)
assert_round_robin 2 "${seq[@]}"
assert_eq "table kept" "10.77.0.11 10.77.0.12" "$(backends_of web)"
health=$(in_ns c1 curl -s -o /dev/null -w '%{http_code}' "http://$AGENT_IP:10256/livez")
assert_eq "livez while starting" 200 "$health"
pass "API server down, agent restarted: still serving ${seq[*]}; nothing pruned"

slice web-1 web 8080 -- 10.77.0.13 | put_yaml >/dev/null  # a change while it is down
sleep 1
assert_eq "no change before the API is back" "10.77.0.11 10.77.0.12" "$(backends_of web)"
fault '{"fault":"up"}'
wait_until --log "$TMP/agent-node" 40 "convergence once the API server is back" \
	eval '[[ $(backends_of web) == 10.77.0.13 ]]'
assert_eq "after convergence" "pod3 pod3" "$(requests c1 2 10.96.0.10 | xargs)"
pass "API server back: converged to the change made while it was down"
