#!/usr/bin/env bash
# e2e "should serve multiport endpoints from pods": two service ports with
# their own target ports; endpoints that serve only one of them.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12
for i in 1 2; do
	start_backend b$i pod$i-http --tcp 8080
	start_backend b$i pod$i-admin --tcp 9090
done
svc() { service multi 10.96.0.20 http:80 admin:81; }

{ svc && slice multi-x multi http:8080 admin:9090 --; } | apply_yaml empty
assert_errno ECONNREFUSED c1 tcp 10.96.0.20 80
assert_errno ECONNREFUSED c1 tcp 10.96.0.20 81
{ svc && slice multi-x multi http:8080 admin:9090 -- 10.77.0.11; } | apply_yaml pod1
assert_eq "port 80" "pod1-http pod1-http" "$(requests c1 2 10.96.0.20:80 | xargs)"
assert_eq "port 81" "pod1-admin pod1-admin" "$(requests c1 2 10.96.0.20:81 | xargs)"
pass "pod1 serves both ports"
# pod2 in a second slice that names only the http port.
{
	svc
	slice multi-x multi http:8080 admin:9090 -- 10.77.0.11
	slice multi-y multi http:8080 -- 10.77.0.12
} | apply_yaml pod2
mapfile -t http < <(requests c1 4 10.96.0.20:80)
assert_round_robin 2 "${http[@]}"
assert_eq "port 81" "pod1-admin pod1-admin" "$(requests c1 2 10.96.0.20:81 | xargs)"
pass "slices merged: 80 -> ${http[*]}; 81 -> pod1 only"
{ svc && slice multi-x multi http:8080 admin:9090 --; } | apply_yaml none
assert_errno ECONNREFUSED c1 tcp 10.96.0.20 80
assert_errno ECONNREFUSED c1 tcp 10.96.0.20 81
pass "all endpoints gone: both ports refused"
