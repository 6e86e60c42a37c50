#!/usr/bin/env bash
# UDP: a real DNS server (dnsmasq) in each backend namespace, queried by a
# real client (dig) through the ClusterIP. dig only accepts a reply from the
# address it asked, so this needs recvmsg to show the VIP as the source.
source "$(dirname "$0")/lib.sh"
require_env dig dnsmasq
make_topology c1:2 b1:11 b2:12
for i in 1 2; do
	# Started directly (not through a shell function) so that $! is dnsmasq.
	ip netns exec "$(ns b$i)" dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= --user=root \
		--listen-address=10.77.0.1$i --bind-interfaces --port=5353 \
		--address=/who.test/10.1.0.$i --log-facility=- >"$TMP/dnsmasq-$i" 2>&1 &
	PIDS+=($!)
done
start_backend b1 echo-1 --udp 5454
start_backend b2 echo-2 --udp 5454
svcr apply -f "$(
	{
		service dns 10.96.0.53 p:53/UDP && slice dns-1 dns p:5353/UDP -- 10.77.0.11 10.77.0.12
		service echo 10.96.0.54 p:54/UDP && slice echo-1 echo p:5454/UDP -- 10.77.0.11 10.77.0.12
	} | manifest dns.yaml
)"
dns_listening() {
	local i
	for i in 1 2; do in_ns b$i ss -Hlun | grep -q ':5353' || { cat "$TMP/dnsmasq-$i" && return 1; }; done
}
wait_until 5 "dnsmasq in b1 and b2 to listen on port 5353" dns_listening

mapfile -t answers < <(for _ in 1 2 3 4 5 6; do in_client c1 dig +short +tries=1 +time=2 @10.96.0.53 who.test A; done)
assert_eq "answers" 6 "${#answers[@]}"
assert_round_robin 2 "${answers[@]}"
pass "dig through the VIP: ${answers[*]}"

# Unconnected (sendto) and connected UDP sockets both see the VIP as source.
out=$(in_client c1 "$PROBE" udp 10.96.0.54 54 || true)
grep -q 'from=10.96.0.54:54' <<<"$out" || fail "reply source is not the VIP: $out"
out=$(in_client c1 "$PROBE" udp 10.96.0.54 54 --connect || true)
grep -q 'from=10.96.0.54:54' <<<"$out" || fail "connected UDP reply source is not the VIP: $out"
pass "recvmsg shows the VIP as the source"

# A TCP connection to the UDP-only port is refused: TCP is not captured.
out=$(in_client c1 "$PROBE" tcp 10.96.0.53 53 --timeout-ms 500 || true)
grep -q 'errno=ECONNREFUSED' <<<"$out" || fail "TCP to a UDP-only service port: $out"
pass "TCP to the UDP-only port refused"
