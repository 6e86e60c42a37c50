#!/usr/bin/env bash
# An unconnected UDP socket keeps the backend it was given while that backend
# stays in the service (as a conntrack entry for its source port would under
# kube-proxy), and leaves it when it does not: also when the service is
# deleted and created again (same VIP, possibly the same internal id).
source "$(dirname "$0")/lib.sh"
require_env
make_topology c1:2 b1:11 b2:12
start_backend b1 echo-1 --udp 5454
start_backend b2 echo-2 --udp 5454
both() { { service dns 10.96.0.53 53/UDP && slice dns-x dns 5454/UDP -- "$@"; } }
other() { service other 10.96.0.54 53/UDP && slice other-x other 5454/UDP -- 10.77.0.11; }
{ both 10.77.0.11 10.77.0.12 && other; } | apply_yaml both

coproc UDP { in_client c1 "$PROBE" udphold 10.96.0.53 53; }
PIDS+=("$UDP_PID")
ask_udp() {
	[[ ${1:-} == again ]] && echo >&"${UDP[1]}"
	local line
	while read -r -t 5 -u "${UDP[0]}" line; do
		case $line in reply=*) UDP_REPLY=${line#reply=} && return 0 ;; errno=*) fail "udp socket: $line" ;; esac
	done
	fail "udp socket: no reply"
}
ask_udp
first=$UDP_REPLY
for _ in 1 2 3; do
	ask_udp again
	assert_eq "same socket, same backend" "$first" "$UDP_REPLY"
done
new=$(in_client c1 "$PROBE" udp 10.96.0.53 53 | sed -n 's/^reply=//p')
[[ $new != "$first" ]] || fail "a new socket got $first again: not round-robin"
pass "one socket stays on $first; a new socket is balanced to $new"

# dns deleted, then created again with echo-2 only; echo-1 lives on in `other`.
other | apply_yaml deleted
{ both 10.77.0.12 && other; } | apply_yaml recreated
ask_udp again
assert_eq "after the service was recreated without echo-1" echo-2 "$UDP_REPLY"
pass "the socket left the backend its recreated service no longer has"
exec {UDP[1]}>&-
