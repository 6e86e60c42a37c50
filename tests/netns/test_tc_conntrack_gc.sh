#!/usr/bin/env bash
# The conntrack sweep, over the topology of tests/netns/tc_lib.sh (a
# NodePort on the node's eth0, a local backend lb1 and a remote one b2):
#   - bad --conntrack-gc-interval values are refused, saying why;
#   - `conntrack --gc` without the packet path: nothing to sweep, and said;
#   - `run --tc-dev eth0 --conntrack-gc-interval 1s`: two requests make their
#     entries; once TCP's close timeout (10 s) has passed, a sweep deletes
#     them all (the raw map is empty; the datapath met none of them), and
#     /metrics counted them (promtool passes);
#   - with the agent gone, `conntrack --gc` (for `apply` users) does the
#     same once, and clears the port marks nothing uses.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tc_lib.sh"
require_env curl jq bpftool
PROMTOOL=$(promtool_path)
tc_topology
nodeport cluster 30080 Cluster 10.78.0.11@node-a 10.77.0.12@node-b | manifest np.yaml >/dev/null

for bad in 5 1x 30 50ms 25h -1s 1.5s; do
	if out=$(on_node run --config "$TMP/np.yaml" --conntrack-gc-interval "$bad" 2>&1); then
		fail "--conntrack-gc-interval $bad was taken: $out"
	fi
	[[ $out == *"--conntrack-gc-interval"* && ($out == *"not a duration"* || $out == *"out of range"*) ]] ||
		fail "--conntrack-gc-interval $bad: $out"
done
[[ ! -e $PIN ]] || fail "a refused option left $PIN behind"
pass "bad intervals are refused: $out"

out=$(on_node --node-name node-a apply -f "$TMP/np.yaml" 2>&1) || fail "apply: $out"
out=$(on_node conntrack --gc 2>&1) || fail "conntrack --gc without the packet path: $out"
[[ $out == *"packet path is not loaded"*"nothing to sweep"* ]] || fail "conntrack --gc: $out"
assert_eq "conntrack --gc -o json without the packet path" null \
	"$(on_node conntrack --gc -o json 2>/dev/null | jq -c .swept)"
pass "conntrack --gc without the packet path: nothing to sweep"

ct_entries() { bpftool -j map dump pinned "$PIN/maps/svcr_ct" | jq length; }
metrics() { in_ns node curl -sS --max-time 2 http://10.77.0.5:10249/metrics; }
metric() { metrics | awk -v m="$1" '$1 == m { print $2 }'; }

svcr_bg_in node "$TMP/agent" run --config "$TMP/np.yaml" --node-name node-a --tc-dev eth0 \
	--conntrack-gc-interval 1s --metrics-bind-address 10.77.0.5:10249 \
	--healthz-bind-address 127.0.0.1:0
agent=$BG_PID
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
wait_until --log "$TMP/agent" 5 "the metrics port" metrics
for cport in 40001 40002; do
	answer=$(ask 30080 --local-port "$cport")
	[[ $answer == "pod-local 10.77.0.2" || $answer == "pod-remote 10.77.0.5" ]] ||
		fail "request from port $cport: $answer"
done
made=$(ct_entries)
((made >= 4)) || fail "two flows made $made conntrack entries"
# The flows are closed but within their timeout: sweeps leave them, and say how many there are.
gauge_is() { [[ $(metric svcrouter_conntrack_entries) == "$1" ]]; }
wait_until --log "$TMP/agent" 5 "svcrouter_conntrack_entries to be $made" gauge_is "$made"
assert_eq "entries deleted within the close timeout" 0 "$(metric svcrouter_conntrack_gc_deleted_total)"
assert_eq "entries after a sweep within the close timeout" "$made" "$(ct_entries)"
pass "$made entries of two closed flows, kept by the sweeps within their timeout"

map_empty() { [[ $(ct_entries) == 0 ]]; }
wait_until --log "$TMP/agent" 20 "the sweep to empty svcr_ct" map_empty
wait_until --log "$TMP/agent" 3 "svcrouter_conntrack_entries to be 0" gauge_is 0
metrics >"$TMP/metrics"
"$PROMTOOL" check metrics <"$TMP/metrics" || fail "promtool check metrics: $(cat "$TMP/metrics")"
assert_eq "svcrouter_conntrack_gc_deleted_total" "$made" \
	"$(awk '$1 == "svcrouter_conntrack_gc_deleted_total" { print $2 }' "$TMP/metrics")"
sweeps=$(awk '$1 == "svcrouter_conntrack_gc_duration_seconds_count" { print $2 }' "$TMP/metrics")
((sweeps >= 10)) || fail "$sweeps sweeps in over 10 s at 1 s intervals"
stats=$(on_node stats -o json) || fail "stats: $stats"
assert_eq "entries the datapath expired itself, and entries left" "0 0" \
	"$(jq -r '.packet_path | [.expired, .conntrack_entries] | join(" ")' <<<"$stats")"
pass "the agent's sweep deleted the $made entries past their timeout; /metrics counted them ($sweeps sweeps)"

kill "$agent"
wait_pid "$agent" 10 || fail "the agent did not exit cleanly: $(cat "$TMP/agent")"
answer=$(ask 30080 --local-port 40003)
[[ $answer == pod-* ]] || fail "request without the agent: $answer"
made=$(ct_entries)
((made >= 2)) || fail "a flow made $made conntrack entries"
# Port marks: 6969 is nobody's; 30080 is the NodePort's frontend, and a
# live flow's port (which keeps both bits while the flow lives).
mark() { bpftool map update pinned "$PIN/maps/svcr_ports" key $(($1 & 255)) $(($1 >> 8)) 0 0 value "$2" 0 0 0; }
mark_of() {
	bpftool -j map lookup pinned "$PIN/maps/svcr_ports" key $(($1 & 255)) $(($1 >> 8)) 0 0 |
		jq '.formatted.value.flags // (.value[0] | tonumber)'
}
mark 6969 3
mark 30080 3
gc=$(on_node conntrack --gc -o json) || fail "conntrack --gc: $gc"
assert_eq "conntrack --gc within the close timeout: scanned, deleted, left" "$made 0 $made" \
	"$(jq -r '.swept | [.scanned, .deleted, .entries] | join(" ")' <<<"$gc")"
jq -e '.swept.ports_unmarked >= 1' <<<"$gc" >/dev/null || fail "ports unmarked: $gc"
assert_eq "marks of 6969 (nobody's) and 30080 (a live flow's)" "0 3" "$(mark_of 6969) $(mark_of 30080)"
pass "conntrack --gc keeps a live flow's entries and its ports' marks, clears the others"
sleep 11
out=$(on_node conntrack --gc) || fail "conntrack --gc: $out"
[[ $out =~ ^conntrack:\ $made\ entries\ scanned,\ $made\ expired\ deleted,\ 0\ left,\ [0-9]+\ ports\ unmarked ]] ||
	fail "conntrack --gc past the close timeout: $out"
assert_eq "entries after conntrack --gc" 0 "$(ct_entries)"
assert_eq "mark of 30080 once its flow is gone: the frontend's only" 1 "$(mark_of 30080)"
pass "conntrack --gc past the timeout: $out"

