#!/usr/bin/env bash
# e2e "should serve endpoints on same port and different protocols": port 53
# carries TCP and UDP with different backends; a TCP-only port does not
# capture UDP (refused: the VIP is known, the port/protocol is not).
source "$(dirname "$0")/lib.sh"
require_env
make_topology c1:2 b1:11 b2:12
start_backend b1 tcp-pod --tcp 5353
start_backend b2 udp-pod --udp 5353
start_backend b1 web-pod --tcp 8080 --udp 8080
{
	service dns 10.96.0.10 tcp:53/TCP udp:53/UDP web:80/TCP
	slice dns-t dns tcp:5353/TCP web:8080/TCP -- 10.77.0.11
	slice dns-u dns udp:5353/UDP -- 10.77.0.12
} | apply_yaml dns
out=$(in_client c1 "$PROBE" tcp 10.96.0.10 53)
grep -qx 'reply=tcp-pod' <<<"$out" || fail "TCP 53: $out"
out=$(in_client c1 "$PROBE" udp 10.96.0.10 53)
grep -qx 'reply=udp-pod' <<<"$out" || fail "UDP 53: $out"
grep -qx 'from=10.96.0.10:53' <<<"$out" || fail "UDP 53 source: $out"
pass "53/TCP -> tcp-pod, 53/UDP -> udp-pod"
assert_errno ECONNREFUSED c1 udp 10.96.0.10 80
pass "UDP to the TCP-only port 80: refused, not captured"
