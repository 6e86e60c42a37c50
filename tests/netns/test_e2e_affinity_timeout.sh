#!/usr/bin/env bash
# e2e "should have session affinity timeout work for service with type
# clusterIP": the client keeps its backend while it connects again within
# timeoutSeconds (each connection refreshes it), and is balanced anew after.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12
for i in 1 2; do start_backend b$i pod$i --tcp 8080; done
{ service web 10.96.0.10 80 --affinity 2 && slice web-x web 8080 -- 10.77.0.11 10.77.0.12; } | apply_yaml timeout
first=$(requests c1 1 10.96.0.10)
for _ in 1 2 3; do
	sleep 1.2 # < 2 s since the last connection: refreshed each time
	assert_eq "within the timeout" "$first" "$(requests c1 1 10.96.0.10)"
done
pass "kept $first across 3.6 s of connections 1.2 s apart"
sleep 2.5
after=$(requests c1 1 10.96.0.10)
[[ $after != "$first" ]] || fail "still $first after the timeout"
assert_eq "then sticky again" "$after $after" "$(requests c1 2 10.96.0.10 | xargs)"
pass "after 2.5 s idle: balanced anew to $after, sticky again"
