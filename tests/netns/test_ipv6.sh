#!/usr/bin/env bash
# An IPv6 ClusterIP, round-robin over IPv6 backends; getpeername shows it.
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11 b2:12
start_backend b1 backend-1 --tcp 8080
start_backend b2 backend-2 --tcp 8080
svcr apply -f "$({ service web6 fd00:96::10 p:80 && slice web6-1 web6 p:8080 --v6 -- fd77::11 fd77::12; } | manifest web6.yaml)"
mapfile -t seq < <(for _ in $(seq 6); do in_client c1 curl -sS -g --max-time 2 'http://[fd00:96::10]/'; done)
assert_round_robin 2 "${seq[@]}"
out=$(in_client c1 "$PROBE" tcp fd00:96::10 80)
grep -qx 'peer=\[fd00:96::10\]:80' <<<"$out" || fail "getpeername: $out"
pass "IPv6 service: ${seq[*]}; getpeername [fd00:96::10]:80"
