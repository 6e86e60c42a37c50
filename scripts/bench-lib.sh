# shellcheck shell=bash
# Sourced by scripts/bench-*.sh: SRC (the sources), and bench_build DIR,
# which exports SVCR_BUILD: DIR (--build) when given, else $SVCR_BUILD when
# set, else an (incremental) build of these sources into build/.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_build() {
	if [[ -n $1 ]]; then
		SVCR_BUILD=$(realpath "$1")
	elif [[ -z ${SVCR_BUILD:-} ]]; then
		"$SRC/scripts/build.sh" >/dev/null # also installs what is missing
		SVCR_BUILD=$SRC/build
	fi
	export SVCR_BUILD
}

# bench_endpoint_changes M: M changes of Service s0's EndpointSlice s0-1 in
# namespace bench, 50 ms apart, through svcr-apiserver's admin port ($ADMIN,
# from $API_NS: tests/apiserver/lib.sh), one connection kept open; each is
# stamped with its last-change-trigger-time just before it is sent, as the
# EndpointSlice controller stamps it.
bench_endpoint_changes() {
	in_ns "$API_NS" python3 - "$ADMIN" "$1" <<'PY'
import datetime, http.client, json, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port))
for i in range(int(sys.argv[2])):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = json.dumps({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "s0-1", "namespace": "bench", "labels": {"kubernetes.io/service-name": "s0"},
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.250.{i // 250 % 250}.{i % 250 + 1}"]}]})
    conn.request("POST", "/objects", body, {"Content-Type": "application/json"})
    conn.getresponse().read()
    time.sleep(0.05)
PY
}

# The clock and the median, for the drivers' own timings.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }
# The median of numbers on stdin, one a line; of an even count the mean of the middle two.
# (awk reads `print (a) ? b : c` as printing (a) and more: an if, not ?:)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Percent of all CPUs' time that was not idle during one second.
cpu_busy() {
	local t0 i0 t1 i1
	read -r t0 i0 < <(awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	sleep 1
	read -r t1 i1 < <(awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	echo $((100 * ((t1 - t0) - (i1 - i0)) / (t1 - t0)))
}

# bench_need CMD:PACKAGE...: installs, as root and with apt-get, the Debian package of
# each command that is missing.
bench_need() {
	local spec
	for spec in "$@"; do
		command -v "${spec%%:*}" >/dev/null && continue
		[[ $(id -u) == 0 ]] || continue # require_env skips with the reason
		echo "installing ${spec#*:} (apt-get)" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${spec#*:}" >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${spec#*:}" >/dev/null; }
	done
}

# bench_services PREFIX N E NODE EP...: one set of N Services as svcrouter, kube-proxy's
# iptables mode and its nftables mode are fed it, and one change of it
# (scripts/bench-services.py says which files).
bench_services() { python3 "$SRC/scripts/bench-services.py" "$@"; }

# bench_map_sizes N E: svcrouter's map size options for N Services of E endpoints (the
# defaults up to 50,000).
bench_map_sizes() {
	local n=$1 e=$2
	((n >= 50000)) || return 0
	echo "--max-services $((4 * n)) --max-backends $((2 * n * e)) --max-slots $((4 * n * e))"
}

# bench_node_backend NODE NET CLIENT: a backend namespace b$NODE behind node NODE (a host of
# the topology) on a veth of its own: the node 10.NET.0.1, the backend 10.NET.0.11 and
# 10.NET.0.13 (svcr-testsrv on TCP and UDP 8080, iperf3 on 5201); the node forwards, and
# CLIENT routes 10.NET.0.0/24 through it. NODE's address on the bridge is NODE_IP.
bench_node_backend() {
	local node=$1 net=$2 client=$3 node_ip
	node_ip=$(ip -n "$RUN-$node" -4 -o addr show dev eth0 | awk '{ sub("/.*", "", $4); print $4; exit }')
	ip netns add "$RUN-b$node"
	NETNS+=("$RUN-b$node")
	ip link add vb netns "$RUN-$node" type veth peer name eth0 netns "$RUN-b$node"
	ip -n "$RUN-$node" addr add "10.$net.0.1/24" dev vb
	ip -n "$RUN-$node" link set vb up
	ip -n "$RUN-b$node" link set lo up
	ip -n "$RUN-b$node" addr add "10.$net.0.11/24" dev eth0
	ip -n "$RUN-b$node" addr add "10.$net.0.13/24" dev eth0
	ip -n "$RUN-b$node" link set eth0 up
	ip -n "$RUN-b$node" route add default via "10.$net.0.1"
	in_ns "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
	in_ns "$client" ip route add "10.$net.0.0/24" via "$node_ip"
	start_backend "b$node" "backend-$node" --tcp 8080 --udp 8080
	bench_iperf_server "b$node"
}

# bench_iperf_server NS: iperf3 -s on port 5201 in a namespace; cleanup stops it.
bench_iperf_server() {
	ip netns exec "$RUN-$1" iperf3 -s -p 5201 >"$TMP/iperf-$1.log" 2>&1 &
	PIDS+=($!)
}

# bench_haproxy NS IP:PORT BACKEND:PORT...: HAProxy in TCP mode in namespace NS, listening on
# IP:PORT, with its default threads, round-robin over the backends; cleanup stops it.
bench_haproxy() {
	local name=$1 bind=$2 i=0 b
	shift 2
	{
		cat <<EOF2
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	# RST, not FIN, towards the backend too: no TIME_WAIT piles up in its namespace
	option nolinger
frontend web
	bind $bind
	default_backend web
backend web
	balance roundrobin
EOF2
		for b in "$@"; do echo "	server backend-$((++i)) $b"; done
	} >"$TMP/haproxy-$name-${bind##*:}.cfg"
	in_ns "$name" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	ip netns exec "$RUN-$name" haproxy -db -f "$TMP/haproxy-$name-${bind##*:}.cfg" >"$TMP/haproxy-$name-${bind##*:}.log" 2>&1 &
	PIDS+=($!)
	haproxy_listening() { in_ns "$1" ss -Hltn "sport = :${2##*:}" | grep -q .; }
	wait_until --log "$TMP/haproxy-$name-${bind##*:}.log" 5 "haproxy to listen on $bind" haproxy_listening "$name" "$bind"
}

# The machine, as JSON: kernel, CPUs, how busy they were in the second before.
bench_machine_json() {
	jq -n --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
		--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		--arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
		--argjson mem_gib "$(awk '/^MemTotal/ { printf "%d", $2 / 1048576 }' /proc/meminfo)" \
		--argjson busy "$(cpu_busy)" \
		'{kernel: $kernel, os: $os, cpus: $cpus, cpu: $cpu, memory_gib: $mem_gib, busy_percent_before: $busy}'
}
