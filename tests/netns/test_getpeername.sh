#!/usr/bin/env bash
# getpeername() on a rewritten socket returns the VIP and the service port,
# for IPv4 sockets and for IPv4 reached through a v4-mapped IPv6 socket.
source "$(dirname "$0")/lib.sh"
require_env bpftool jq
make_topology c1:2 b1:11
start_backend b1 backend-1 --tcp 8080
svcr apply -f "$({ service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11; } | manifest web.yaml)"

out=$(in_client c1 "$PROBE" tcp 10.96.0.10 80)
grep -qx 'peer=10.96.0.10:80' <<<"$out" || fail "getpeername: $out"
grep -qx 'reply=backend-1' <<<"$out" || fail "reply: $out"
pass "AF_INET getpeername -> 10.96.0.10:80"

# The backend sees the client's own address: no proxy in between.
in_client c1 "$PROBE" hold 10.96.0.10 80 < <(sleep 1) >"$TMP/hold" &
hold=$!
wait_until --log "$TMP/hold" 1 "the held connection's first reply" grep -q reply= "$TMP/hold"
in_ns b1 ss -Htn state established '( sport = :8080 )' >"$TMP/ss"
grep -qE '(^| |\[::ffff:)10\.77\.0\.2\]?:' "$TMP/ss" || fail "backend does not see the client address: $(cat "$TMP/ss")"
wait "$hold"
pass "backend sees the client address"

# A closed socket takes its translation with it (cgroup/sock_release): the
# socket table holds live sockets only.
left=$(bpftool -j map dump pinned "$PIN/maps/svcr_sock_rev" | jq length)
assert_eq "socket entries after every connection closed" 0 "$left"
pass "socket reverse-NAT entries removed on close"
