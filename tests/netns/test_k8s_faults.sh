#!/usr/bin/env bash
# The agent and a faulty API server (svcr-apiserver): a watch cut mid-line,
# a 410 Gone (as an ERROR event, as an HTTP status, and from a compacted
# history), 500s and 429s with Retry-After. After each, a change made
# meanwhile reaches the datapath, and a client connecting without pause to
# an unchanged Service sees no failure at all.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../apiserver/lib.sh"
require_env curl jq && require_apiserver
make_topology api:100 node:5 c1:2 b1:11 b2:12 b3:13
for i in 1 2 3; do start_backend b$i pod$i --tcp 8080; done
start_apiserver api --bookmark-interval 0
put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a"}}' >/dev/null
# The agent's token is in a file, as a projected service-account token is.
echo "$API_TOKEN" >"$TMP/token"
sed -i "s|    token: .*|    tokenFile: $TMP/token|" "$TMP/kubeconfig"
start_kube_agent node node-a
{
	service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11 10.77.0.12
	service spare 10.96.0.20 80 && slice spare-1 spare 8080 -- 10.77.0.13
} | put_yaml >/dev/null
wait_backends web "10.77.0.11 10.77.0.12"
wait_backends spare "10.77.0.13"

# A client connecting to web without pause, from here to the end.
coproc CLIENT { in_client c1 "$PROBE" repeat 10.96.0.10 80 100000000; }
PIDS+=("$CLIENT_PID")
client_pid=$CLIENT_PID
exec {client_out}<&"${CLIENT[0]}"
cat <&$client_out >"$TMP/client" &
PIDS+=($!)
wait_until 5 "the client's first replies" eval '(($(grep -c ^reply= "$TMP/client") > 10))'

n=0
# change_spare: spare's endpoint moves to the next backend; wait for it.
change_spare() {
	n=$((n + 1))
	local ip=10.77.0.1$((n % 3 + 1))
	slice spare-1 spare 8080 -- "$ip" | put_yaml >/dev/null
	wait_until --log "$TMP/agent-node" 15 "spare to move to $ip after $1" eval "[[ \$(backends_of spare) == $ip ]]"
	kill -0 "$client_pid" 2>/dev/null || fail "the client failed during $1: $(tail -3 "$TMP/client")"
	pass "$1: converged (spare -> $ip), client unaffected"
}
metric() { in_ns node curl -s "http://$AGENT_IP:10249/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $2 } END { print s + 0 }'; }

fault '{"fault":"cut"}'
change_spare "watch cut mid-line"
fault '{"fault":"watch-gone"}'
change_spare "ERROR event 410"
fault '{"fault":"http-gone","count":3}'
fault '{"fault":"cut"}'
change_spare "HTTP 410"
fault '{"fault":"compact"}'
slice spare-1 spare 8080 -- 10.77.0.11 10.77.0.12 | put_yaml >/dev/null  # after the compaction
fault '{"fault":"cut"}'
wait_backends spare "10.77.0.11 10.77.0.12"
pass "compacted history: relisted and converged"
fault '{"fault":"http500","count":3}'
fault '{"fault":"cut"}'
change_spare "500s"
fault '{"fault":"http429","count":2,"retryAfter":2}'
fault '{"fault":"cut"}'
change_spare "429s with Retry-After: 2"

# Token rotation: the server takes only the new token (the old one gets
# 401), then the file changes; the agent reads it again and carries on.
admin /tokens -X POST -H 'Content-Type: application/json' --data-binary '{"tokens":["rotated-'$RUN'"]}' >/dev/null
fault '{"fault":"cut"}'
wait_until 10 "a 401 for the old token" eval 'admin /requests | jq -e "any(.[]; .status == 401)"'
echo "rotated-$RUN" >"$TMP/token"
change_spare "token rotation (401, then the new token from the file)"

relists=$(metric 'svcrouter_relists_total{cause="gone"')
restarts=$(metric 'svcrouter_watch_restarts_total')
((relists >= 3)) || fail "relists for gone: $relists"
((restarts >= 3)) || fail "watch restarts: $restarts"
# Retry-After was honoured: after the first 429, the next request waited >= 2 s.
admin /requests | jq -e '[.[] | select(.status == 429)] | length >= 2' >/dev/null || fail "no 429 seen"
kill -0 "$client_pid" 2>/dev/null || fail "the client failed: $(tail -3 "$TMP/client")"
replies=$(grep -c ^reply= "$TMP/client")
pass "relists (gone) $relists, watch restarts $restarts; the client made $replies connections without a failure"
