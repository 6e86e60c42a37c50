#!/usr/bin/env bash
# `unload` detaches every program and removes every pin: nothing is left
# attached to the cgroup, no svcrouter program or map stays in the kernel.
source "$(dirname "$0")/lib.sh"
require_env bpftool jq
make_topology c1:2 b1:11
start_backend b1 backend-1 --tcp 8080
svcr apply -f "$({ service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11; } | manifest web.yaml)"
progs=$(bpftool -j cgroup show "$CG" | jq -r '.[].id')
assert_eq "programs attached" 9 "$(wc -w <<<"$progs")"
maps=$(for p in $progs; do bpftool -j prog show id "$p" | jq -r '.map_ids[]?'; done | sort -u)
[[ -n $maps ]] || fail "no maps found"

svcr unload | grep -q unloaded || fail "unload did not report"
[[ ! -e $PIN ]] || fail "$PIN still exists"
assert_eq "programs attached after unload" "" "$(bpftool -j cgroup show "$CG" | jq -r '.[].id')"
# Programs and maps are freed after an RCU grace period.
freed() {
	local id
	for id in $progs; do bpftool prog show id "$id" >/dev/null 2>&1 && echo "program $id still loaded" && return 1; done
	for id in $maps; do bpftool map show id "$id" >/dev/null 2>&1 && echo "map $id still exists" && return 1; done
	return 0
}
wait_until 0.5 "every program and map to be freed" freed
pass "no program, map, link or pin left"

# The VIP is not rewritten any more: the client's namespace has no route to it.
out=$(in_client c1 "$PROBE" tcp 10.96.0.10 80 --timeout-ms 500 || true)
grep -q 'errno=ENETUNREACH' <<<"$out" || fail "after unload: $out"
out=$(svcr unload)
grep -q 'nothing to unload' <<<"$out" || fail "second unload: $out"
pass "second unload: $out"
