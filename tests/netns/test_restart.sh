#!/usr/bin/env bash
# The datapath outlives the agent: a second apply adopts what is pinned
# (same programs, same maps, counters kept); a killed agent leaves traffic
# flowing; a restarted agent adopts the table without a flush, swaps in its
# programs without breaking an established connection, and follows its file.
source "$(dirname "$0")/lib.sh"
require_env curl bpftool jq
make_topology c1:2 b1:11 b2:12
start_backend b1 backend-1 --tcp 8080
start_backend b2 backend-2 --tcp 8080
web=$({ service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11 10.77.0.12; } | manifest web.yaml)
svcr apply -f "$web"
ids() { bpftool -j cgroup show "$CG" | jq -r '[.[].id] | sort | join(",")'; }
progs=$(ids)
for _ in 1 2 3 4; do in_client c1 curl -sS --max-time 2 http://10.96.0.10/ >/dev/null; done
out=$(svcr apply -f "$web")
grep -q 'no change' <<<"$out" || fail "second apply: $out"
assert_eq "programs after a second apply" "$progs" "$(ids)"
assert_eq "connections counted" 4 "$(svcr stats -o json | jq '.services[0].connections')"
pass "second apply adopted programs $progs and kept counters"

# The agent, following a file; kill -9 it, traffic keeps flowing.
cp "$web" "$TMP/config.yaml"
svcr_bg "$TMP/agent1" run --config "$TMP/config.yaml"
agent=$BG_PID
wait_until --log "$TMP/agent1" 5 "the agent to follow its file" grep -q following "$TMP/agent1"
[[ $(ids) != "$progs" ]] || fail "a starting agent did not swap in its programs"
hold_open c1 10.96.0.10 80
hold_ask
held=$HOLD_REPLY
kill -9 "$agent"
wait "$agent" 2>/dev/null || true
kill -0 "$agent" 2>/dev/null && fail "agent still running"
mapfile -t seq < <(for _ in 1 2 3 4; do in_client c1 curl -sS --max-time 2 http://10.96.0.10/; done)
assert_round_robin 2 "${seq[@]}"
pass "agent killed: still serving ${seq[*]}"

# A restarted agent: no flush, programs swapped under live connections.
before=$(svcr stats -o json | jq '.services[0].connections')
svcr_bg "$TMP/agent2" run --config "$TMP/config.yaml"
agent=$BG_PID
wait_until --log "$TMP/agent2" 5 "the restarted agent to follow its file" grep -q following "$TMP/agent2"
grep -q 'no change' "$TMP/agent2" || fail "restarted agent changed the table: $(cat "$TMP/agent2")"
assert_eq "counters after restart" "$before" "$(svcr stats -o json | jq '.services[0].connections')"
hold_ask
assert_eq "held connection across restarts" "$held" "$HOLD_REPLY"
pass "restarted agent adopted the table; held connection to $held intact"

# The agent follows its file: drop backend-2.
{ service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11; } >"$TMP/config.yaml.new"
mv "$TMP/config.yaml.new" "$TMP/config.yaml"
backends() { [[ $(svcr list -o json | jq '.services[0].backends | length') == "$1" ]]; }
wait_until 5 "the agent to apply the changed file (1 backend)" backends 1
mapfile -t seq < <(for _ in 1 2 3; do in_client c1 curl -sS --max-time 2 http://10.96.0.10/; done)
assert_eq "after the file changed" "backend-1 backend-1 backend-1" "${seq[*]}"
# An invalid file is reported and the table kept.
echo "kind: [" >"$TMP/config.yaml"
wait_until --log "$TMP/agent2" 5 "the agent to report the invalid file" grep -q 'invalid YAML' "$TMP/agent2"
assert_eq "after an invalid file" "backend-1" "$(in_client c1 curl -sS --max-time 2 http://10.96.0.10/)"
kill "$agent"
wait_pid "$agent" 10 || fail "agent did not exit cleanly on SIGTERM"
hold_close
pass "agent followed its file and kept the table on an invalid one"
