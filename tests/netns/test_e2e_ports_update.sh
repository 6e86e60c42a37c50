#!/usr/bin/env bash
# Ports added to and removed from a live Service: each port is served from
# the moment it exists, refused (known VIP, undefined port) once it is gone.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11
start_backend b1 pod1-a --tcp 8080
start_backend b1 pod1-b --tcp 8081
ep=(-- 10.77.0.11)
{ service web 10.96.0.10 a:80 && slice web-x web a:8080 "${ep[@]}"; } | apply_yaml one
assert_eq "port 80" pod1-a "$(requests c1 1 10.96.0.10:80)"
assert_errno ECONNREFUSED c1 tcp 10.96.0.10 81
{ service web 10.96.0.10 a:80 b:81 && slice web-x web a:8080 b:8081 "${ep[@]}"; } | apply_yaml two
assert_eq "port 80" pod1-a "$(requests c1 1 10.96.0.10:80)"
assert_eq "port 81 added" pod1-b "$(requests c1 1 10.96.0.10:81)"
pass "port 81 added live"
{ service web 10.96.0.10 b:81 && slice web-x web a:8080 b:8081 "${ep[@]}"; } | apply_yaml other
assert_errno ECONNREFUSED c1 tcp 10.96.0.10 80
assert_eq "port 81" pod1-b "$(requests c1 1 10.96.0.10:81)"
pass "port 80 removed live: refused; 81 still served"
