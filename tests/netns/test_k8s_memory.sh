#!/usr/bin/env bash
# The agent's memory while it follows a large cluster from the API server
# (issue 10: at most 64 MiB resident for 10,000 Services of 10 endpoints):
# `run --kubernetes` against svcr-apiserver holding 10k x 10, its resident
# size after the first sync and after a change of one EndpointSlice stays
# under SVCR_RSS_LIMIT_MIB (64). It still serves: Service s0 reaches a real
# backend.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../apiserver/lib.sh"
require_env curl jq python3 && require_apiserver
make_topology api:100 node:5 c1:2 b1:11
start_backend b1 backend-1 --tcp 8080
limit=${SVCR_RSS_LIMIT_MIB:-64}

start_apiserver api --history 50000
python3 "$SVCR_SRC/tests/support/gen_services.py" json 10000 10 --serve 10.77.0.11 --node node-a |
	put_object >/dev/null
put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a"}}' >/dev/null
start_kube_agent node node-a
wait_until --log "$TMP/agent-node" 60 "the first sync" \
	grep -q "^applied .*10000 service entries, 99991 backends" "$TMP/agent-node"
assert_eq "s0" backend-1 "$(in_client c1 curl -sS --max-time 2 http://10.100.0.1/)"

# Resident size, once the sync's freed memory is given back (right after it).
rss_mib() { echo $(($(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status") / 1024)); }
sleep 1
first=$(rss_mib)
((first <= limit)) || fail "resident after following 10k x 10 from the API: $first MiB, more than $limit MiB"
pass "10k x 10 from the API: $first MiB resident (limit $limit MiB)"

# A change of one EndpointSlice: only its Service is planned.
put_object '{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",
  "metadata":{"name":"s0-1","namespace":"bench","labels":{"kubernetes.io/service-name":"s0"}},
  "addressType":"IPv4","ports":[{"name":"http","port":8080,"protocol":"TCP"}],
  "endpoints":[{"addresses":["10.77.0.11"]},{"addresses":["10.250.0.1"]}]}' >/dev/null
wait_until --log "$TMP/agent-node" 10 "the change" \
	grep -q "^applied .*10000 service entries, 99992 backends" "$TMP/agent-node"
sleep 1
after=$(rss_mib)
((after <= limit)) || fail "resident after a change: $after MiB, more than $limit MiB"
pass "after a change: $after MiB resident"
