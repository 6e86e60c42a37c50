#!/usr/bin/env bash
# The DNS responder against dnsmasq, with dnsperf, in one command:
#
#   sudo scripts/bench-dns.sh [--build DIR] [--rounds R] [--seconds S]
#                             [--names N] [--json FILE] [--quick]
#
# A throw-away topology of network namespaces (tests/netns/lib.sh):
#
#   c1 (10.77.0.2)    dnsperf, pinned to CPU 0
#   node (10.77.0.5)  svcrouter run --dns-listen 10.77.0.5:53, pinned to CPU 1
#   dm (10.77.0.6)    dnsmasq, pinned to CPU 1, serving the same N cluster
#                     names from a hosts file (--no-resolv --addn-hosts) and
#                     forwarding the rest, with its cache
#   up (10.77.0.20)   dnsmasq, the upstream of both for the forwarded names
#
# Two workloads: the cluster names (A of N Services,
# svc-I.default.svc.cluster.local, answered from the zone or the hosts
# file), and N forwarded names (A of name-I.example.test, asked once
# upstream to fill both caches, then answered from them). Each round runs
# every (server, workload) pair, in an order that rotates round by round,
# the first round a warm-up left out; the medians are reported:
#
#   peak    dnsperf with 100 queries outstanding for S seconds: queries per
#           second, the average latency
#   half    svcr-dnsload (bench/svcr_dnsload.cpp) at half of that server's
#           peak for S seconds: latency percentiles (p50, p90, p99, p99.9)
#           of every query (dnsperf's per-query report, -v, costs dnsperf
#           more than the servers at these rates: its latencies grow 5x)
#
# and the ratio svcrouter / dnsmasq of the peaks. --quick: 2 rounds of 1 s
# on 200 names (a check that it all runs, for CI; not a measurement).
# Everything it creates is removed when it ends, also on failure.
set -euo pipefail

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

rounds=6
seconds=5
names=1000
json_out=""
build_given=""
while (($#)); do
	case $1 in
	--quick) rounds=2 seconds=1 names=200 && shift && continue ;;
	-h | --help) usage ;;
	--build | --rounds | --seconds | --names | --json) (($# >= 2)) || usage ;;
	*) usage ;;
	esac
	case $1 in
	--build) build_given=$2 ;;
	--rounds) rounds=$2 ;;
	--seconds) seconds=$2 ;;
	--names) names=$2 ;;
	--json) json_out=$2 ;;
	esac
	shift 2
done
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 2 && $seconds =~ ^[1-9][0-9]*$ && $names =~ ^[1-9][0-9]*$ ]] &&
	((names <= 60000)) || { echo "bench-dns: --rounds >= 2, --seconds >= 1, --names 1..60000" >&2 && exit 2; }
[[ -z $json_out ]] || json_out=$(realpath -m "$json_out")

source "$(dirname "$0")/bench-lib.sh"
bench_build "$build_given"
# shellcheck source=tests/netns/lib.sh
source "$SRC/tests/netns/lib.sh"
require_env dnsperf dnsmasq taskset jq
DNSLOAD=$SVCR_BUILD/bench/svcr-dnsload
[[ -x $DNSLOAD ]] || fail "build first: $DNSLOAD missing"
(($(nproc) >= 2)) || skip "needs two CPUs: one for dnsperf, one for the server"

make_topology c1:2 node:5 dm:6 up:20
# The names: Services svc-I on 10.96.X.Y, and forwarded name-I.example.test.
conf=$TMP/services.yaml
: >"$TMP/hosts"
: >"$TMP/cluster.queries"
: >"$TMP/forwarded.queries"
for ((i = 0; i < names; i++)); do
	vip=10.96.$((i / 250)).$((i % 250 + 1))
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: default}\nspec: {clusterIP: %s, ports: [{port: 80}]}\n---\n' \
		"$i" "$vip" >>"$conf"
	echo "$vip svc-$i.default.svc.cluster.local" >>"$TMP/hosts"
	echo "svc-$i.default.svc.cluster.local A" >>"$TMP/cluster.queries"
	echo "name-$i.example.test A" >>"$TMP/forwarded.queries"
done
for w in cluster forwarded; do shuf -o "$TMP/$w.queries" "$TMP/$w.queries"; done

# The upstream: every name under example.test, with a TTL longer than the run.
ip netns exec "$(ns up)" taskset -c 0 dnsmasq --keep-in-foreground --no-resolv --no-hosts \
	--pid-file= --user=root --listen-address=10.77.0.20 --bind-interfaces --port=53 \
	--address=/example.test/192.0.2.1 --local-ttl=3600 --log-facility=- >"$TMP/upstream" 2>&1 &
PIDS+=($!)
# dnsmasq as a node-local cache would run: the cluster names from a hosts
# file, the rest forwarded and cached (TTL as the responder's).
ip netns exec "$(ns dm)" taskset -c 1 dnsmasq --keep-in-foreground --no-resolv --no-hosts \
	--pid-file= --user=root --listen-address=10.77.0.6 --bind-interfaces --port=53 \
	--addn-hosts="$TMP/hosts" --local-ttl=30 --server=10.77.0.20 --cache-size=10000 \
	--dns-forward-max=1000 --log-facility=- >"$TMP/dnsmasq" 2>&1 &
PIDS+=($!)
nsenter --net="/run/netns/$(ns node)" -- taskset -c 1 "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" \
	run --config "$conf" --dns-listen 10.77.0.5:53 --dns-upstream 10.77.0.20 \
	--metrics-bind-address 127.0.0.1:0 --healthz-bind-address 127.0.0.1:0 >"$TMP/agent" 2>&1 &
PIDS+=($!)
listening() { in_ns "$1" ss -Hlun | grep -q "$2:53"; }
wait_until --log "$TMP/upstream" 5 "the upstream dnsmasq" listening up 10.77.0.20
wait_until --log "$TMP/dnsmasq" 5 "dnsmasq" listening dm 10.77.0.6
wait_until --log "$TMP/agent" 20 "the agent's first sync" grep -q '^applied ' "$TMP/agent"

declare -A server=([svcrouter]=10.77.0.5 [dnsmasq]=10.77.0.6)
# Both caches filled with the forwarded names.
for s in svcrouter dnsmasq; do
	in_ns c1 dnsperf -s "${server[$s]}" -d "$TMP/forwarded.queries" -n 1 -Q 5000 -q 50 >"$TMP/fill-$s" 2>&1 ||
		fail "filling $s's cache: $(cat "$TMP/fill-$s")"
done

# perf SERVER WORKLOAD [DNSPERF-ARGS...]: runs dnsperf from c1 on CPU 0.
perf() {
	local s=$1 w=$2
	shift 2
	in_ns c1 taskset -c 0 dnsperf -s "${server[$s]}" -d "$TMP/$w.queries" -l "$seconds" "$@"
}
# The fields of dnsperf's summary: qps, average latency (ms), lost queries.
summary() {
	awk '/Queries per second:/ { q = $4 } /Average Latency \(s\):/ { l = $4 * 1000 }
	     /Queries lost:/ { lost = $3 } END { printf "%.0f %.3f %d\n", q, l, lost }' "$1"
}
# paced SERVER WORKLOAD QPS: svcr-dnsload from c1 on CPU 0; prints
# "lost p50 p90 p99 p99.9" (ms).
paced() {
	in_ns c1 taskset -c 0 "$DNSLOAD" --server "${server[$1]}" --queries "$TMP/$2.queries" \
		--rate "$3" --seconds "$seconds" | awk '{ printf "%d %.3f %.3f %.3f %.3f\n", $3, $5 / 1000, $6 / 1000, $7 / 1000, $8 / 1000 }'
}

results=$TMP/results
: >"$results"
pairs=("svcrouter cluster" "dnsmasq cluster" "svcrouter forwarded" "dnsmasq forwarded")
for ((r = 0; r < rounds; r++)); do
	for ((k = 0; k < ${#pairs[@]}; k++)); do
		read -r s w <<<"${pairs[(k + r) % ${#pairs[@]}]}"
		perf "$s" "$w" -c 4 -q 100 >"$TMP/peak" 2>&1 || fail "dnsperf $s $w: $(cat "$TMP/peak")"
		read -r qps avg lost < <(summary "$TMP/peak")
		half=$((qps / 2))
		read -r hlost p50 p90 p99 p999 < <(paced "$s" "$w" "$half") || fail "svcr-dnsload $s $w"
		echo "$r $s $w $qps $avg $lost $half $p50 $p90 $p99 $p999 $hlost" >>"$results"
		echo "round $r: $s $w: peak $qps qps (avg $avg ms, lost $lost); at $half qps: p50 $p50 p99 $p99 ms (lost $hlost)" >&2
	done
done

# Medians over the rounds after the warm-up (median: bench-lib.sh).
col() { awk -v s="$1" -v w="$2" -v c="$3" '$1 > 0 && $2 == s && $3 == w { print $c }' "$results" | median; }
echo
printf '%-10s %-10s %10s %9s %10s %9s %9s %9s %9s\n' server names "peak qps" "avg ms" "half qps" "p50 ms" "p90 ms" "p99 ms" "p99.9 ms"
json='[]'
for w in cluster forwarded; do
	for s in svcrouter dnsmasq; do
		row=("$(col $s $w 4)" "$(col $s $w 5)" "$(col $s $w 7)" "$(col $s $w 8)" "$(col $s $w 9)" "$(col $s $w 10)" "$(col $s $w 11)")
		printf '%-10s %-10s %10.0f %9.3f %10.0f %9.3f %9.3f %9.3f %9.3f\n' "$s" "$w" "${row[@]}"
		json=$(jq -c --arg s "$s" --arg w "$w" --argjson v "[$(IFS=,; echo "${row[*]}")]" \
			'. + [{server: $s, names: $w, peak_qps: $v[0], peak_avg_ms: $v[1], half_qps: $v[2],
			       p50_ms: $v[3], p90_ms: $v[4], p99_ms: $v[5], p999_ms: $v[6]}]' <<<"$json")
	done
	ratio=$(awk -v a="$(col svcrouter $w 4)" -v b="$(col dnsmasq $w 4)" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
	echo "svcrouter / dnsmasq, $w names: ${ratio}x"
	json=$(jq -c --arg w "$w" --argjson r "$ratio" '. + [{ratio: $w, svcrouter_over_dnsmasq: $r}]' <<<"$json")
done
echo "($((rounds - 1)) rounds of ${seconds} s after a warm-up; $names names; dnsperf on CPU 0, the server on CPU 1)"
[[ -z $json_out ]] || jq . <<<"$json" >"$json_out"
