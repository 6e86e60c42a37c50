#!/usr/bin/env bash
# e2e "should be able to switch session affinity for service with type
# clusterIP": ClientIP -> None -> ClientIP on a live service, no restart.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
apply_affinity() { { service web 10.96.0.10 80 "$@" && slice web-x web 8080 -- 10.77.0.1{1,2,3}; } | apply_yaml "a$#"; }
distinct() { requests c1 "$1" 10.96.0.10 | sort -u | wc -l; }

apply_affinity --affinity 60
assert_eq "ClientIP: one backend for 9 requests" 1 "$(distinct 9)"
apply_affinity
mapfile -t seq < <(requests c1 9 10.96.0.10)
assert_round_robin 3 "${seq[@]}"
pass "switched to None: ${seq[*]}"
apply_affinity --affinity 60
assert_eq "ClientIP again: one backend for 9 requests" 1 "$(distinct 9)"
pass "switched back to ClientIP: sticky"
