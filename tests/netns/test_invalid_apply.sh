#!/usr/bin/env bash
# `apply` of an invalid file exits non-zero with one message naming the file,
# the document and the field, and leaves the previous table serving.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 b1:11 b2:12
start_backend b1 backend-1 --tcp 8080
start_backend b2 backend-2 --tcp 8080
# Ends with "---": what is appended below is document 3.
good=$({ service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11 10.77.0.12; } | manifest good.yaml)
svcr apply -f "$good"
before=$(svcr list -o json | jq -S 'del(.services[].backends[].connections)')

# name  expected-fragment  yaml
check_invalid() {
	local name=$1 want=$2 file rc=0
	file=$(manifest "$name.yaml")
	svcr apply -f "$file" >"$TMP/out" 2>&1 || rc=$?
	[[ $rc != 0 ]] || fail "$name: apply succeeded"
	grep -qF -- "$want" "$TMP/out" || fail "$name: message lacks '$want': $(cat "$TMP/out")"
	grep -qF -- "$name.yaml" "$TMP/out" || fail "$name: message does not name the file: $(cat "$TMP/out")"
	after=$(svcr list -o json | jq -S 'del(.services[].backends[].connections)')
	[[ $before == "$after" ]] || fail "$name: the table changed"
	pass "$name: $(head -1 "$TMP/out")"
}
{ cat "$good"; printf 'kind: Service\n  bad: [indent\n'; } | check_invalid bad-yaml "invalid YAML"
{ cat "$good"; printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n'; } | check_invalid unknown-kind "document 3"
sed 's/port: 80,/port: 70000,/' "$good" | check_invalid bad-port "spec.ports[0].port"
sed 's/clusterIP: 10.96.0.10/clusterIP: 10.96.0.300/' "$good" | check_invalid bad-ip "spec.clusterIP"
sed 's/port: 80, protocol: TCP}/port: 80, protocol: TCPX}/' "$good" | check_invalid bad-proto "spec.ports[0].protocol"
{ cat "$good"; service web2 10.96.0.10 p:80 && slice web2-1 web2 p:8080 -- 10.77.0.11; } | check_invalid duplicate-vip "10.96.0.10:80/TCP"
sed 's/kubernetes.io\/service-name: "web"/kubernetes.io\/service-name: "nosuch"/' "$good" | check_invalid orphan-slice "kubernetes.io/service-name"
sed 's/"10.77.0.12"/"10.77.0"/' "$good" | check_invalid bad-endpoint "endpoints[1].addresses[0]"
# Hostile input: over the bounds of a document (yaml_doc.h), refused whole.
{
	cat "$good"
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: big, annotations: {a: "%s"}}\n' \
		"$(head -c 3000000 /dev/zero | tr '\0' x)"
} | check_invalid big-scalar "document 3 (line"
{ # aliases that would repeat a node 10^9 times ("billion laughs")
	cat "$good"
	printf 'l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n'
	for i in 1 2 3 4 5 6 7 8 9; do
		printf 'l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n' \
			"$i" "$i" $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) \
			$((i - 1)) $((i - 1)) $((i - 1)) $((i - 1))
	done
} | check_invalid alias-bomb "larger than 64 MiB"

mapfile -t seq < <(for _ in 1 2 3 4; do in_client c1 curl -sS --max-time 2 http://10.96.0.10/; done)
assert_round_robin 2 "${seq[@]}"
pass "previous table still serving: ${seq[*]}"
