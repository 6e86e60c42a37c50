#!/usr/bin/env bash
# e2e "should serve a basic endpoint from pods": a Service whose endpoints
# come and go; each change is served at once, and an empty set is refused.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080
state() { { service web 10.96.0.10 80 && slice web-x web 8080 -- "$@"; } | apply_yaml "$#-$*"; }

state
assert_errno ECONNREFUSED c1 tcp 10.96.0.10 80
pass "no endpoints: refused"
state 10.77.0.11
assert_eq "pod1 only" "pod1 pod1 pod1" "$(requests c1 3 10.96.0.10 | xargs)"
state 10.77.0.11 10.77.0.12
mapfile -t seq < <(requests c1 4 10.96.0.10)
assert_round_robin 2 "${seq[@]}"
pass "pod1 and pod2: ${seq[*]}"
state 10.77.0.12
assert_eq "pod2 only" "pod2 pod2 pod2" "$(requests c1 3 10.96.0.10 | xargs)"
state
assert_errno ECONNREFUSED c1 tcp 10.96.0.10 80
pass "endpoints removed: refused again"
