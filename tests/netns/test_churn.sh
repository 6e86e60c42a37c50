#!/usr/bin/env bash
# Churn: a Service's endpoints change 10 times a second for 30 s while a
# client opens >= 500 connections a second to it; every backend of the pool
# stays up and ready all along, so no connection may fail.
#
# `svcrouter run --config FILE` follows the file, which is replaced
# atomically (rename) with a new subset of a pool of six backends at each
# change: one to five ready endpoints, sometimes a terminating one beside
# them (which must get nothing: ready ones exist), sometimes the other
# target port (each backend answers there under another name). The client
# (svcr-probe load, in the test's cgroup) logs which backend answered each
# connection; each reply is checked against the sets written before it: the
# backend must have been in one, and not removed more than LAG_MS earlier.
source "$(dirname "$0")/lib.sh"
require_env curl

SECONDS_RUN=${CHURN_SECONDS:-30}
RATE=500         # connections a second
CHANGES_HZ=10    # new endpoint sets a second
LAG_MS=1000      # how long after its removal a backend may still be picked
POOL=6

hosts=(c1:2)
for ((n = 1; n <= POOL; n++)); do hosts+=("b$n:$((10 + n))"); done
make_topology "${hosts[@]}"
for ((n = 1; n <= POOL; n++)); do
	start_backend "b$n" "pod$n" --tcp 8080
	start_backend "b$n" "pod$n-alt" --tcp 8081
done

cfg=$TMP/cfg
mkdir -p "$cfg"
versions=$TMP/versions  # "EPOCH_MS VERSION ALLOWED-REPLY..." per file written

# write_version V PORT READY... [-- TERMINATING]: the file's next content,
# renamed over the old one; logs the replies it allows.
write_version() {
	local v=$1 port=$2 eps=() allowed=() ip suffix=""
	shift 2
	((port == 8081)) && suffix=-alt
	while (($#)); do
		if [[ $1 == -- ]]; then
			eps+=("10.77.0.$((10 + $2))/ready=false,serving=true,terminating=true")
			shift 2
			continue
		fi
		eps+=("10.77.0.$((10 + $1))")
		allowed+=("pod$1$suffix")
		shift
	done
	{ service web 10.96.0.10 80 && slice web-x web "$port" -- "${eps[@]}"; } >"$TMP/next.yaml"
	local now=${EPOCHREALTIME/[.,]/}
	echo "$((now / 1000)) $v ${allowed[*]}" >>"$versions"
	mv -f "$TMP/next.yaml" "$cfg/services.yaml"
}

write_version 0 8080 1 2 3 4 5 6
svcr_bg_in c1 "$TMP/agent" run --config "$cfg/services.yaml" \
	--metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:0
agent=$BG_PID
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
wait_until 5 "the service to answer" in_client c1 "$PROBE" tcp 10.96.0.10 80

# The client: paced connections for the whole run, each logged.
in_client c1 "$PROBE" load 10.96.0.10 80 "$SECONDS_RUN" "$RATE" --timeout-ms 2000 \
	--log "$TMP/conns" >"$TMP/load" 2>&1 &
client=$!
PIDS+=("$client")

# The changes: a different ready set each time, paced by the clock.
changes=$((SECONDS_RUN * CHANGES_HZ))
start=${EPOCHREALTIME/[.,]/}
prev=""
for ((v = 1; v <= changes; v++)); do
	while :; do
		ready=()
		for ((n = 1; n <= POOL; n++)); do ((RANDOM % 2)) && ready+=("$n"); done
		((${#ready[@]} >= 1 && ${#ready[@]} < POOL)) || continue
		port=8080
		((RANDOM % 8 == 0)) && port=8081
		key="$port ${ready[*]}"
		[[ $key != "$prev" ]] && break
	done
	prev=$key
	extra=()
	if ((RANDOM % 5 == 0)); then
		# A terminating endpoint beside ready ones: one not ready now.
		for ((n = 1; n <= POOL; n++)); do
			[[ " ${ready[*]} " == *" $n "* ]] || { extra=(-- "$n") && break; }
		done
	fi
	write_version "$v" "$port" "${ready[@]}" "${extra[@]}"
	due=$((start + v * 1000000 / CHANGES_HZ))
	now=${EPOCHREALTIME/[.,]/}
	((due > now)) && sleep "$(printf '0.%06d' $((due - now)))"
done
written=$(($(wc -l <"$versions") - 1))

wait_pid "$client" $((SECONDS_RUN + 30)) || true
cat "$TMP/load"
kill -0 "$agent" 2>/dev/null || fail "the agent died: $(tail -5 "$TMP/agent")"

field() { sed -n "s/^$1=//p" "$TMP/load"; }
total=$(field total) failed=$(field failed) rate=$(field rate)
[[ -n $total ]] || fail "the client printed no summary: $(cat "$TMP/load")"
min_total=$((RATE * SECONDS_RUN * 95 / 100))
((total >= min_total)) || fail "only $total connections (rate $rate/s), fewer than $min_total"
assert_eq "failed connections (of $total; $(grep '^errno' "$TMP/load" | xargs))" 0 "$failed"
pass "$total connections at $rate/s, none failed"

# Every reply from a backend of a set written before it, and at most LAG_MS
# after the set that removed it. Both logs are in time order.
stale=$(awk -v lag="$LAG_MS" '
	BEGIN { n = 0; cur = 0; max = 0 }  # numbers: an unset index would be "", not 0
	NR == FNR { t[n] = $1; allowed[n] = " "; for (i = 3; i <= NF; i++) allowed[n] = allowed[n] $i " "; n++; next }
	{
		while (cur + 1 < n && t[cur + 1] <= $1) cur++
		if ($2 ~ /^errno=/) next
		for (v = cur; v >= 0; v--) if (index(allowed[v], " " $2 " ")) break
		if (v < 0) { printf "BAD %s at %s: in no set written before\n", $2, $1; bad++; next }
		age = (v == cur) ? 0 : $1 - t[v + 1]
		if (age > max) max = age
		if (age > lag) { printf "BAD %s at %s: removed %d ms before\n", $2, $1, age; bad++ }
	}
	END { printf "max_stale_ms=%d\n", max; exit bad > 0 }' "$versions" "$TMP/conns") ||
	fail "connections reached backends outside the set: $(head -5 <<<"$stale")"
pass "every connection reached a backend of a set written before it ($stale)"

# The agent applied the changes: syncs that changed the kernel's table.
applied=$(grep -c '^applied ' "$TMP/agent" || true)
unchanged=$(grep -c '^applied .*(no change)' "$TMP/agent" || true)
changed=$((applied - unchanged))
metrics=$(in_ns c1 curl -sS --max-time 5 http://127.0.0.1:10249/metrics)
published=$(awk '/^svcrouter_sync_publish_duration_seconds_count/ { print $2 }' <<<"$metrics")
publish_sum=$(awk '/^svcrouter_sync_publish_duration_seconds_sum/ { print $2 }' <<<"$metrics")
((changed >= SECONDS_RUN * CHANGES_HZ * 5 / 6)) ||
	fail "the agent applied $changed changes of the $written written (fewer than $((SECONDS_RUN * CHANGES_HZ * 5 / 6)))"
pass "$written endpoint sets written, $changed applied by the agent ($unchanged syncs without a change; published $published, $(awk -v s="$publish_sum" -v n="$published" 'BEGIN { printf "%.3f", n ? s / n * 1000 : 0 }') ms mean to publish)"
