#!/usr/bin/env bash
# A service with no usable backend fails connect() and UDP sendmsg() at once
# with ECONNREFUSED (kube-proxy's REJECT), never a timeout, never EPERM; so
# does a port the service does not define on a known VIP.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 b1:11
start_backend b1 backend-1 --tcp 8080
svcr apply -f "$(manifest empty.yaml <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  clusterIP: 10.96.0.30
  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: empty-1, labels: {kubernetes.io/service-name: empty}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
- addresses: [10.77.0.11]
  conditions: {ready: false}
YAML
)"
check_refused() {
	local what=$1 out ms
	shift
	out=$(in_client c1 "$PROBE" "$@" --timeout-ms 2000 || true)
	grep -qx 'errno=ECONNREFUSED' <<<"$out" || fail "$what: $out"
	ms=$(sed -n 's/^elapsed_ms=//p' <<<"$out")
	awk -v ms="$ms" 'BEGIN { exit !(ms < 100) }' || fail "$what took $ms ms"
	pass "$what: ECONNREFUSED in $ms ms"
}
check_refused "TCP connect, no endpoints" tcp 10.96.0.30 80
check_refused "TCP connect, no endpoints, v4-mapped" tcp ::ffff:10.96.0.30 80
check_refused "UDP sendmsg, no endpoints" udp 10.96.0.30 53
check_refused "UDP connect, no endpoints" udp 10.96.0.30 53 --connect
check_refused "port the service does not define" tcp 10.96.0.30 8080
rc=0
in_client c1 curl -sS --max-time 2 http://10.96.0.30/ 2>"$TMP/curl.err" || rc=$?
assert_eq "curl exit code (7 = could not connect)" 7 "$rc"
refused=$(svcr stats -o json | jq '[.services[].refused] | add')
[[ $refused -ge 5 ]] || fail "refused counter is $refused"
pass "curl fails to connect at once (exit 7); refused counter $refused"
