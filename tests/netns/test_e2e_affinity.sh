#!/usr/bin/env bash
# e2e "should have session affinity work for service with type clusterIP":
# each client keeps its backend. On the socket path a client is its network
# namespace: two client namespaces are two clients, and round-robin gives
# the second one the next backend.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 c2:3 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
{ service web 10.96.0.10 80 --affinity 10800 && slice web-x web 8080 -- 10.77.0.1{1,2,3}; } | apply_yaml affinity
mapfile -t one < <(requests c1 10 10.96.0.10)
mapfile -t two < <(requests c2 10 10.96.0.10)
assert_eq "client 1 keeps its backend" 1 "$(printf '%s\n' "${one[@]}" | sort -u | wc -l)"
assert_eq "client 2 keeps its backend" 1 "$(printf '%s\n' "${two[@]}" | sort -u | wc -l)"
[[ ${one[0]} != "${two[0]}" ]] || fail "both clients on ${one[0]}"
assert_eq "list" "ClientIP 10800" "$(svcr list -o json | jq -r '.services[0] | "\(.session_affinity) \(.affinity_timeout_seconds)"')"
pass "client 1 -> ${one[0]} x10, client 2 -> ${two[0]} x10"

# Affinity holds only while the backend is usable: remove client 1's.
gone=${one[0]#pod}
keep=()
for i in 1 2 3; do [[ $i == "$gone" ]] || keep+=("10.77.0.1$i"); done
{ service web 10.96.0.10 80 --affinity 10800 && slice web-x web 8080 -- "${keep[@]}"; } | apply_yaml removed
mapfile -t moved < <(requests c1 5 10.96.0.10)
assert_eq "client 1 moved once, then stays" 1 "$(printf '%s\n' "${moved[@]}" | sort -u | wc -l)"
[[ ${moved[0]} != "${one[0]}" ]] || fail "client 1 still sent to removed ${one[0]}"
assert_eq "client 2 unaffected" "${two[0]}" "$(requests c2 1 10.96.0.10)"
pass "backend removed: client 1 -> ${moved[0]}, client 2 still -> ${two[0]}"
