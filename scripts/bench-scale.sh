#!/usr/bin/env bash
# Issue 10's benchmark (big clusters and long lives), in one command:
#
#   sudo scripts/bench-scale.sh [--build DIR] [--rounds R] [--sizes "1000 10000 100000"]
#                               [--changes M] [--json FILE]
#
# In throw-away network namespaces and a child cgroup, it measures in one run:
#   1. a table of 10,000 Services x 10 endpoints loaded from cold, R rounds,
#      interleaved: `svcrouter apply` (the whole command, and its parts:
#      reading the file, planning, the map work, and loading the programs,
#      which goes on beside the reading) against kube-proxy-style
#      rules for the same set loaded by `iptables-restore` (nf_tables
#      backend) and by `nft -f` (kube-proxy's nftables mode: verdict maps),
#      each into a fresh network namespace;
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
changes=200
json=""
build_given=""
while (($#)); do
	case $1 in
	--build) build_given=$2 ;;
	--rounds) rounds=$2 ;;
	--sizes) sizes=$2 ;;
	--changes) changes=$2 ;;
	--json) json=$2 ;;
	*) echo "usage: $0 [--build DIR] [--rounds R] [--sizes \"N...\"] [--changes M] [--json FILE]" >&2 && exit 2 ;;
	esac
	shift 2
done
source "$(dirname "$0")/bench-lib.sh"
bench_build "$build_given"
source "$SRC/tests/netns/lib.sh"
source "$SRC/tests/apiserver/lib.sh"
command -v nft >/dev/null || apt-get install -y -qq nftables >/dev/null
command -v iptables-nft-restore >/dev/null || apt-get install -y -qq iptables >/dev/null
require_env curl jq python3 nft iptables-nft-restore && require_apiserver
make_topology api:100 node:5
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# (awk reads `print (a) ? b : c` as printing (a) and more: an if, not ?:)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
results=()

# ---- 1. 10k x 10 from cold -------------------------------------------------
# The same 10,000 Services (10.100.X.Y:80) with 10 endpoints each
# (10.{200+k}.X.Y:8080), as a manifest, as iptables-restore input in
# kube-proxy's iptables layout, and as an nft script in its nftables layout.
python3 - "$TMP" <<'PY'
import sys
tmp = sys.argv[1]
n, e = 10000, 10
def vip(i):
    a, b = divmod(i, 250)
    return f"10.{100 + a // 250}.{a % 250}.{b + 1}"
def ep(i, k):
    a, b = divmod(i, 250)
    return f"10.{200 + k}.{a % 250}.{b + 1}"
with open(f"{tmp}/cold.yaml", "w") as f:
    for i in range(n):
        eps = ", ".join(f'{{addresses: ["{ep(i, k)}"]}}' for k in range(e))
        f.write(f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: bench}}\n"
                f"spec: {{clusterIP: {vip(i)}, ports: [{{name: http, port: 80}}]}}\n"
                f"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                f"metadata: {{name: s{i}-1, namespace: bench, labels: {{kubernetes.io/service-name: s{i}}}}}\n"
                f"addressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints: [{eps}]\n")
# iptables: KUBE-SERVICES -> KUBE-SVC-* (probability chain) -> KUBE-SEP-* (DNAT).
with open(f"{tmp}/cold.iptables", "w") as f:
    w = f.write
    w("*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
    w(":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n")
    for i in range(n):
        w(f":KUBE-SVC-{i:016d} - [0:0]\n")
        for k in range(e):
            w(f":KUBE-SEP-{i:012d}{k:04d} - [0:0]\n")
    w('-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n-A POSTROUTING -j KUBE-POSTROUTING\n')
    w("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n")
    w("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n")
    w("-A KUBE-POSTROUTING -j MASQUERADE --random-fully\n")
    for i in range(n):
        c = f"bench/s{i}:http"
        w(f'-A KUBE-SERVICES -m comment --comment "{c} cluster IP" -m tcp -p tcp -d {vip(i)}/32 --dport 80 -j KUBE-SVC-{i:016d}\n')
        w(f'-A KUBE-SVC-{i:016d} ! -s 10.244.0.0/16 -d {vip(i)}/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ\n')
        for k in range(e):
            sep = f"KUBE-SEP-{i:012d}{k:04d}"
            if k < e - 1:
                w(f"-A KUBE-SVC-{i:016d} -m comment --comment \"{c} -> {ep(i, k)}:8080\" -m statistic --mode random --probability {1 / (e - k):.11f} -j {sep}\n")
            else:
                w(f"-A KUBE-SVC-{i:016d} -m comment --comment \"{c} -> {ep(i, k)}:8080\" -j {sep}\n")
            w(f"-A {sep} -s {ep(i, k)}/32 -j KUBE-MARK-MASQ\n")
            w(f"-A {sep} -p tcp -m tcp -j DNAT --to-destination {ep(i, k)}:8080\n")
    w("COMMIT\n")
# nft: kube-proxy's nftables mode: a service-ips verdict map -> service
# chains that pick an endpoint chain with numgen.
with open(f"{tmp}/cold.nft", "w") as f:
    w = f.write
    w("table ip kube-proxy {\n")
    w("  chain mark-for-masquerade {\n    meta mark set meta mark or 0x4000\n  }\n")
    for i in range(n):
        w(f"  chain service-{i} {{\n    ip saddr != 10.244.0.0/16 jump mark-for-masquerade\n")
        w("    numgen random mod %d vmap { %s }\n  }\n" % (e, ", ".join(f"{k} : goto endpoint-{i}-{k}" for k in range(e))))
        for k in range(e):
            w(f"  chain endpoint-{i}-{k} {{\n    ip saddr {ep(i, k)} jump mark-for-masquerade\n"
              f"    meta l4proto tcp dnat to {ep(i, k)}:8080\n  }}\n")
    w("  map service-ips {\n    type ipv4_addr . inet_proto . inet_service : verdict\n    elements = {\n")
    w(",\n".join(f"      {vip(i)} . tcp . 80 : goto service-{i}" for i in range(n)))
    w("\n    }\n  }\n")
    w("  chain services {\n    ip daddr . meta l4proto . th dport vmap @service-ips\n  }\n")
    w("  chain nat-output {\n    type nat hook output priority -100;\n    jump services\n  }\n")
    w("  chain nat-prerouting {\n    type nat hook prerouting priority -100;\n    jump services\n  }\n")
    w("}\n")
PY
echo "10,000 services x 10 endpoints: manifest $(($(stat -c %s "$TMP/cold.yaml") / 1024)) KiB, iptables-restore input $(wc -l <"$TMP/cold.iptables") lines, nft script $(wc -l <"$TMP/cold.nft") lines" >&2

svcr_cold() {
	local t
	t=$(now)
	"$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" apply -f "$TMP/cold.yaml" >/dev/null
	since "$t" >>"$TMP/t.svcrouter"
	"$SVCROUTER" --pin-dir "$PIN" unload >/dev/null
	# Its parts, from a run with -v (which also logs every map operation, so
	# its own total is not the figure above).
	"$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" -v apply -f "$TMP/cold.yaml" 2>&1 >/dev/null |
		awk '/debug: read \// { for (i = 1; i <= NF; i++) if ($i == "in") r = $(i + 1) }
		     /planned in/ { for (i = 1; i <= NF; i++) { if ($i == "planned") p = $(i + 2); if ($i == "operations") m = $(i + 2) } }
		     /debug: preloaded in/ { for (i = 1; i <= NF; i++) if ($i == "in") l = $(i + 1) }
		     END { print r, p, m, l }' >>"$TMP/t.parts"
	"$SVCROUTER" --pin-dir "$PIN" unload >/dev/null
}
rules_cold() { # rules_cold iptables|nft
	local ns="$RUN-cold" t
	ip netns add "$ns"
	t=$(now)
	if [[ $1 == iptables ]]; then
		ip netns exec "$ns" iptables-nft-restore <"$TMP/cold.iptables"
	else
		ip netns exec "$ns" nft -f "$TMP/cold.nft"
	fi
	since "$t" >>"$TMP/t.$1"
	ip netns del "$ns"
}
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
cold_svcr=$(median <"$TMP/t.svcrouter")
cold_ipt=$(median <"$TMP/t.iptables")
cold_nft=$(median <"$TMP/t.nft")
read_ms=$(awk '{ print $1 }' "$TMP/t.parts" | median)
plan_ms=$(awk '{ print $2 }' "$TMP/t.parts" | median)
maps_ms=$(awk '{ print $3 }' "$TMP/t.parts" | median)
load_ms=$(awk '{ print $4 }' "$TMP/t.parts" | median)
echo "cold load of 10k x 10, median of $rounds rounds: svcrouter apply $cold_svcr s (read $read_ms ms, plan $plan_ms ms, map work $maps_ms ms; loading the programs, beside the read: $load_ms ms); iptables-restore $cold_ipt s; nft -f $cold_nft s" >&2

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
	printf '{"cold_10k_x_10": {"svcrouter_s": %s, "read_ms": %s, "plan_ms": %s, "map_work_ms": %s, "load_ms": %s, "iptables_restore_s": %s, "nft_s": %s, "rounds": %s}, "one_change": [%s]}\n' \
		"$cold_svcr" "$read_ms" "$plan_ms" "$maps_ms" "${load_ms:-null}" "$cold_ipt" "$cold_nft" "$rounds" "$(IFS=,; echo "${results[*]}")" | jq . >"$json"
	echo "wrote $json" >&2
fi
