#!/usr/bin/env bash
# The packet path's benchmark (issue 9), in one command:
#
#   sudo scripts/bench-nodeport.sh [--build DIR] [--connections N] [--rounds R]
#                                  [--iperf-seconds S] [--quick]
#
# Throw-away network namespaces: one external client c, and three "nodes"
# on its link, each routing to a backend behind it on a veth of its own
# (svcr-testsrv for connections, iperf3 for throughput):
#   direct      c -> the backend behind node nd, plain routing (the baseline)
#   svcrouter   c -> NodePort 30080 of node ns, where svcrouter's packet path
#               is attached to eth0 (--tc-dev): DNAT, no SNAT (local backend)
#   iptables    c -> NodePort 30080 of node ni, with the nat rules kube-proxy's
#               iptables mode writes for it (externalTrafficPolicy: Cluster,
#               so the flow is also masqueraded, as kube-proxy does)
#   direct-ns   c -> the backend behind ns, routed through the node that has
#               the hooks: what they cost traffic that is no service's
# svcr-bench interleaves the cases round by round for the connection rate;
# iperf3 runs them in turn, interleaved, for throughput. Then svcr-tc-cost
# times the programs themselves with BPF_PROG_TEST_RUN. --quick: a short run
# for CI. Everything is removed when it ends, also on failure.
set -euo pipefail
connections=3000
rounds=11
iperf_seconds=3
build_given=""
while (($#)); do
	case $1 in
	--build) build_given=$2 && shift ;;
	--connections) connections=$2 && shift ;;
	--rounds) rounds=$2 && shift ;;
	--iperf-seconds) iperf_seconds=$2 && shift ;;
	--quick) connections=500 rounds=3 iperf_seconds=1 ;;
	*) echo "usage: $0 [--build DIR] [--connections N] [--rounds R] [--iperf-seconds S] [--quick]" >&2 && exit 2 ;;
	esac
	shift
done
source "$(dirname "$0")/bench-lib.sh"
bench_build "$build_given"
source "$SRC/tests/netns/lib.sh"
bench_need iperf3:iperf3 iptables-nft-restore:iptables
require_env jq nsenter iperf3 iptables-nft-restore
BENCH=$SVCR_BUILD/bench/svcr-bench
COST=$SVCR_BUILD/bench/svcr-tc-cost

# --- topology: c (10.77.0.2); nodes nd .5, ns .6, ni .7; backend behind node
# N at 10.7N.0.11 (N = 8, 9, 10 -> 10.78, 10.79, 10.80).
make_topology c:2 nd:5 ns:6 ni:7
bench_node_backend nd 78 c
bench_node_backend ns 79 c
bench_node_backend ni 80 c
in_ns c sysctl -qw net.ipv4.ip_local_port_range="1024 65535"

# --- svcrouter on ns: NodePorts 30080 (connections) and 30201 (iperf3).
{
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n'
	printf 'spec:\n  type: NodePort\n  clusterIP: 10.96.0.10\n'
	printf '  ports: [{name: p, port: 80, nodePort: 30080}, {name: i, port: 5201, nodePort: 30201}]\n---\n'
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
	printf 'metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n'
	printf 'addressType: IPv4\nports: [{name: p, port: 8080}, {name: i, port: 5201}]\n'
	printf 'endpoints: [{addresses: [10.79.0.11], nodeName: ns}]\n'
} >"$TMP/web.yaml"
nsenter --net="/run/netns/$RUN-ns" -- "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" --node-name ns \
	--tc-dev eth0 apply -f "$TMP/web.yaml" >/dev/null

# --- kube-proxy's iptables NodePort rules on ni (nat table).
in_ns ni iptables-nft-restore <<'RULES'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-EXT-WEB0000000000000 - [0:0]
:KUBE-SVC-WEB0000000000000 - [0:0]
:KUBE-SEP-WEB0000000000000 - [0:0]
:KUBE-EXT-IPF0000000000000 - [0:0]
:KUBE-SVC-IPF0000000000000 - [0:0]
:KUBE-SEP-IPF0000000000000 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -m comment --comment "default/web:p cluster IP" -m tcp -p tcp -d 10.96.0.10/32 --dport 80 -j KUBE-SVC-WEB0000000000000
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment "default/web:p" -m tcp -p tcp --dport 30080 -j KUBE-EXT-WEB0000000000000
-A KUBE-NODEPORTS -m comment --comment "default/web:i" -m tcp -p tcp --dport 30201 -j KUBE-EXT-IPF0000000000000
-A KUBE-EXT-WEB0000000000000 -m comment --comment "masquerade traffic for default/web:p external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB0000000000000 -j KUBE-SVC-WEB0000000000000
-A KUBE-SVC-WEB0000000000000 -m comment --comment "default/web:p -> 10.80.0.11:8080" -j KUBE-SEP-WEB0000000000000
-A KUBE-SEP-WEB0000000000000 -m comment --comment "default/web:p" -s 10.80.0.11/32 -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB0000000000000 -m comment --comment "default/web:p" -m tcp -p tcp -j DNAT --to-destination 10.80.0.11:8080
-A KUBE-EXT-IPF0000000000000 -j KUBE-MARK-MASQ
-A KUBE-EXT-IPF0000000000000 -j KUBE-SVC-IPF0000000000000
-A KUBE-SVC-IPF0000000000000 -j KUBE-SEP-IPF0000000000000
-A KUBE-SEP-IPF0000000000000 -m tcp -p tcp -j DNAT --to-destination 10.80.0.11:5201
COMMIT
RULES

# --- connection rate, interleaved.
c_ns="netns=/run/netns/$RUN-c"
cases=(
	--case "direct,10.78.0.11:8080,$c_ns"
	--case "svcrouter,10.77.0.6:30080,$c_ns"
	--case "iptables,10.77.0.7:30080,$c_ns"
	--case "direct-ns,10.79.0.11:8080,$c_ns"
)
echo "connection rate: $connections connections per case, $rounds rounds (round 0 a warm-up)"
nsenter --net="/run/netns/$RUN-c" -- "$BENCH" "${cases[@]}" --connections "$connections" \
	--rounds "$rounds" --json >"$TMP/conn.json" 2>"$TMP/conn.err" || { cat "$TMP/conn.err" >&2; fail "svcr-bench"; }
sed -n '/^case /,$p' "$TMP/conn.err"

# --- throughput, interleaved: iperf3 for S seconds per case per round.
declare -A gbps
targets=(direct:10.78.0.11:5201 svcrouter:10.77.0.6:30201 iptables:10.77.0.7:30201)
for ((r = 0; r < 3; r++)); do
	for ((k = 0; k < ${#targets[@]}; k++)); do
		IFS=: read -r name host port <<<"${targets[(k + r) % ${#targets[@]}]}"
		in_ns c iperf3 -c "$host" -p "$port" -t "$iperf_seconds" -J >"$TMP/iperf.json" || true
		bps=$(jq '.end.sum_received.bits_per_second // empty' "$TMP/iperf.json")
		[[ -n $bps ]] || fail "iperf3 to $name ($host:$port): $(jq -r '.error // "no result"' "$TMP/iperf.json")"
		gbps[$name]+="$(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }') "
	done
done
med() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
base=$(med "${gbps[direct]}")
echo
echo "throughput (iperf3, ${iperf_seconds} s x 3 rounds, median Gbit/s):"
for name in direct svcrouter iptables; do
	m=$(med "${gbps[$name]}")
	printf '  %-10s %8.2f  %.2fx\n' "$name" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')"
done

# --- the programs' own cost per packet (BPF_PROG_TEST_RUN), in a namespace of their own.
echo
echo "the packet path's cost per packet (BPF_PROG_TEST_RUN, median of rounds):"
repeat=1000000
[[ $connections -gt 500 ]] || repeat=100000
unshare -n "$COST" --repeat "$repeat" --rounds 7 | sed 's/^/  /'

# The NodePort cases really went through the NodePorts.
got=$(nsenter --net="/run/netns/$RUN-ns" -- "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" stats -o json |
	jq '[.services[] | select(.name == "web" and .port == 30080 and .scope == "external")][0].connections')
want=$((connections * rounds))
# (At least: a SYN retransmitted on the tuple of a closed flow starts a new one.)
((got >= want)) || fail "svcrouter counted $got connections on the NodePort, want $want"
echo
echo "checked: svcrouter's NodePort entry counted $got flows for the $want connections"
