#!/usr/bin/env bash
# Dual-stack: spec.clusterIPs gives one VIP per family; IPv4 endpoints
# (IPv4 EndpointSlices) serve the IPv4 VIP, IPv6 endpoints the IPv6 VIP.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080
{
	service web 10.96.0.10,fd00:96::10 http:80
	slice web-v4 web http:8080 -- 10.77.0.11
	slice web-v6 web http:8080 -- fd77::12
} | apply_yaml dual
assert_eq "IPv4 VIP -> IPv4 endpoint" "pod1 pod1" "$(requests c1 2 10.96.0.10 | xargs)"
assert_eq "IPv6 VIP -> IPv6 endpoint" "pod2 pod2" "$(requests c1 2 '[fd00:96::10]' | xargs)"
assert_eq "entries" "10.96.0.10 fd00:96::10" "$(svcr list -o json | jq -r '[.services[].vip] | sort | join(" ")')"
pass "one Service, two VIPs, each served by its own family"
