#!/usr/bin/env bash
# UDP through a NodePort with a real client: dig from c1 (outside the node)
# against a UDP NodePort of the node, dnsmasq in both backend namespaces
# (lb1 on this node, b2 on "another node", reached with SNAT), each giving
# its own answer for who.test, so that the answer names the backend. dig
# accepts only a reply from the address and port it asked: the packet path
# must rewrite the replies' source back to the NodePort.
#   - queries from different source ports are new flows: round-robin;
#   - queries from one source port are one flow: one backend.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env dig dnsmasq jq tc
tc_topology
# Port 5354: svcr-testsrv holds 5353 in both (tc_topology).
for b in lb1:10.78.0.11:1 b2:10.77.0.12:2; do
	IFS=: read -r name addr n <<<"$b"
	# Started directly (not through a shell function) so that $! is dnsmasq.
	ip netns exec "$(ns "$name")" dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= --user=root \
		--listen-address="$addr" --bind-interfaces --port=5354 \
		--address=/who.test/10.1.0."$n" --log-facility=- >"$TMP/dnsmasq-$name" 2>&1 &
	PIDS+=($!)
done
dns_listening() {
	local name
	for name in lb1 b2; do in_ns "$name" ss -Hlun | grep -q ':5354 ' || { cat "$TMP/dnsmasq-$name" && return 1; }; done
}
wait_until 5 "dnsmasq in lb1 and b2 to listen on port 5354" dns_listening

dns_nodeport 30054 5354 | manifest dns.yaml >/dev/null
out=$(on_node --node-name node-a --tc-dev eth0 apply -f "$TMP/dns.yaml" 2>&1) || fail "apply: $out"

# dig from c1's source port SPORT: the answer (10.1.0.1: lb1, 10.1.0.2: b2).
query() { in_ns c1 dig +short +tries=1 +time=2 -b "10.77.0.2#$1" -p 30054 @10.77.0.5 who.test A || true; }

mapfile -t answers < <(for sport in 40001 40002 40003 40004 40005 40006; do query "$sport"; done)
assert_eq "answers" 6 "${#answers[@]}"
assert_eq "both backends answered" "10.1.0.1 10.1.0.2" "$(printf '%s\n' "${answers[@]}" | sort -u | xargs)"
assert_round_robin 2 "${answers[@]}"
pass "dig through the UDP NodePort from 6 source ports: round-robin (${answers[*]})"

mapfile -t same < <(for _ in 1 2 3 4; do query 40100; done)
assert_eq "answers from one source port" 4 "${#same[@]}"
assert_eq "one source port, one backend" 1 "$(printf '%s\n' "${same[@]}" | sort -u | wc -l)"
pass "dig from one source port four times: one flow, one backend (${same[0]})"
