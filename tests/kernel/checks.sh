#!/bin/sh
# The kernel-matrix checks, in POSIX sh so that they run the same on the host
# (test_host.sh) and inside a VM booted with Debian 12's stock kernel under
# qemu, where only busybox, ip, tc, curl, bpftool, svcrouter and its test
# tools (svcr-probe, svcr-testsrv) are present (test_debian_6_1.sh):
#   - `svcrouter apply` loads and attaches every program the kernel supports;
#   - a client in a network namespace and a child cgroup reaches a ClusterIP
#     round-robin over two backends (busybox httpd);
#   - no endpoints gives the documented error (ECONNREFUSED, or EPERM
#     without bpf_set_retval); getpeername shows the VIP where it can;
#   - a connected UDP socket whose backend is removed is closed: its next
#     send fails and a new socket reaches the backend left; with the
#     bpf_sock_destroy kfunc where the kernel has it, through sock_diag
#     (SOCK_DESTROY) on 6.1 (SOCK_TERM, if set, is the mechanism this
#     kernel must use);
#   - `unload` leaves nothing;
#   - the packet path: `apply --tc-dev eth0` in a node namespace attaches
#     tcx links where the kernel has them, and cls_bpf filters on a clsact
#     qdisc where not (6.1); a NodePort request from an external namespace
#     reaches a backend behind the node, which sees the client's address; a
#     UDP datagram to a NodePort without endpoints comes back as ICMP port
#     unreachable;
#     `unload` removes the programs and the qdisc it created.
# Usage: checks.sh BUILD_DIR   (IP, TC, CURL, BUSYBOX may name the tools;
#   TC_MODE=tcx or clsact, if set, is the attachment this kernel must get;
#   SOCK_TERM=bpf_sock_destroy or sock_diag, the way it must close sockets)
set -eu
build=$1
svcr=$build/svcrouter
probe=$build/tests/svcr-probe
testsrv=$build/tests/svcr-testsrv
IP=${IP:-ip}
TC=${TC:-tc}
CURL=${CURL:-curl}
BUSYBOX=${BUSYBOX:-busybox}
run=svk$$
pin=/sys/fs/bpf/$run
# Its own copy of lib.sh's cgroup2_root: this script runs alone under
# busybox sh inside the VM, where tests/netns/lib.sh (bash) is not there.
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
cg=$cgroot/$run
www=$(mktemp -d)
pids=""

cleanup() {
	rc=$?
	set +e
	for p in $pids; do kill "$p" 2>/dev/null; done
	# Filters and a qdisc are removed only from the device's own namespace.
	if [ -e "$pin" ] && [ -e "/run/netns/$run-n" ]; then
		on_node unload >/dev/null
	elif [ -e "$pin" ]; then
		"$svcr" unload --pin-dir "$pin" >/dev/null
	fi
	[ -d "$cg" ] && rmdir "$cg"
	for ns in c b1 b2 x n p; do "$IP" netns del "$run-$ns" 2>/dev/null; done
	rm -rf "$www"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }
in_ns() {
	ns=$1
	shift
	"$IP" netns exec "$run-$ns" "$@"
}
# svcrouter in the node namespace of the packet-path checks.
on_node() { "$BUSYBOX" nsenter --net="/run/netns/$run-n" -- "$svcr" --pin-dir "$pin" --cgroup "$cg" "$@"; }
seconds() { cut -d' ' -f1 /proc/uptime; }

# A client namespace linked by a veth pair to each of two backend namespaces.
"$IP" netns add "$run-c"
"$IP" -n "$run-c" link set lo up
for i in 1 2; do
	"$IP" netns add "$run-b$i"
	"$IP" link add "v$i" netns "$run-c" type veth peer name eth0 netns "$run-b$i"
	"$IP" -n "$run-c" addr add "10.88.$i.1/24" dev "v$i"
	"$IP" -n "$run-c" link set "v$i" up
	"$IP" -n "$run-b$i" addr add "10.88.$i.2/24" dev eth0
	"$IP" -n "$run-b$i" link set eth0 up
	"$IP" -n "$run-b$i" link set lo up
	mkdir -p "$www/b$i"
	echo "backend-$i" >"$www/b$i/index.html"
	"$IP" netns exec "$run-b$i" "$BUSYBOX" httpd -f -p 8080 -h "$www/b$i" &
	pids="$pids $!"
done
mkdir "$cg"

cat >"$www/services.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.88.1.2]}, {addresses: [10.88.2.2]}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {clusterIP: 10.96.0.11, ports: [{name: http, port: 80}]}
EOF

"$svcr" --pin-dir "$pin" --cgroup "$cg" apply -f "$www/services.yaml"
"$svcr" --pin-dir "$pin" status | tee "$www/status"
feature() { grep -Eq "^  $1 +on " "$www/status"; }
want=4 # connect4/6, sendmsg4/6
feature recvmsg && want=$((want + 2))
feature getpeername && want=$((want + 2))
feature sock_release && want=$((want + 1))
grep -q "^datapath: $want programs attached to $cg," "$www/status" ||
	fail "expected $want programs attached to $cg"
ok "apply loaded and attached all $want programs this kernel supports"

# The client runs in its namespace and in the test's cgroup.
client() {
	"$BUSYBOX" nsenter --net="/run/netns/$run-c" -- sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
answers=""
for _ in 1 2 3 4; do answers="$answers $(client "$CURL" -sS --max-time 10 http://10.96.0.10/)"; done
case $answers in
" backend-1 backend-2 backend-1 backend-2" | " backend-2 backend-1 backend-2 backend-1") ;;
*) fail "not round-robin over both backends:$answers" ;;
esac
ok "curl through the ClusterIP, round-robin:$answers"

errno=ECONNREFUSED
feature set_retval || errno=EPERM
out=$(client "$probe" tcp 10.96.0.11 80 --timeout-ms 5000 || true)
echo "$out" | grep -qx "errno=$errno" || fail "no endpoints: expected $errno, got: $out"
ok "no endpoints: $errno at once ($(echo "$out" | sed -n 's/^elapsed_ms=//p') ms)"

if feature getpeername; then
	out=$(client "$probe" tcp 10.96.0.10 80)
	echo "$out" | grep -qx 'peer=10.96.0.10:80' || fail "getpeername: $out"
	ok "getpeername returns the ClusterIP"
fi

# A connected UDP socket to a backend that is removed: closed by the pass
# that follows the apply. The client holds it open (svcr-probe udphold
# sends again for every line it reads).
for i in 1 2; do
	in_ns "b$i" "$testsrv" --name "udp-$i" --udp 5454 >"$www/udp-$i" 2>&1 &
	pids="$pids $!"
done
dns_yaml() {
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: dns}\nspec: {clusterIP: 10.96.0.53, ports: [{name: dns, port: 53, protocol: UDP}]}\n---\n'
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: dns-1, labels: {kubernetes.io/service-name: dns}}\naddressType: IPv4\n'
	printf 'ports: [{name: dns, port: 5454, protocol: UDP}]\nendpoints:\n'
	for a in "$@"; do printf -- '- addresses: [%s]\n' "$a"; done
}
dns_yaml 10.88.1.2 10.88.2.2 >"$www/dns.yaml"
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if grep -q ready "$www/udp-1" && grep -q ready "$www/udp-2"; then break; fi
	sleep 0.5
done
"$svcr" --pin-dir "$pin" --cgroup "$cg" apply -f "$www/dns.yaml" >/dev/null
mkfifo "$www/udp.in"
client "$probe" udphold 10.96.0.53 53 --connect --timeout-ms 5000 <"$www/udp.in" >"$www/udp.out" 2>&1 &
pids="$pids $!"
exec 3>"$www/udp.in"
answer() { # answer N: the Nth reply= or errno= line of the held socket, waiting for it
	for _ in $(seq 1 50); do
		a=$(grep -E '^(reply|errno)=' "$www/udp.out" | sed -n "$1p")
		[ -n "$a" ] && break
		sleep 0.2
	done
	echo "$a"
}
held=$(answer 1)
case $held in reply=udp-1) gone=10.88.1.2 stays=10.88.2.2 left=udp-2 ;; reply=udp-2) gone=10.88.2.2 stays=10.88.1.2 left=udp-1 ;;
*) fail "the held UDP socket: $held $(cat "$www/udp.out")" ;; esac
dns_yaml "$stays" >"$www/dns.yaml"
out=$("$svcr" --pin-dir "$pin" --cgroup "$cg" apply -f "$www/dns.yaml")
mechanism=bpf_sock_destroy
feature sock_destroy || mechanism=sock_diag
[ -z "${SOCK_TERM:-}" ] || [ "$SOCK_TERM" = $mechanism ] ||
	fail "expected sockets to be closed with $SOCK_TERM on this kernel; status says: $(grep '^  sock_destroy ' "$www/status")"
echo "$out" | grep -q "closed 1 connected UDP socket whose backend left ($mechanism," ||
	fail "apply without the held socket's backend: $out"
echo >&3
closed=$(answer 2)
case $closed in errno=EDESTADDRREQ | errno=ECONNABORTED) ;; *) fail "the held socket after its backend left: $closed" ;; esac
exec 3>&-
fresh=$(client "$probe" udp 10.96.0.53 53 --connect | sed -n 's/^reply=//p')
[ "$fresh" = "$left" ] || fail "a new UDP socket: expected $left, got '$fresh'"
ok "a connected UDP socket whose backend left was closed with $mechanism ($closed at its next send); a new socket reached $left"

"$svcr" --pin-dir "$pin" unload
[ ! -e "$pin" ] || fail "$pin is still there"
if command -v bpftool >/dev/null; then
	[ -z "$(bpftool cgroup show "$cg")" ] || fail "programs still attached to $cg"
	ok "bpftool: nothing attached to $cg"
fi
out=$(client "$probe" tcp 10.96.0.10 80 --timeout-ms 2000 || true)
echo "$out" | grep -qx 'errno=ENETUNREACH' || fail "after unload the VIP is still rewritten: $out"
ok "unload left no pin and no program: the ClusterIP is not rewritten any more"

# The packet path. An external client x (10.89.0.2) reaches the node n
# (10.89.0.1 on its eth0, the --tc-dev) over a veth; behind the node, on a
# veth of its own, the backend p (10.89.1.2), whose default route is the node.
t0=$(seconds)
for ns in x n p; do
	"$IP" netns add "$run-$ns"
	"$IP" -n "$run-$ns" link set lo up
done
"$IP" link add eth0 netns "$run-x" type veth peer name eth0 netns "$run-n"
"$IP" link add vp netns "$run-n" type veth peer name eth0 netns "$run-p"
link_up() { # link_up NS DEV ADDR
	"$IP" -n "$run-$1" addr add "$3/24" dev "$2"
	"$IP" -n "$run-$1" link set "$2" up
}
link_up x eth0 10.89.0.2
link_up n eth0 10.89.0.1
link_up n vp 10.89.1.1
link_up p eth0 10.89.1.2
"$IP" -n "$run-p" route add default via 10.89.1.1
for k in net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0; do
	in_ns n "$BUSYBOX" sysctl -qw "$k"
done
in_ns p "$testsrv" --name np-backend --tcp 8080 >"$www/testsrv" 2>&1 &
pids="$pids $!"

cat >"$www/nodeport.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, clusterIP: 10.96.0.12, ports: [{name: http, port: 80, nodePort: 30080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: np-1, labels: {kubernetes.io/service-name: np}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.89.1.2], nodeName: node-a}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {type: NodePort, clusterIP: 10.96.0.13, ports: [{name: dns, port: 53, protocol: UDP, nodePort: 30053}]}
EOF

qdiscs_before=$(in_ns n "$TC" qdisc show dev eth0)
on_node --node-name node-a --tc-dev eth0 apply -f "$www/nodeport.yaml"
on_node status >"$www/status"
mode=clsact
feature tcx && mode=tcx
[ -z "${TC_MODE:-}" ] || [ "$TC_MODE" = $mode ] ||
	fail "expected the packet path to attach with $TC_MODE on this kernel; status says: $(grep '^  tcx ' "$www/status")"
if [ $mode = clsact ]; then
	in_ns n "$TC" qdisc show dev eth0 | grep -q clsact || fail "no clsact qdisc on eth0"
	filters=$(in_ns n "$TC" filter show dev eth0 ingress)
	echo "$filters" | grep -q svcr_tc_ingress || fail "no svcr_tc_ingress filter on eth0: $filters"
	in_ns n "$TC" filter show dev eth0 egress | grep -q svcr_tc_egress || fail "no svcr_tc_egress filter on eth0"
	ok "status: tcx off; eth0 has a clsact qdisc with the filters $(echo "$filters" | grep -o 'svcr_tc_ingress[^ ]*' | head -1) and svcr_tc_egress"
else
	[ "$(in_ns n "$TC" qdisc show dev eth0)" = "$qdiscs_before" ] || fail "tcx, yet the qdiscs of eth0 changed"
	[ -z "$(in_ns n "$TC" filter show dev eth0 ingress)" ] || fail "tcx, yet a filter on eth0"
	set -- "$pin"/links/svcr_tcx_in_*
	[ -e "$1" ] || fail "no tcx link pinned under $pin/links"
	ok "status: tcx on; eth0 has tcx links (pinned under $pin/links), no clsact qdisc, no filter"
fi

for _ in 1 2 3 4 5 6 7 8 9 10; do
	if grep -q ready "$www/testsrv"; then break; fi
	sleep 0.5
done
grep -q ready "$www/testsrv" || fail "the backend did not start: $(cat "$www/testsrv")"
# The client is outside the node (and outside the test cgroup): plain packets.
out=$(in_ns x "$CURL" -sS --max-time 10 http://10.89.0.1:30080/peer 2>&1) || fail "NodePort request: $out"
[ "$out" = "np-backend 10.89.0.2" ] || fail "NodePort request: expected 'np-backend 10.89.0.2', got: $out"
ok "curl from outside to the NodePort, through $mode, reached the backend behind the node, which saw the client: $out"
# A UDP NodePort without endpoints: the datagram comes back as ICMP port
# unreachable, built in place (bpf_skb_change_tail, bpf_skb_adjust_room).
out=$(in_ns x "$probe" udp 10.89.0.1 30053 --connect --timeout-ms 3000 2>&1 || true)
case $out in *errno=ECONNREFUSED*) ;; *) fail "UDP NodePort without endpoints: expected ECONNREFUSED, got: $out" ;; esac
ok "a UDP NodePort without endpoints answered ICMP port unreachable: $(echo "$out" | tr '\n' ' ')"

on_node unload
[ ! -e "$pin" ] || fail "$pin is still there"
qdiscs=$(in_ns n "$TC" qdisc show dev eth0)
[ "$qdiscs" = "$qdiscs_before" ] || fail "the qdiscs of eth0 after unload: '$qdiscs', before: '$qdiscs_before'"
case $qdiscs in *clsact*) fail "a clsact qdisc is left on eth0" ;; esac
[ -z "$(in_ns n "$TC" filter show dev eth0 ingress)" ] || fail "a filter is left on eth0"
rc=0
in_ns x "$CURL" -sS --max-time 5 http://10.89.0.1:30080/ >/dev/null 2>&1 || rc=$?
[ $rc = 7 ] || fail "after unload the node itself should refuse the NodePort (curl exit 7), got exit $rc"
ok "unload left eth0 as it found it (no clsact qdisc, no filter); the NodePort is not served any more"
ok "the packet-path checks took $(awk -v a="$t0" -v b="$(seconds)" 'BEGIN { printf "%.1f", b - a }') s"
