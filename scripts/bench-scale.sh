#!/usr/bin/env bash
# Issue 10's benchmark (big clusters and long lives), in one command:
#
#   sudo scripts/bench-scale.sh [--build DIR] [--rounds R] [--sizes "1000 10000 100000"]
#                               [--changes M] [--cold-sizes "10000"] [--cold-endpoints E]
#                               [--json FILE]
#
# In throw-away network namespaces and a child cgroup, it measures in one run:
#   1. for each size N of --cold-sizes, a table of N Services x E endpoints
#      (default 10) from cold, R rounds, interleaved: `svcrouter apply` (the
#      whole command, and its parts: reading the file, planning, the map
#      work, and loading the programs, which goes on beside the reading)
#      against kube-proxy-style rules for the same set loaded by
#      `iptables-restore` (nf_tables backend) and by `nft -f` (kube-proxy's
#      nftables mode: verdict maps), each into a fresh network namespace;
#      then one change of the set (the first Service's first endpoint) as
#      each applies it: `svcrouter apply` of the changed file (and its map
#      work), kube-proxy's partial `iptables-restore --noflush`, and its nft
#      transaction (scripts/bench-services.py writes all of them);
#   2. for each size N: `svcrouter run --kubernetes` against svcr-apiserver
#      holding N Services of 5 endpoints, then M single-endpoint changes
#      (50 ms apart): the agent's one-change latency from the moment it
#      knows of the change (its sync starts) to the flip in the kernel
#      (svcrouter_sync_publish_duration_seconds, p50/p99), the network
#      programming latency from the change's trigger time, map memory per
#      service entry and per backend (`status -o json`), and the agent's RSS.
# Quick mode: --rounds 2 --sizes "1000 10000" --changes 100.
set -euo pipefail
rounds=3
sizes="1000 10000 100000"
cold_sizes="10000"
cold_endpoints=10
changes=200
json=""
build_given=""
while (($#)); do
	case $1 in
	--build) build_given=$2 ;;
	--rounds) rounds=$2 ;;
	--sizes) sizes=$2 ;;
	--changes) changes=$2 ;;
	--cold-sizes) cold_sizes=$2 ;;
	--cold-endpoints) cold_endpoints=$2 ;;
	--json) json=$2 ;;
	*) echo "usage: $0 [--build DIR] [--rounds R] [--sizes \"N...\"] [--changes M] [--cold-sizes \"N...\"] [--cold-endpoints E] [--json FILE]" >&2 && exit 2 ;;
	esac
	shift 2
done
source "$(dirname "$0")/bench-lib.sh"
bench_build "$build_given"
source "$SRC/tests/netns/lib.sh"
source "$SRC/tests/apiserver/lib.sh"
bench_need nft:nftables iptables-nft-restore:iptables
require_env curl jq python3 nft iptables-nft-restore && require_apiserver
make_topology api:100 node:5
results=()

# ---- 1. N x E from cold, and one change -------------------------------------
# apply_timed FILE OUT: `svcrouter apply` of FILE, its wall time appended to
# OUT, and with -v (which also logs every map operation, so its own total is
# not the figure above; run after, on the table the first left) its parts
# appended to OUT.parts: read, plan, map work and load (ms).
apply_timed() {
	local t
	t=$(now)
	"$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "${sizes_opts[@]}" apply -f "$1" >/dev/null
	since "$t" >>"$2"
}
apply_parts() {
	"$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "${sizes_opts[@]}" -v apply -f "$1" 2>&1 >/dev/null |
		awk '/debug: read \// { for (i = 1; i <= NF; i++) if ($i == "in") r = $(i + 1) }
		     /planned in/ { for (i = 1; i <= NF; i++) { if ($i == "planned") p = $(i + 2); if ($i == "operations") m = $(i + 2) } }
		     /debug: preloaded in/ { for (i = 1; i <= NF; i++) if ($i == "in") l = $(i + 1) }
		     END { print r, p, m, l }' >>"$2"
}
svcr_cold() {
	apply_timed "$TMP/cold.yaml" "$TMP/t.svcrouter"
	apply_timed "$TMP/cold.change.yaml" "$TMP/t.svcrouter-change"
	"$SVCROUTER" --pin-dir "$PIN" unload >/dev/null
	apply_parts "$TMP/cold.yaml" "$TMP/t.parts"
	apply_parts "$TMP/cold.change.yaml" "$TMP/t.change-parts"
	"$SVCROUTER" --pin-dir "$PIN" unload >/dev/null
}
rules_cold() { # rules_cold iptables|nft
	local ns="$RUN-cold" t
	ip netns add "$ns"
	t=$(now)
	if [[ $1 == iptables ]]; then
		ip netns exec "$ns" iptables-nft-restore <"$TMP/cold.iptables"
		since "$t" >>"$TMP/t.$1"
		t=$(now)
		ip netns exec "$ns" iptables-nft-restore --noflush <"$TMP/cold.change.iptables"
	else
		ip netns exec "$ns" nft -f "$TMP/cold.nft"
		since "$t" >>"$TMP/t.$1"
		t=$(now)
		ip netns exec "$ns" nft -f "$TMP/cold.change.nft"
	fi
	since "$t" >>"$TMP/t.$1-change"
	ip netns del "$ns"
}
cold_json=()
for n in $cold_sizes; do
	bench_services "$TMP/cold" "$n" "$cold_endpoints" - 10.77.0.11
	read -ra sizes_opts <<<"$(bench_map_sizes "$n" "$cold_endpoints")"
	echo "$n services x $cold_endpoints endpoints: manifest $(($(stat -c %s "$TMP/cold.yaml") / 1024)) KiB, iptables-restore input $(wc -l <"$TMP/cold.iptables") lines, nft script $(wc -l <"$TMP/cold.nft") lines" >&2
	rm -f "$TMP"/t.*
	cases=(svcrouter iptables nft)
	for ((r = 0; r <= rounds; r++)); do
		# Rotate the order each round; round 0 warms up and is not counted.
		for ((c = 0; c < 3; c++)); do
			what=${cases[$(((c + r) % 3))]}
			case $what in
			svcrouter) svcr_cold ;;
			*) rules_cold "$what" ;;
			esac
		done
		if ((r == 0)); then rm -f "$TMP"/t.*; fi
	done
	col() { awk -v c="$1" '{ print $c }' "$2" | median; }
	cold_svcr=$(median <"$TMP/t.svcrouter")
	cold_ipt=$(median <"$TMP/t.iptables")
	cold_nft=$(median <"$TMP/t.nft")
	read_ms=$(col 1 "$TMP/t.parts") plan_ms=$(col 2 "$TMP/t.parts") maps_ms=$(col 3 "$TMP/t.parts") load_ms=$(col 4 "$TMP/t.parts")
	change_svcr=$(median <"$TMP/t.svcrouter-change")
	change_maps_ms=$(col 3 "$TMP/t.change-parts")
	change_ipt=$(median <"$TMP/t.iptables-change")
	change_nft=$(median <"$TMP/t.nft-change")
	echo "cold load of $n x $cold_endpoints, median of $rounds rounds: svcrouter apply $cold_svcr s (read $read_ms ms, plan $plan_ms ms, map work $maps_ms ms; loading the programs, beside the read: $load_ms ms); iptables-restore $cold_ipt s; nft -f $cold_nft s" >&2
	echo "one change at $n x $cold_endpoints: svcrouter apply $change_svcr s (map work $change_maps_ms ms); iptables-restore --noflush $change_ipt s; nft -f $change_nft s" >&2
	cold_json+=("$(jq -n -c --argjson n "$n" --argjson e "$cold_endpoints" --argjson rounds "$rounds" \
		--argjson s "$cold_svcr" --argjson read "$read_ms" --argjson plan "$plan_ms" --argjson maps "$maps_ms" \
		--argjson load "${load_ms:-null}" --argjson ipt "$cold_ipt" --argjson nft "$cold_nft" \
		--argjson cs "$change_svcr" --argjson cmaps "$change_maps_ms" --argjson cipt "$change_ipt" --argjson cnft "$change_nft" \
		'{services: $n, endpoints: $e, rounds: $rounds, svcrouter_s: $s, read_ms: $read, plan_ms: $plan,
		  map_work_ms: $maps, load_ms: $load, iptables_restore_s: $ipt, nft_s: $nft,
		  change: {svcrouter_s: $cs, svcrouter_map_ms: $cmaps, iptables_s: $cipt, nft_s: $cnft}}')")
done

# ---- 2. one change at N services --------------------------------------------
metrics() { in_ns node curl -s "http://$AGENT_IP:10249/metrics"; }
# Upper bound of quantile Q of a histogram's observations between two scrapes.
pct() { # pct METRIC Q BEFORE AFTER
	awk -v m="$1_bucket" -v q="$2" 'FNR == 1 { f++ } index($0, m) == 1 {
		match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
		if (f == 1) before[le] = $2; else { les[n] = le; c[n++] = $2 - before[le] } }
		END { total = c[n - 1]; for (i = 0; i < n; i++) if (c[i] >= q * total) { print les[i]; exit } }' "$3" "$4"
}
for n in $sizes; do
	python3 - "$n" >"$TMP/objects.json" <<'PY'
import json, sys
n = int(sys.argv[1])
items = []
for i in range(n):
    a, b = divmod(i, 250)
    items.append({"kind": "Service", "apiVersion": "v1", "metadata": {"name": f"s{i}", "namespace": "bench"},
                  "spec": {"clusterIP": f"10.{100 + a // 250}.{a % 250}.{b + 1}", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    items.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                  "metadata": {"name": f"s{i}-1", "namespace": "bench", "labels": {"kubernetes.io/service-name": f"s{i}"}},
                  "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                  "endpoints": [{"addresses": [f"10.{200 + k + 5 * (a // 250)}.{a % 250}.{b + 1}"],
                                 "conditions": {"ready": True}, "nodeName": "node-a"} for k in range(5)]})
json.dump({"kind": "List", "apiVersion": "v1", "items": items}, sys.stdout)
PY
	API_LOG=$TMP/apiserver-$n.log
	start_apiserver api --history $((n * 4 + changes * 2 + 100))
	put_object <"$TMP/objects.json" >/dev/null
	put_object '{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a"}}' >/dev/null
	t=$(now)
	start_kube_agent node node-a --max-services $((n < 50000 ? 65536 : 2 * n)) \
		--max-backends $((n < 50000 ? 262144 : 8 * n)) --max-slots $((n < 50000 ? 524288 : 16 * n))
	wait_until --log "$TMP/agent-node" 300 "the first sync" grep -q "applied the API server" "$TMP/agent-node"
	start_s=$(since "$t")
	metrics >"$TMP/m.before"
	bench_endpoint_changes "$changes"
	sleep 1
	metrics >"$TMP/m.after"
	rss=$(($(awk '/^VmRSS/ { print $2 }' "/proc/$AGENT_PID/status") / 1024))
	svcr status -o json >"$TMP/status.json"
	p50=$(pct svcrouter_sync_publish_duration_seconds 0.5 "$TMP/m.before" "$TMP/m.after")
	p99=$(pct svcrouter_sync_publish_duration_seconds 0.99 "$TMP/m.before" "$TMP/m.after")
	np50=$(pct kubeproxy_network_programming_duration_seconds 0.5 "$TMP/m.before" "$TMP/m.after")
	np99=$(pct kubeproxy_network_programming_duration_seconds 0.99 "$TMP/m.before" "$TMP/m.after")
	# No observation in a histogram (none landed between the scrapes): null.
	for v in p50 p99 np50 np99; do [[ -n ${!v} ]] || printf -v "$v" null; done
	mem=$(jq -c '.datapath.memory | {service_entries, backends, service_bytes, backend_bytes,
		connection_bytes, total_bytes, bytes_per_service_entry: (.bytes_per_service_entry | floor),
		bytes_per_backend: (.bytes_per_backend | floor)}' "$TMP/status.json")
	echo "$n services: synced in $start_s s; one change, sync start to flip: p50 <= $(awk -v s="$p50" 'BEGIN { print s * 1e6 }') us, p99 <= $(awk -v s="$p99" 'BEGIN { print s * 1e6 }') us; network programming p50 <= $np50 s, p99 <= $np99 s; RSS $rss MiB; maps $mem" >&2
	results+=("{\"services\": $n, \"sync_s\": $start_s, \"publish_p50_s\": $p50, \"publish_p99_s\": $p99, \"programming_p50_s\": $np50, \"programming_p99_s\": $np99, \"rss_mib\": $rss, \"memory\": $mem}")
	kill "$AGENT_PID"
	wait_pid "$AGENT_PID" 30 || true
	"$SVCROUTER" --pin-dir "$PIN" unload >/dev/null
	kill "$API_PID"
	wait_pid "$API_PID" 30 || true
done

# Map memory per service entry and per backend, at the margin: the slope
# between the two largest sizes (the fixed part, preallocated arrays and
# hash buckets, cancels out).
if ((${#results[@]} >= 2)); then
	printf '%s\n' "${results[@]}" | jq -s -r '.[-2:] as [$a, $b] |
		"marginal map memory (\($a.services) -> \($b.services) services): " +
		"\(($b.memory.service_bytes - $a.memory.service_bytes) / ($b.memory.service_entries - $a.memory.service_entries) | floor) B per service entry, " +
		"\(($b.memory.backend_bytes - $a.memory.backend_bytes) / ($b.memory.backends - $a.memory.backends) | floor) B per backend"' >&2
fi

if [[ -n $json ]]; then
	# cold_10k_x_10: issue 10's figure, kept under its name when it was measured.
	printf '%s\n' "${cold_json[@]}" | jq -s --argjson rounds "$rounds" --argjson one "[$(IFS=,; echo "${results[*]}")]" \
		'{rounds: $rounds, cold: ., cold_10k_x_10: (map(select(.services == 10000 and .endpoints == 10))[0]),
		  one_change: $one,
		  marginal_memory: (if ($one | length) >= 2 then $one[-2:] as [$a, $b] | {from: $a.services, to: $b.services,
		    bytes_per_service_entry: (($b.memory.service_bytes - $a.memory.service_bytes) / ($b.memory.service_entries - $a.memory.service_entries) | floor),
		    bytes_per_backend: (($b.memory.backend_bytes - $a.memory.backend_bytes) / ($b.memory.backends - $a.memory.backends) | floor)} else null end)}' >"$json"
	echo "wrote $json" >&2
fi
