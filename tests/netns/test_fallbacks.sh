#!/usr/bin/env bash
# The variant svcrouter loads on a kernel without the optional features,
# forced with --without on this one: each feature off changes behaviour the
# way `svcrouter status` and the README say, and nothing fails to load.
source "$(dirname "$0")/lib.sh"
require_env curl jq bpftool
make_topology c1:2 b1:11 b2:12
start_backend b1 pod1 --tcp 8080 --udp 5353
start_backend b2 pod2 --tcp 8080 --udp 5353
# (sock_destroy's fallback, sock_diag, is tested by test_udp_terminate.sh.)
without=(--without set_retval --without netns_cookie --without recvmsg --without getpeername
	--without sock_release)
file=$(
	{
		service web 10.96.0.10 80 && slice web-x web 8080 -- 10.77.0.11 10.77.0.12
		service sticky 10.96.0.11 80 --affinity 600 && slice sticky-x sticky 8080 -- 10.77.0.11 10.77.0.12
		service udp 10.96.0.12 53/UDP && slice udp-x udp 5353/UDP -- 10.77.0.11
		service empty 10.96.0.13 80 && slice empty-x empty 8080 --
	} | manifest all.yaml
)
# Attached with everything first: --without then reloads and detaches.
svcr apply -f "$file" >/dev/null
assert_eq "programs attached at first" 9 "$(bpftool -j cgroup show "$CG" | jq length)"
svcr "${without[@]}" apply -f "$file" >/dev/null

status=$(svcr "${without[@]}" status -o json)
for f in set_retval netns_cookie recvmsg getpeername sock_release; do
	assert_eq "$f in status" "false turned off by --without $f" \
		"$(jq -r --arg f "$f" '.features[] | select(.name == $f) | "\(.on) \(.reason)"' <<<"$status")"
done
assert_eq "programs attached (no recvmsg, getpeername, sock_release)" \
	"svcr_connect4 svcr_connect6 svcr_sendmsg4 svcr_sendmsg6" \
	"$(bpftool -j cgroup show "$CG" | jq -r '[.[].name] | sort | join(" ")')"
pass "status reports each feature off; their hooks were detached"
! svcr --without atomic_fetch status >/dev/null 2>&1 || fail "--without atomic_fetch accepted: it is required"

mapfile -t seq < <(requests c1 4 10.96.0.10)
assert_round_robin 2 "${seq[@]}"
pass "still exact round-robin (${seq[*]})"
assert_errno EPERM c1 tcp 10.96.0.13 80
pass "set_retval off: a service without endpoints fails with EPERM"
mapfile -t seq < <(requests c1 4 10.96.0.11)
assert_round_robin 2 "${seq[@]}"
pass "netns_cookie off: ClientIP affinity not honoured (${seq[*]})"
out=$(in_client c1 "$PROBE" tcp 10.96.0.10 80)
grep -qE '^peer=10\.77\.0\.1[12]:8080$' <<<"$out" || fail "getpeername: $out"
pass "getpeername off: the backend's address ($(grep peer= <<<"$out"))"
out=$(in_client c1 "$PROBE" udp 10.96.0.12 53)
grep -qx 'from=10.77.0.11:5353' <<<"$out" || fail "recvmsg: $out"
pass "recvmsg off: UDP replies come from the backend's address"
