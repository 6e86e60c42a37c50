#!/usr/bin/env bash
# The agent's operational surface, as kube-proxy's users know it: /healthz
# and /livez (JSON with lastUpdated, currentTime, nodeEligible, healthy),
# /metrics in the Prometheus text format (checked by promtool), and the
# health check node port of a LoadBalancer with externalTrafficPolicy:
# Local, which flips 200 -> 503 when the last local endpoint goes. The agent
# runs in the namespace "node", so its listeners are there, not on the host.
source "$(dirname "$0")/lib.sh"
require_env curl jq
PROMTOOL=$(promtool_path)
make_topology c1:2 node:5 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080

lb() { # lb NODE-OF-ENDPOINT-1 NODE-OF-ENDPOINT-2
	cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  externalTrafficPolicy: Local
  healthCheckNodePort: 32123
  ports: [{port: 80, nodePort: 30080}]
---
YAML
	slice web-1 web 8080 -- "10.77.0.11@$1" "10.77.0.12@$2"
}
conf=$TMP/services.yaml
lb node-a node-b >"$conf"
svcr_bg_in node "$TMP/agent" run --config "$conf" --node-name node-a \
	--metrics-bind-address 10.77.0.5:10249 --healthz-bind-address 10.77.0.5:10256
wait_until 10 "the agent to follow its file" grep -q following "$TMP/agent"
get() { in_ns c1 curl -sS --max-time 2 "$@"; }
wait_until 5 "the healthz port" get -o /dev/null http://10.77.0.5:10256/livez

# /healthz and /livez.
body=$(get -w '\n%{http_code}' http://10.77.0.5:10256/healthz)
assert_eq "healthz status" 200 "$(tail -1 <<<"$body")"
assert_eq "healthz fields" "true true" "$(head -1 <<<"$body" | jq -r '"\(.nodeEligible) \(.healthy)"')"
head -1 <<<"$body" | jq -e '.lastUpdated and .currentTime' >/dev/null || fail "healthz: $body"
assert_eq "livez status" 200 "$(get -o /dev/null -w '%{http_code}' http://10.77.0.5:10256/livez)"
pass "healthz and livez: 200, $(head -1 <<<"$body")"

# Traffic, then /metrics: valid for promtool, kube-proxy's names, ours.
requests c1 4 10.96.0.10 >/dev/null
get http://10.77.0.5:10249/metrics >"$TMP/metrics"
"$PROMTOOL" check metrics <"$TMP/metrics" || fail "promtool check metrics: $(cat "$TMP/metrics")"
for name in kubeproxy_sync_proxy_rules_duration_seconds_bucket kubeproxy_sync_proxy_rules_last_timestamp_seconds \
	kubeproxy_sync_proxy_rules_no_local_endpoints_total svcrouter_map_entries svcrouter_config_errors_total; do
	grep -q "^$name" "$TMP/metrics" || fail "/metrics has no $name"
done
assert_eq "connections counted" 4 \
	"$(awk '/^svcrouter_service_connections_total\{.*service="web"/ { print $2 }' "$TMP/metrics")"
pass "/metrics passes promtool; 4 connections counted for default/web"

# The health check node port: one local endpoint (10.77.0.11 on node-a).
hc() { get -D "$TMP/headers" -w '\n%{http_code}' http://10.77.0.5:32123/; }
wait_until 5 "the health check port" get -o /dev/null http://10.77.0.5:32123/
body=$(hc)
assert_eq "health check with a local endpoint" 200 "$(tail -1 <<<"$body")"
assert_eq "localEndpoints" 1 "$(head -n -1 <<<"$body" | jq .localEndpoints)"
assert_eq "service" default/web "$(head -n -1 <<<"$body" | jq -r '"\(.service.namespace)/\(.service.name)"')"
grep -qi '^X-Load-Balancing-Endpoint-Weight: 1' "$TMP/headers" || fail "no weight header: $(cat "$TMP/headers")"
pass "health check port 32123: 200, 1 local endpoint"

# The local endpoint moves to another node: 503, and the metric says so.
lb node-b node-b >"$conf.new" && mv "$conf.new" "$conf"
wait_until 5 "the health check port to answer 503" \
	bash -c "[[ \$(nsenter --net=/run/netns/$(ns c1) curl -s -o /dev/null -w '%{http_code}' http://10.77.0.5:32123/) == 503 ]]"
body=$(hc)
assert_eq "localEndpoints" 0 "$(head -n -1 <<<"$body" | jq .localEndpoints)"
grep -qi '^X-Load-Balancing-Endpoint-Weight: 0' "$TMP/headers" || fail "weight header: $(cat "$TMP/headers")"
# Read whole, then searched: grep -q would stop reading at its match, and
# curl, writing on into the closed pipe, fail the pipeline (pipefail).
get http://10.77.0.5:10249/metrics >"$TMP/metrics"
grep -q '^kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy="external"} 1' "$TMP/metrics" ||
	fail "no-local-endpoints metric not 1: $(grep no_local_endpoints "$TMP/metrics")"
pass "last local endpoint gone: 503, weight 0, no_local_endpoints_total{external} 1"
