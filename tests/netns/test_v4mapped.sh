#!/usr/bin/env bash
# An IPv4 service reached through an AF_INET6 socket (::ffff:a.b.c.d), for
# TCP and UDP: rewritten to the IPv4 backend, the VIP shown back v4-mapped.
source "$(dirname "$0")/lib.sh"
require_env
make_topology c1:2 b1:11 b2:12
start_backend b1 backend-1 --tcp 8080 --udp 5353
start_backend b2 backend-2 --tcp 8080 --udp 5353
svcr apply -f "$(
	{
		service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11 10.77.0.12
		service udp 10.96.0.11 p:53/UDP && slice udp-1 udp p:5353/UDP -- 10.77.0.11 10.77.0.12
	} | manifest mapped.yaml
)"
mapfile -t seq < <(in_client c1 "$PROBE" repeat ::ffff:10.96.0.10 80 4 | sed -n 's/^reply=//p')
assert_round_robin 2 "${seq[@]}"
out=$(in_client c1 "$PROBE" tcp ::ffff:10.96.0.10 80)
grep -qx 'peer=\[::ffff:10.96.0.10\]:80' <<<"$out" || fail "getpeername: $out"
out=$(in_client c1 "$PROBE" udp ::ffff:10.96.0.11 53)
grep -qx 'from=\[::ffff:10.96.0.11\]:53' <<<"$out" || fail "udp reply source: $out"
grep -q '^reply=backend-' <<<"$out" || fail "udp reply: $out"
pass "v4-mapped TCP ${seq[*]}; UDP reply from the mapped VIP"
