#!/usr/bin/env bash
# `svcrouter run --kubernetes` follows the API server (svcr-apiserver): the
# datapath follows Services and EndpointSlices created, modified and
# deleted, a Service whose endpoints span three slices, and topology hints
# on and off with this node's zone from its Node object.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../apiserver/lib.sh"
require_env curl jq && require_apiserver
make_topology api:100 node:5 c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
start_apiserver api
put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a","labels":{"topology.kubernetes.io/zone":"zone-a"}}}' >/dev/null
API_AGENT_NS=node
start_kube_agent node node-a

# Created.
{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11 10.77.0.12; } | put_yaml >/dev/null
wait_backends web "10.77.0.11 10.77.0.12"
mapfile -t seq < <(requests c1 4 10.96.0.10)
assert_round_robin 2 "${seq[@]}"
pass "created: ${seq[*]}"

# Modified: a third endpoint.
slice web-1 web 8080 -- 10.77.0.11 10.77.0.12 10.77.0.13 | put_yaml >/dev/null
wait_backends web "10.77.0.11 10.77.0.12 10.77.0.13"
mapfile -t seq < <(requests c1 6 10.96.0.10)
assert_round_robin 3 "${seq[@]}"
pass "modified: ${seq[*]}"

# One Service, three slices.
{
	service spread 10.96.0.20 80
	for i in 1 2 3; do slice spread-$i spread 8080 -- 10.77.0.1$i; done
} | put_yaml >/dev/null
wait_backends spread "10.77.0.11 10.77.0.12 10.77.0.13"
mapfile -t seq < <(requests c1 3 10.96.0.20)
assert_round_robin 3 "${seq[@]}"
pass "three slices: ${seq[*]}"

# Topology hints: one endpoint for this node's zone (zone-a).
hinted() { # hinted ZONE-OF-11 ZONE-OF-12
	python3 - "$1" "$2" <<'PY'
import json, sys
eps = [{"addresses": [f"10.77.0.1{i}"], "hints": {"forZones": [{"name": z}]}} for i, z in ((1, sys.argv[1]), (2, sys.argv[2]))]
print(json.dumps({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
  "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
  "addressType": "IPv4", "ports": [{"name": "", "port": 8080, "protocol": "TCP"}], "endpoints": eps}))
PY
}
put_object "$(hinted zone-a zone-b)" >/dev/null
wait_backends web "10.77.0.11"
assert_eq "topology reason" topology "$(svcr list -o json | jq -r '.services[] | select(.name == "web") | .backends[0].reason | join(",")' | tr , '\n' | grep -x topology)"
put_object "$(hinted zone-b zone-c)" >/dev/null  # none for zone-a: every endpoint
wait_backends web "10.77.0.11 10.77.0.12"
pass "topology hints: zone-a only 10.77.0.11; no hint for zone-a: both"
# The node moves to zone-c: its hint applies.
put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a","labels":{"topology.kubernetes.io/zone":"zone-c"}}}' >/dev/null
wait_backends web "10.77.0.12"
pass "node relabelled zone-c: 10.77.0.12"

# A LoadBalancer with externalTrafficPolicy: Local: its health check node
# port answers 200 while this node has an endpoint, 503 once the last goes.
put_object '{"kind":"Service","apiVersion":"v1","metadata":{"name":"lb","namespace":"default"},
  "spec":{"type":"LoadBalancer","clusterIP":"10.96.0.30","externalTrafficPolicy":"Local",
          "healthCheckNodePort":32100,"ports":[{"port":80,"nodePort":30100}]}}' >/dev/null
slice lb-1 lb 8080 -- 10.77.0.11@node-a 10.77.0.12@node-b | put_yaml >/dev/null
hc() { in_ns c1 curl -s -o /dev/null -w '%{http_code}' "http://$AGENT_IP:32100/"; }
wait_until --log "$TMP/agent-node" 10 "the health check port to answer 200" eval '[[ $(hc) == 200 ]]'
slice lb-1 lb 8080 -- 10.77.0.11@node-b 10.77.0.12@node-b | put_yaml >/dev/null
wait_until --log "$TMP/agent-node" 10 "the health check port to answer 503" eval '[[ $(hc) == 503 ]]'
pass "health check node port 32100: 200 with a local endpoint, 503 when it moved away"

# /metrics of the --kubernetes agent passes promtool and counts changes.
PROMTOOL=$(promtool_path)
in_ns c1 curl -s "http://$AGENT_IP:10249/metrics" >"$TMP/metrics"
"$PROMTOOL" check metrics <"$TMP/metrics" || fail "promtool check metrics"
changes=$(awk '/^kubeproxy_sync_proxy_rules_endpoint_changes_total/ { print $2 }' "$TMP/metrics")
((changes >= 6)) || fail "endpoint changes counted: $changes"
pass "/metrics passes promtool; $changes endpoint changes counted"

# Deleted: the slice, then the Service.
delete_object EndpointSlice default web-1 >/dev/null
wait_backends web ""
assert_errno ECONNREFUSED c1 tcp 10.96.0.10 80
delete_object Service default web >/dev/null
wait_until 10 "web to be gone" eval '[[ -z $(svcr list -o json | jq -r ".services[] | select(.name == \"web\") | .name") ]]'
pass "slice deleted: refused; service deleted: gone"
kill "$AGENT_PID"
wait_pid "$AGENT_PID" 10 || fail "agent exit status $?"
