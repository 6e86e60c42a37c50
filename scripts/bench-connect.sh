#!/usr/bin/env bash
# The connection-rate benchmark of bench/README.md, in one command:
#
#   sudo scripts/bench-connect.sh [--build DIR] [--connections N] [--rounds R]
#                                 [--services N] [--json FILE] [--no-haproxy]
#
# Builds a throw-away topology of network namespaces (tests/netns/lib.sh), one
# svcr-testsrv backend, and one client namespace per alternative, then runs a
# single svcr-bench that interleaves them round by round:
#
#   direct        client -> backend IP:port; no rules, no hooks (the baseline)
#   direct-2      the same from a second namespace: an A/A control, whose
#                 distance from 1.00x is the noise of this machine
#   svcrouter     client in the cgroup svcrouter attached to -> ClusterIP;
#                 the table holds --services services, the measured one has
#                 the direct case's backend as its only backend
#   iptables-1    client namespace with kube-proxy's iptables NAT chains for
#                 1 service -> ClusterIP
#   iptables-10k  the same with 10,000 services, the measured one last in
#                 KUBE-SERVICES (kube-proxy's worst case)
#   haproxy       client -> HAProxy in TCP mode in its own namespace (only if
#                 haproxy is installed; --no-haproxy leaves it out)
#
# Everything it creates (namespaces, cgroups, pins, processes, iptables rules,
# which live only in its namespaces) is removed when it ends, also on failure.
set -euo pipefail

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

connections=5000
rounds=21
services=1
json_out=""
haproxy=1
build_given=""
while (($#)); do
	case $1 in
	--no-haproxy) haproxy=0 && shift && continue ;;
	-h | --help) usage ;;
	--build | --connections | --rounds | --services | --json) (($# >= 2)) || usage ;;
	*) usage ;;
	esac
	case $1 in
	--build) build_given=$2 ;;
	--connections) connections=$2 ;;
	--rounds) rounds=$2 ;;
	--services) services=$2 ;;
	--json) json_out=$2 ;;
	esac
	shift 2
done
[[ $connections =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ && $rounds -ge 2 ]] ||
	{ echo "bench-connect: --connections must be >= 1 and --rounds >= 2" >&2 && exit 2; }
# Filler VIPs are 10.97.X.Y with X < 250: room for 62,500 fillers.
if ! [[ $services =~ ^[1-9][0-9]*$ ]] || ((services > 62501)); then
	echo "bench-connect: --services must be 1..62501" >&2
	exit 2
fi
[[ -z $json_out ]] || json_out=$(realpath -m "$json_out")

source "$(dirname "$0")/bench-lib.sh"
bench_build "$build_given"
# shellcheck source=tests/netns/lib.sh
source "$SRC/tests/netns/lib.sh"
BENCH=$SVCR_BUILD/bench/svcr-bench
[[ -x $BENCH ]] || fail "build first: $BENCH missing"

# kube-proxy on Debian 12 would use iptables' default nf_tables backend; so do we.
bench_need iptables-nft-restore:iptables
require_env jq nsenter iptables-nft-restore iptables-nft
if ((haproxy)) && ! command -v haproxy >/dev/null; then
	echo "note: haproxy not installed (apt-get install haproxy): its case is left out" >&2
	haproxy=0
fi

VIP=10.96.0.10 # the measured service, port 80
BACKEND=10.77.0.11
IPT_BIG=10000
t_start=$(now)

# --- topology --------------------------------------------------------------
hosts=(b1:11 cd:2 cd2:7 cs:3 ci1:4 cibig:5)
((haproxy)) && hosts+=(ch:6 hp:12)
make_topology "${hosts[@]}"
for c in cd cd2 cs ci1 cibig ch hp; do
	[[ " ${hosts[*]} " == *" $c:"* ]] || continue
	# The route only matters to iptables: connect() routes the ClusterIP
	# before OUTPUT's DNAT. svcrouter rewrites the address before routing.
	in_ns "$c" ip route add default dev eth0
	in_ns "$c" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
done
start_backend b1 backend-1 --tcp 8080
# Every case but svcrouter runs in this cgroup: the same ancestors as $CG,
# none of svcrouter's programs.
sibling_cgroup base
BASE_CG=$CG-base

# --- svcrouter: N-1 filler services (own VIP, own fake endpoint) + the measured one
# One filler: fill-NNNNN, VIP 10.97.X.Y:80, one endpoint 10.98.X.Y:8080 (never
# connected to): in awk for speed, the equivalent of lib.sh's
# `service fill-NNNNN VIP p:80 && slice fill-NNNNN-1 fill-NNNNN p:8080 -- IP`.
fillers() {
	awk -v n="$1" 'BEGIN {
		for (i = 0; i < n; i++) {
			x = int(i / 250); y = i % 250 + 1
			name = sprintf("fill-%05d", i)
			print "apiVersion: v1\nkind: Service"
			print "metadata: {name: " name ", namespace: default}"
			print "spec:\n  clusterIP: 10.97." x "." y
			print "  ports: [{name: p, port: 80, protocol: TCP, targetPort: 8080}]\n---"
			print "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:"
			print "  name: " name "-1\n  namespace: default"
			print "  labels: {kubernetes.io/service-name: " name "}"
			print "addressType: IPv4\nports: [{name: p, port: 8080, protocol: TCP}]"
			print "endpoints:\n  - addresses: [\"10.98." x "." y "\"]\n---"
		}
	}'
}
{
	fillers $((services - 1))
	service web $VIP p:80 && slice web-1 web p:8080 -- $BACKEND
} >"$TMP/services.yaml"
t=$(now)
svcr apply -f "$TMP/services.yaml" >/dev/null
echo "svcrouter: $services service(s) applied in $(since "$t") s"

# --- iptables: what kube-proxy's iptables mode writes in the nat table ------
# KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* (DNAT), hooked from OUTPUT (and
# PREROUTING), with the masquerade marking. The cluster CIDR is 10.77.0.0/16,
# so our clients count as pods: the "! -s CIDR" masquerade rule is evaluated
# but does not match, and only DNAT happens, as with svcrouter. Chain names
# have kube-proxy's length but are not its hashes. The filter table's chains
# (empty while every service has endpoints) are left out.
kube_proxy_rules() { # kube_proxy_rules SERVICES: the measured service last
	awk -v n="$1" -v vip=$VIP -v ep=$BACKEND 'BEGIN {
		for (i = 0; i < n - 1; i++) {
			x = int(i / 250); y = i % 250 + 1
			name[i] = sprintf("fill-%05d", i); v[i] = "10.97." x "." y; e[i] = "10.98." x "." y
			svc[i] = sprintf("KUBE-SVC-F%015d", i); sep[i] = sprintf("KUBE-SEP-F%015d", i)
		}
		name[n - 1] = "web"; v[n - 1] = vip; e[n - 1] = ep
		svc[n - 1] = "KUBE-SVC-WEB0000000000000"; sep[n - 1] = "KUBE-SEP-WEB0000000000000"
		print "*nat"
		print ":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]"
		print ":KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]"
		for (i = 0; i < n; i++) printf ":%s - [0:0]\n:%s - [0:0]\n", svc[i], sep[i]
		print "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
		print "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
		print "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"
		print "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"
		print "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN"
		print "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000"
		print "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"
		for (i = 0; i < n; i++) {
			c = "default/" name[i] ":p"
			printf "-A KUBE-SERVICES -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s/32 --dport 80 -j %s\n", c, v[i], svc[i]
			printf "-A %s ! -s 10.77.0.0/16 -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s/32 --dport 80 -j KUBE-MARK-MASQ\n", svc[i], c, v[i]
			printf "-A %s -m comment --comment \"%s -> %s:8080\" -j %s\n", svc[i], c, e[i], sep[i]
			printf "-A %s -m comment --comment \"%s\" -s %s/32 -j KUBE-MARK-MASQ\n", sep[i], c, e[i]
			printf "-A %s -m comment --comment \"%s\" -m tcp -p tcp -j DNAT --to-destination %s:8080\n", sep[i], c, e[i]
		}
		print "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
		print "COMMIT"
	}'
}
for spec in ci1:1:iptables-1 cibig:$IPT_BIG:iptables-10k; do
	IFS=: read -r c n label <<<"$spec"
	kube_proxy_rules "$n" >"$TMP/$label.rules"
	t=$(now)
	in_ns "$c" iptables-nft-restore <"$TMP/$label.rules"
	echo "$label: $n service(s), $(grep -c '^-A' "$TMP/$label.rules") rules, loaded with iptables-nft-restore in $(since "$t") s"
done

# --- haproxy: a user-space TCP proxy in its own namespace -------------------
if ((haproxy)); then
	bench_haproxy hp 10.77.0.12:80 $BACKEND:8080
	echo "haproxy: $(haproxy -v | head -1 | awk '{ print $3 }'), TCP mode, default threads"
fi

# --- the run ----------------------------------------------------------------
netns() { echo "netns=/run/netns/$(ns "$1")"; }
cases=(
	--case "direct,$BACKEND:8080,$(netns cd),cgroup=$BASE_CG"
	--case "direct-2,$BACKEND:8080,$(netns cd2),cgroup=$BASE_CG"
	--case "svcrouter,$VIP:80,$(netns cs),cgroup=$CG"
	--case "iptables-1,$VIP:80,$(netns ci1),cgroup=$BASE_CG"
	--case "iptables-10k,$VIP:80,$(netns cibig),cgroup=$BASE_CG"
)
((haproxy)) && cases+=(--case "haproxy,10.77.0.12:80,$(netns ch),cgroup=$BASE_CG")
busy=$(cpu_busy)
echo "setup done in $(since "$t_start") s; CPUs ${busy}% busy just before the run"
((busy < 10)) || echo "warning: something else is using the CPUs; expect noisy figures" >&2
echo "svcr-bench: $connections connections per case, $rounds rounds (round 0 is a warm-up)"
t=$(now)
# svcr-bench moves itself between namespaces and cgroups; it starts in the
# direct client's namespace, never the host's. nsenter, not `ip netns exec`,
# which remounts /sys without the cgroup2 mount that cgroup= needs.
{ nsenter --net="/run/netns/$(ns cd)" -- "$BENCH" "${cases[@]}" \
	--connections "$connections" --rounds "$rounds" --json >"$TMP/bench.json"; } 2>&1 |
	tee "$TMP/bench.err" >&2
bench_time=$(since "$t")
echo
sed -n '/^case /,$p' "$TMP/bench.err"

# --- the traffic went where we said -----------------------------------------
total=$((connections * rounds))
got=$(svcr stats -o json | jq '[.services[] | select(.name == "web")][0].connections')
[[ $got == "$total" ]] || fail "svcrouter counted $got connections to the measured service, want $total"
for spec in ci1:iptables-1 cibig:iptables-10k; do
	c=${spec%%:*}
	got=$(in_ns "$c" iptables-nft -t nat -nvx -L KUBE-SEP-WEB0000000000000 | awk '/DNAT/ { print $1 }')
	[[ $got == "$total" ]] || fail "${spec#*:}: the DNAT rule counted $got connections, want $total"
done
echo "checked: svcrouter's counter and each iptables DNAT rule saw all $total connections"

# One line, the A/A control last.
summary=$(jq -r '.baseline as $b | .cases[1:] | map(select(.name != "direct-2")) + map(select(.name == "direct-2"))
	| .[] | "\(.name) \($b) \(.ratio_vs_baseline)"' "$TMP/bench.json" |
	while read -r name base ratio; do
		printf '%s / %s = %.2fx%s\n' "$name" "$base" "$ratio" "$([[ $name == direct-2 ]] && echo ' (A/A control)')"
	done | paste -sd ';' | sed 's/;/; /g')
echo "$summary"
echo "(bench ${bench_time} s, total $(since "$t_start") s; $(nproc) CPUs, kernel $(uname -r))"

if [[ -n $json_out ]]; then
	jq --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" \
		--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		--argjson cpus "$(nproc)" --argjson busy "$busy" --argjson services "$services" --argjson big $IPT_BIG \
		--arg summary "$summary" \
		'{date: $date, machine: {kernel: $kernel, cpus: $cpus, cpu: $cpu, busy_percent_before: $busy},
		  setup: {svcrouter_services: $services,
		          iptables_services: {"iptables-1": 1, "iptables-10k": $big},
		          iptables_backend: "nf_tables", measured_vip_position: "last in KUBE-SERVICES"},
		  summary: $summary} + .' "$TMP/bench.json" >"$json_out"
	echo "JSON: $json_out"
fi
