#!/usr/bin/env bash
# The whole path of a Pod, from a name to a backend: a network namespace
# whose resolv.conf is a Pod's (the responder as nameserver, the search
# list of namespace default, ndots:5), where `curl http://web/` resolves
# `web` through libc (web.default.svc.cluster.local, A and AAAA) and then
# connects through the socket path to the backends, round-robin. Names
# outside the cluster go upstream (a dnsmasq), as a Pod's would.
source "$(dirname "$0")/lib.sh"
require_env curl dnsmasq getent
make_topology c1:2 node:5 b1:11 b2:12 b3:13 up:20
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080
start_backend b3 pod3 --tcp 8080
ip netns exec "$(ns up)" dnsmasq --keep-in-foreground --no-resolv --no-hosts --pid-file= --user=root \
	--listen-address=10.77.0.20 --bind-interfaces --port=53 --address=/outside.test/10.77.0.11 \
	--log-facility=- >"$TMP/dnsmasq" 2>&1 &
PIDS+=($!)
wait_until --log "$TMP/dnsmasq" 5 "dnsmasq to listen" \
	bash -c "ip netns exec $(ns up) ss -Hlun | grep -q 10.77.0.20:53"

conf=$TMP/services.yaml
{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11 10.77.0.12 10.77.0.13; } >"$conf"
# The agent is attached to the client's cgroup ($CG), as for a Pod.
svcr_bg_in node "$TMP/agent" run --config "$conf" --dns-listen 10.77.0.5:53 --dns-upstream 10.77.0.20
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
resolv_conf c1 <<'CONF'
nameserver 10.77.0.5
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:2 attempts:1
CONF

# libc first: the short name through the search list.
assert_eq "getent hosts web" "10.96.0.10 web.default.svc.cluster.local" \
	"$(in_client_resolv c1 getent hosts web | awk '{ print $1, $2 }')"
assert_eq "getent ahostsv4 web.default" "10.96.0.10" \
	"$(in_client_resolv c1 getent ahostsv4 web.default | awk 'NR == 1 { print $1 }')"
pass "libc resolves web and web.default through the search list"

mapfile -t seq < <(for _ in 1 2 3 4 5 6; do
	in_client_resolv c1 curl -sS --max-time 3 http://web/ 2>&1 || echo "(failed)"
done)
assert_eq "answers" 6 "${#seq[@]}"
assert_round_robin 3 "${seq[@]}"
pass "curl http://web/: libc, the responder, the socket path, round-robin: ${seq[*]}"

# A name outside the cluster: upstream, through the same resolver.
assert_eq "curl http://www.outside.test:8080/" pod1 \
	"$(in_client_resolv c1 curl -sS --max-time 3 http://www.outside.test:8080/)"
pass "a name outside the cluster domain resolved upstream, as a Pod's"
