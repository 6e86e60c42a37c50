#!/usr/bin/env bash
# Names outside the cluster domain: forwarded to the upstream (a dnsmasq
# in the namespace "b1") and relayed; cached for their TTL (the second
# query never reaches dnsmasq, and its TTL has aged); an answer too big
# for UDP fetched again over TCP; an ExternalName chased upstream;
# upstream down: SERVFAIL, after the next upstream (nothing there) timed
# out; metrics. The agent runs in "node" (10.77.0.5), dig in "c1".
source "$(dirname "$0")/lib.sh"
require_env dig dnsmasq curl
PROMTOOL=$(promtool_path)
make_topology c1:2 node:5 b1:11

{
	echo "192.0.2.10 www.example.test"
	for i in $(seq 1 100); do echo "192.0.3.$i many.example.test"; done
} >"$TMP/hosts"
# Started directly (not through a shell function) so that $! is dnsmasq.
ip netns exec "$(ns b1)" dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= --user=root \
	--listen-address=10.77.0.11 --bind-interfaces --port=53 --addn-hosts="$TMP/hosts" \
	--local=/example.test/ --local-ttl=300 --log-queries --log-facility="$TMP/dnsmasq.log" \
	>"$TMP/dnsmasq.out" 2>&1 &
dnsmasq=$!
PIDS+=("$dnsmasq")
wait_until --log "$TMP/dnsmasq.out" 5 "dnsmasq to listen" \
	bash -c "ip netns exec $(ns b1) ss -Hltn | grep -q 10.77.0.11:53"

conf=$TMP/services.yaml
cat >"$conf" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: www.example.test}
YAML
# Two upstreams in order: dnsmasq, then an address where nothing is.
svcr_bg_in node "$TMP/agent" run --config "$conf" --dns-listen 10.77.0.5:53 \
	--dns-upstream 10.77.0.11 --dns-upstream 10.77.0.99:53 --metrics-bind-address 10.77.0.5:10249
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
ask() { dig_answer c1 10.77.0.5 "$@"; }
asked() { grep -c "query\[$2\] $1 from 10.77.0.5" "$TMP/dnsmasq.log" || true; }

assert_eq "forwarded" "www.example.test. 300 IN A 192.0.2.10" "$(ask www.example.test A)"
assert_eq "dnsmasq asked once" 1 "$(asked www.example.test A)"
sleep 2
second=$(ask WWW.example.TEST A)
[[ $second =~ ^WWW\.example\.TEST\.\ (29[0-8])\ IN\ A\ 192\.0\.2\.10$ ]] ||
	fail "cached answer: '$second' (want the asker's case and a TTL aged by 2 s)"
assert_eq "dnsmasq still asked once" 1 "$(asked www.example.test A)"
pass "forwarded, then from the cache for its TTL (aged: ${BASH_REMATCH[1]} s left)"

assert_eq "upstream's NXDOMAIN relayed" NXDOMAIN "$(dig_rcode c1 10.77.0.5 nope.example.test A)"
assert_eq "100 addresses (over TCP from dnsmasq, then to dig)" 100 \
	"$(ask many.example.test A | grep -c ' IN A ')"
# Over UDP dnsmasq truncated it (TC); the responder asked again over TCP.
assert_eq "dnsmasq asked twice: UDP, then TCP" 2 "$(asked many.example.test A)"
pass "NXDOMAIN relayed; a truncated answer fetched again over TCP"

assert_eq "ExternalName chased" "ext.default.svc.cluster.local. 30 IN CNAME www.example.test.
www.example.test. 300 IN A 192.0.2.10" "$(ask ext.default.svc.cluster.local A | sed 's/ 29[0-9] IN A/ 300 IN A/')"
pass "ExternalName: its CNAME, then the target's addresses from upstream"

# Upstream down: dnsmasq refuses (ICMP port unreachable), the next upstream
# never answers (2 s): SERVFAIL, not silence. The cache still serves.
kill "$dnsmasq"
wait "$dnsmasq" 2>/dev/null || true
start=$EPOCHREALTIME
assert_eq "upstreams down" SERVFAIL "$(dig_rcode c1 10.77.0.5 +time=6 other.example.test A)"
took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
awk -v t="$took" 'BEGIN { exit !(t >= 1.5 && t < 5) }' || fail "SERVFAIL after $took s (want ~2 s)"
assert_eq "cached, upstream down" "www.example.test." "$(ask www.example.test A | cut -d' ' -f1)"
pass "every upstream failed: SERVFAIL after $took s; cached names still answered"

in_ns c1 curl -sS --max-time 2 http://10.77.0.5:10249/metrics >"$TMP/metrics"
"$PROMTOOL" check metrics <"$TMP/metrics" || fail "promtool check metrics: $(grep dns "$TMP/metrics")"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$TMP/metrics"; }
(($(metric svcrouter_dns_forwarded_total) >= 4)) || fail "forwarded: $(grep dns_ "$TMP/metrics")"
(($(metric svcrouter_dns_cache_hits_total) >= 2)) || fail "cache hits: $(grep dns_ "$TMP/metrics")"
(($(metric 'svcrouter_dns_upstream_failures_total{upstream="10.77.0.11:53"}') >= 1)) ||
	fail "upstream failures: $(grep dns_ "$TMP/metrics")"
(($(metric 'svcrouter_dns_upstream_failures_total{upstream="10.77.0.99:53"}') >= 1)) ||
	fail "upstream failures: $(grep dns_ "$TMP/metrics")"
(($(metric 'svcrouter_dns_queries_total{type="A",rcode="SERVFAIL"}') >= 1)) ||
	fail "SERVFAIL not counted: $(grep dns_queries "$TMP/metrics")"
(($(metric svcrouter_dns_cache_entries) >= 2)) || fail "cache entries: $(grep dns_ "$TMP/metrics")"
pass "/metrics passes promtool; forwarded, cache hits, upstream failures counted"
