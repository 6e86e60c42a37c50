# The packet path's topology, for tests/netns/test_tc_*.sh; source lib.sh
# first (its trap removes everything made here). On the shared link: the
# client c1 (10.77.0.2), the node (10.77.0.5) and b2 (10.77.0.12), a
# backend of "another node"; behind the node, on a veth of its own, lb1
# (10.78.0.11), a backend on this node, whose default route is the node.
#
#   tc_topology            the namespaces, links and routes; pod-local on lb1
#                          and pod-remote on b2 (TCP 8080, UDP 5353)
#   nodeport NAME PORT POLICY [--target PORT] [--affinity] ENDPOINT...
#                          a NodePort Service (port 80 -> 8080, or -> the
#                          --target port; ClientIP affinity with --affinity)
#                          and its EndpointSlice, ENDPOINT = IP@NODE, on stdout
#   dns_nodeport [NODEPORT TARGET]
#                          a UDP NodePort 30053 (-> 5353 on both backends;
#                          or NODEPORT -> TARGET), on stdout
#   on_node ARGS...        svcrouter in the node's namespace (nsenter: `ip
#                          netns exec` would hide /sys/fs/bpf)
#   ask PORT [CURL-ARGS...]  GET /peer from c1 to the node's PORT: the name of
#                          the backend and the address it saw, or "(failed)"
#   start_iperf NS         an iperf3 server on port 5201 in NS; its log is
#                          $TMP/iperf-NS (one "Accepted connection from ADDR" a test)

declare -F make_topology >/dev/null || {
	echo "tc_lib.sh: source lib.sh first" >&2
	exit 1
}

tc_topology() {
	make_topology c1:2 node:5 b2:12
	# The local backend's namespace, linked to the node only.
	ip netns add "$RUN-lb1"
	NETNS+=("$RUN-lb1")
	ip link add vb1 netns "$RUN-node" type veth peer name eth0 netns "$RUN-lb1"
	ip -n "$RUN-node" addr add 10.78.0.1/24 dev vb1
	ip -n "$RUN-node" link set vb1 up
	ip -n "$RUN-lb1" link set lo up
	ip -n "$RUN-lb1" addr add 10.78.0.11/24 dev eth0
	ip -n "$RUN-lb1" link set eth0 up
	ip -n "$RUN-lb1" route add default via 10.78.0.1
	local k
	for k in net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0; do
		in_ns node sysctl -qw "$k"
	done
	start_backend lb1 pod-local --tcp 8080 --udp 5353
	start_backend b2 pod-remote --tcp 8080 --udp 5353
}

nodeport() {
	local name=$1 port=$2 policy=$3 target=8080 affinity=""
	shift 3
	while [[ ${1:-} == --* ]]; do
		case $1 in
		--target) target=$2 && shift ;;
		--affinity) affinity=1 ;;
		*) fail "nodeport: unknown option $1" ;;
		esac
		shift
	done
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default}\n' "$name"
	printf 'spec:\n  type: NodePort\n  clusterIP: 10.96.0.%s\n  externalTrafficPolicy: %s\n' "$((port - 30000))" "$policy"
	[[ -z $affinity ]] || echo "  sessionAffinity: ClientIP"
	printf '  ports: [{name: http, port: 80, nodePort: %s}]\n---\n' "$port"
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
	printf 'metadata: {name: %s-1, namespace: default, labels: {kubernetes.io/service-name: %s}}\n' "$name" "$name"
	printf 'addressType: IPv4\nports: [{name: http, port: %s}]\nendpoints:\n' "$target"
	local ep
	for ep in "$@"; do echo "- {addresses: [${ep%@*}], nodeName: ${ep#*@}}"; done
	echo "---"
}

dns_nodeport() {
	local nodeport=${1:-30053} target=${2:-5353}
	cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.53
  ports: [{name: dns, port: 53, protocol: UDP, nodePort: $nodeport}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, namespace: default, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: dns, port: $target, protocol: UDP}]
endpoints:
- {addresses: [10.78.0.11], nodeName: node-a}
- {addresses: [10.77.0.12], nodeName: node-b}
---
YAML
}

on_node() { nsenter --net="/run/netns/$RUN-node" -- "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "$@"; }

# The client is outside the node (and outside the test cgroup): plain packets.
ask() {
	local port=$1
	shift
	in_ns c1 curl -sS --max-time 2 "$@" "http://10.77.0.5:$port/peer" 2>/dev/null || echo "(failed)"
}

start_iperf() {
	local name=$1
	# Started directly (not through a function) so that $! is iperf3 itself.
	ip netns exec "$RUN-$name" iperf3 -s -p 5201 --forceflush >"$TMP/iperf-$name" 2>&1 &
	PIDS+=($!)
	wait_until --log "$TMP/iperf-$name" 5 "iperf3 to listen in $name" iperf_listening "$name"
}

iperf_listening() { in_ns "$1" ss -Hltn | grep -q ':5201 '; }
