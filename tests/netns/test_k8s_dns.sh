#!/usr/bin/env bash
# The DNS responder fed by the API server (run --kubernetes --dns-listen):
# names follow Services and EndpointSlices as they are created, changed and
# deleted, one Service at a time; a headless Service (whose slice carries
# service.kubernetes.io/headless, which kube-proxy's selector leaves out)
# and one of another proxy are named too, while the datapath still skips
# them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../apiserver/lib.sh"
require_env curl jq dig && require_apiserver
make_topology api:100 node:5 c1:2
start_apiserver api
API_AGENT_NS=node
start_kube_agent node node-a --dns-listen 10.77.0.5:53 --dns-upstream 10.77.0.99
wait_until --log "$TMP/agent-node" 10 "the agent to follow the API server" grep -q following "$TMP/agent-node"
S=svc.cluster.local
answer() { dig_answer c1 10.77.0.5 "$@"; }
wait_answer() { # wait_answer WANT NAME [TYPE]
	local want=$1
	shift
	wait_until --log "$TMP/agent-node" 5 "$* to answer [$want]" \
		eval '[[ $(answer '"$*"') == "'"$want"'" ]]'
}

{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11; } | put_yaml >/dev/null
wait_answer "web.default.$S. 30 IN A 10.96.0.10" web.default.$S A
wait_backends web "10.77.0.11"
pass "created: the name and the datapath"

service web 10.96.0.20 80 | put_yaml >/dev/null
wait_answer "web.default.$S. 30 IN A 10.96.0.20" web.default.$S A
pass "changed: the new ClusterIP"

python3 - <<'PY' | put_object >/dev/null
import json
print(json.dumps({"kind": "List", "apiVersion": "v1", "items": [
  {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "db", "namespace": "default"},
   "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}},
  {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
   "metadata": {"name": "db-1", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "db", "service.kubernetes.io/headless": ""}},
   "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
   "endpoints": [{"addresses": ["10.1.0.1"], "hostname": "db-0"}]},
  {"kind": "Service", "apiVersion": "v1",
   "metadata": {"name": "other", "namespace": "default",
                "labels": {"service.kubernetes.io/service-proxy-name": "someone-else"}},
   "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 80}]}}]}))
PY
wait_answer "_pg._tcp.db.default.$S. 30 IN SRV 0 100 5432 db-0.db.default.$S." _pg._tcp.db.default.$S SRV
assert_eq "headless A" "db-0.db.default.$S. 30 IN A 10.1.0.1" "$(answer db-0.db.default.$S A)"
wait_answer "other.default.$S. 30 IN A 10.96.0.30" other.default.$S A
assert_eq "the datapath skips them" "10.96.0.20:80/TCP" \
	"$(svcr list -o json | jq -r '[.services[] | "\(.vip):\(.port)/\(.protocol)"] | join(" ")')"
pass "a headless Service and another proxy's: named, not proxied"

delete_object Service default web >/dev/null
wait_until 5 "web to be NXDOMAIN" eval '[[ $(dig_rcode c1 10.77.0.5 web.default.'$S') == NXDOMAIN ]]'
assert_eq "db still there" "db-0.db.default.$S. 30 IN A 10.1.0.1" "$(answer db-0.db.default.$S A)"
pass "deleted: NXDOMAIN; the other Services' names stay"
