#!/usr/bin/env bash
# e2e "should be able to up and down services": removing one Service leaves
# the others (and their established connections) alone; bringing it back
# serves it again.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
svc() { service "s$1" "10.96.0.1$1" 80 && slice "s$1-x" "s$1" 8080 -- "10.77.0.1$1"; }
{ svc 1 && svc 2 && svc 3; } | apply_yaml up
for i in 1 2 3; do assert_eq "s$i" "pod$i" "$(requests c1 1 10.96.0.1$i)"; done
hold_open c1 10.96.0.11 80
hold_ask
assert_eq "held connection" pod1 "$HOLD_REPLY"

{ svc 1 && svc 3; } | apply_yaml down
# s2's address is no service any more: left alone, and the client has no route to it.
assert_errno ENETUNREACH c1 tcp 10.96.0.12 80
assert_eq "s1" pod1 "$(requests c1 1 10.96.0.11)"
assert_eq "s3" pod3 "$(requests c1 1 10.96.0.13)"
hold_ask
assert_eq "held connection to s1" pod1 "$HOLD_REPLY"
pass "s2 down; s1, s3 and a connection to s1 undisturbed"

{ svc 1 && svc 2 && svc 3; } | apply_yaml up-again
for i in 1 2 3; do assert_eq "s$i" "pod$i" "$(requests c1 1 10.96.0.1$i)"; done
hold_ask
hold_close
pass "s2 up again"
