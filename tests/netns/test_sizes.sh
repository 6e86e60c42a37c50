#!/usr/bin/env bash
# Map sizes are chosen at load (--max-services, --max-backends, --max-slots)
# and kept: a table too large for them is refused with a message naming the
# option and nothing changes; a later apply or a restarted agent adopts the
# loaded sizes; asking for another size on a loaded datapath is refused with
# the way to do it; and 100,000 service entries load with limits that allow
# them.
source "$(dirname "$0")/lib.sh"
require_env curl jq python3
make_topology c1:2 b1:11
start_backend b1 backend-1 --tcp 8080

# gen FILE N: N Services (10.100.X.Y:80) with one endpoint each, 10.200.X.Y:8080;
# the first and the last are served by b1 (10.77.0.11).
gen() {
	python3 - "$2" >"$1" <<'PY'
import sys
n = int(sys.argv[1])
out = []
for i in range(n):
    a, b = divmod(i, 250)
    ep = "10.77.0.11" if i in (0, n - 1) else f"10.{200 + a // 250}.{a % 250}.{b + 1}"
    out.append(f"""---
apiVersion: v1
kind: Service
metadata: {{name: s{i}, namespace: sizes}}
spec: {{clusterIP: 10.{100 + a // 250}.{a % 250}.{b + 1}, ports: [{{port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: s{i}-1, namespace: sizes, labels: {{kubernetes.io/service-name: s{i}}}}}
addressType: IPv4
ports: [{{port: 8080}}]
endpoints: [{{addresses: ["{ep}"]}}]
""")
sys.stdout.write("".join(out))
PY
}
size_of() { svcr status -o json | jq -r --arg m "$1" '.datapath.maps[] | select(.name == $m) | .max_entries'; }
served() { # served N: the first and the last service reach b1
	local last=$(($1 - 1)) a b
	a=$((last / 250)) b=$((last % 250 + 1))
	assert_eq "first service" backend-1 "$(in_client c1 curl -sS --max-time 2 http://10.100.0.1/)"
	assert_eq "last service" backend-1 "$(in_client c1 curl -sS --max-time 2 "http://10.$((100 + a / 250)).$((a % 250)).$b/")"
}

gen "$TMP/s10.yaml" 10
gen "$TMP/s20.yaml" 20

# Small limits: 10 services fit, 20 do not (ids start at 1: 16 holds 15).
svcr --max-services 16 --max-backends 64 --max-slots 64 apply -f "$TMP/s10.yaml" >/dev/null
served 10
assert_eq "svcr_services sized" 16 "$(size_of svcr_services)"
assert_eq "svcr_rr sized with it" 16 "$(size_of svcr_rr)"
assert_eq "svcr_backends sized" 64 "$(size_of svcr_backends)"
assert_eq "svcr_slots sized" 64 "$(size_of svcr_slots)"
rc=0
svcr apply -f "$TMP/s20.yaml" >"$TMP/out" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "20 services in a table of 15 were applied"
grep -q "too many service entries: the table holds 15 (--max-services" "$TMP/out" ||
	fail "refusal message: $(cat "$TMP/out")"
assert_eq "entries after the refusal" 10 "$(svcr list -o json | jq '.services | length')"
served 10
pass "small limits: $(head -1 "$TMP/out")"

# A different size on the loaded datapath is refused, with the way to do it.
rc=0
svcr --max-services 32 apply -f "$TMP/s10.yaml" >"$TMP/out" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "a size change was accepted"
grep -q -- "--max-services 32: .* was sized 16 .*svcrouter unload" "$TMP/out" ||
	fail "size change message: $(cat "$TMP/out")"
assert_eq "size kept" 16 "$(size_of svcr_services)"
pass "size change refused: $(cat "$TMP/out")"

# The same size given again is fine; a restarted agent adopts the sizes.
svcr --max-services 16 apply -f "$TMP/s10.yaml" | grep -q "no change" || fail "apply with the same size"
cp "$TMP/s10.yaml" "$TMP/config.yaml"
svcr_bg "$TMP/agent" run --config "$TMP/config.yaml" --metrics-bind-address 127.0.0.1:0 \
	--healthz-bind-address 127.0.0.1:0
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
assert_eq "adopted size" 16 "$(size_of svcr_services)"
served 10
kill "$BG_PID"
wait_pid "$BG_PID" 10
pass "a restarted agent adopted the loaded sizes"

# 100,000 service entries, with limits that hold them.
svcr unload >/dev/null
gen "$TMP/s100k.yaml" 100000
start=$(date +%s.%N)
svcr --max-services 131072 --max-backends 131072 --max-slots 262144 apply -f "$TMP/s100k.yaml" >"$TMP/out"
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep -q "applied .*: 100000 service entries, 100000 backends" "$TMP/out" || fail "100k apply: $(head -2 "$TMP/out")"
served 100000
svcr status -o json >"$TMP/status.json"
assert_eq "service entries" 100000 "$(jq '.datapath.memory.service_entries' "$TMP/status.json")"
assert_eq "svcr_services filled" 100000 "$(jq '.datapath.maps[] | select(.name == "svcr_services") | .entries' "$TMP/status.json")"
pass "100,000 service entries applied in $secs s; $(jq -r '.datapath.memory | "\(.bytes_per_service_entry | floor) B per service entry, \(.bytes_per_backend | floor) B per backend"' "$TMP/status.json")"
