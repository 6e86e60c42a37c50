#!/usr/bin/env bash
# The --kubernetes benchmark of issue 8, in one command:
#
#   sudo scripts/bench-k8s.sh [--build DIR] [--services N] [--changes M]
#
# In throw-away network namespaces: svcr-apiserver (tests/apiserver) holding
# N Services and N EndpointSlices of 5 endpoints each, and svcrouter in a
# namespace of its own. It measures, in one run:
#   - from `svcrouter run --kubernetes` starting to the table programmed
#     (the paged lists of N services and N slices included), and the same
#     for `run --config` on a file of the same objects;
#   - network programming latency of a single endpoint change, M times: from
#     the change's last-change-trigger-time (set just before it is stored)
#     to its flip in the kernel (kubeproxy_network_programming_duration_seconds),
#     and the agent's share: to the flip (svcrouter_sync_publish_duration_seconds)
#     and with the grace period after it (kubeproxy_sync_proxy_rules_duration_seconds);
#   - the agent's RSS once synced.
# Quick mode for CI: --services 1000 --changes 100.
set -euo pipefail
services=10000
changes=1000
build_given=""
while (($#)); do
	case $1 in
	--build) build_given=$2 ;;
	--services) services=$2 ;;
	--changes) changes=$2 ;;
	*) echo "usage: $0 [--build DIR] [--services N] [--changes M]" >&2 && exit 2 ;;
	esac
	shift 2
done
source "$(dirname "$0")/bench-lib.sh"
bench_build "$build_given"
source "$SRC/tests/netns/lib.sh"
source "$SRC/tests/apiserver/lib.sh"
require_env curl jq python3 && require_apiserver
make_topology api:100 node:5

# N Services (10.100.X.Y) and their slices of 5 endpoints (10.200.X.Y..).
python3 - "$services" >"$TMP/objects.json" <<'PY'
import json, sys
n = int(sys.argv[1])
items = []
for i in range(n):
    a, b = divmod(i, 250)
    items.append({"kind": "Service", "apiVersion": "v1",
                  "metadata": {"name": f"s{i}", "namespace": "bench"},
                  "spec": {"clusterIP": f"10.100.{a}.{b + 1}", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    items.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                  "metadata": {"name": f"s{i}-1", "namespace": "bench", "labels": {"kubernetes.io/service-name": f"s{i}"}},
                  "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                  "endpoints": [{"addresses": [f"10.{200 + k}.{a}.{b + 1}"], "conditions": {"ready": True}, "nodeName": "node-a"} for k in range(5)]})
json.dump({"kind": "List", "apiVersion": "v1", "items": items}, sys.stdout)
PY
# The same objects as a manifest file (JSON is YAML), for --config.
python3 -c 'import json, sys
for item in json.load(sys.stdin)["items"]: print("---"); print(json.dumps(item))' \
	<"$TMP/objects.json" >"$TMP/objects.yaml"
start_apiserver api --history $((services * 4 + changes * 2 + 100))
t=$(now)
put_object <"$TMP/objects.json" >/dev/null
echo "emulator loaded with $services services and $services slices in $(since "$t") s" >&2
put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a"}}' >/dev/null

# --- from start to programmed, --kubernetes
ready_line="applied the API server"
t=$(now)
start_kube_agent node node-a ${BENCH_AGENT_ARGS:-}
wait_until --log "$TMP/agent-node" 120 "the first sync" grep -q "$ready_line" "$TMP/agent-node"
k8s_start=$(since "$t")
k8s_rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status")
echo "run --kubernetes: programmed $services services in $k8s_start s; RSS $((k8s_rss / 1024)) MiB" >&2

# --- single endpoint changes: service s0 alternates its first endpoint.
metrics() { in_ns node curl -s "http://$AGENT_IP:10249/metrics"; }
metrics >"$TMP/metrics.before"
bench_endpoint_changes "$changes"
sleep 1
metrics >"$TMP/metrics.after"
# Percentiles from a Prometheus histogram's cumulative buckets (upper bound).
pct() { # pct METRIC Q
	awk -v m="$1_bucket" -v q="$2" 'BEGIN { n = 0 } index($0, m) == 1 {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); les[n] = le; c[n++] = $2 }
		END { total = c[n - 1]; for (i = 0; i < n; i++) if (c[i] >= q * total) { print les[i]; exit } }' "$TMP/metrics.after"
}
count=$(awk '/^kubeproxy_network_programming_duration_seconds_count/ { print $2 }' "$TMP/metrics.after")
echo "network programming over $count changes: p50 <= $(pct kubeproxy_network_programming_duration_seconds 0.5) s, p99 <= $(pct kubeproxy_network_programming_duration_seconds 0.99) s" >&2
echo "agent, sync start to datapath serving it (all syncs): p50 <= $(pct svcrouter_sync_publish_duration_seconds 0.5) s, p99 <= $(pct svcrouter_sync_publish_duration_seconds 0.99) s" >&2
echo "agent sync with the grace period after it (all syncs): p50 <= $(pct kubeproxy_sync_proxy_rules_duration_seconds 0.5) s, p99 <= $(pct kubeproxy_sync_proxy_rules_duration_seconds 0.99) s" >&2
k8s_rss_after=$(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status")
echo "run --kubernetes: RSS $((k8s_rss_after / 1024)) MiB after the changes and two scrapes" >&2
[[ -z ${BENCH_KEEP_LOG:-} ]] || cp "$TMP/agent-node" "$BENCH_KEEP_LOG"
kill "$AGENT_PID"
wait_pid "$AGENT_PID" 10 || true
"$SVCROUTER" unload --pin-dir "$PIN" >/dev/null

# --- the same objects from a file, --config
t=$(now)
svcr_bg_in node "$TMP/agent-file" run --config "$TMP/objects.yaml" --node-name node-a
file_pid=$BG_PID
wait_until --log "$TMP/agent-file" 120 "the file agent's first sync" grep -q "following" "$TMP/agent-file"
file_start=$(since "$t")
file_rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$file_pid/status")
echo "run --config: programmed $services services in $file_start s; RSS $((file_rss / 1024)) MiB" >&2
