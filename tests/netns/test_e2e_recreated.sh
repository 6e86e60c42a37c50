#!/usr/bin/env bash
# e2e "should work after the service has been recreated": delete a Service,
# create it again (same name and VIP, other endpoints): it serves the new ones.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080
{ service web 10.96.0.10 80 && slice web-x web 8080 -- 10.77.0.11; } | apply_yaml first
assert_eq "first incarnation" "pod1 pod1" "$(requests c1 2 10.96.0.10 | xargs)"
: | apply_yaml deleted
assert_eq "services after delete" 0 "$(svcr list -o json | jq '.services | length')"
assert_errno ENETUNREACH c1 tcp 10.96.0.10 80
{ service web 10.96.0.10 80 && slice web-y web 8080 -- 10.77.0.12; } | apply_yaml recreated
assert_eq "recreated" "pod2 pod2" "$(requests c1 2 10.96.0.10 | xargs)"
assert_eq "fresh counters" 2 "$(svcr stats -o json | jq '.services[0].connections')"
pass "recreated service serves its new endpoints, with fresh counters"
