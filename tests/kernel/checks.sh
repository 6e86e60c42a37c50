#!/bin/sh
# The kernel-matrix checks, in POSIX sh so that they run the same on the host
# (test_host.sh) and inside a VM booted with Debian 12's stock kernel under
# qemu, where only busybox, ip, curl and svcrouter are present
# (test_debian_6_1.sh):
#   - `svcrouter apply` loads and attaches every program the kernel supports;
#   - a client in a network namespace and a child cgroup reaches a ClusterIP
#     round-robin over two backends (busybox httpd);
#   - no endpoints gives the documented error (ECONNREFUSED, or EPERM
#     without bpf_set_retval); getpeername shows the VIP where it can;
#   - `unload` leaves nothing.
# Usage: checks.sh BUILD_DIR   (IP, CURL, BUSYBOX may name the tools)
set -eu
build=$1
svcr=$build/svcrouter
probe=$build/tests/svcr-probe
IP=${IP:-ip}
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
	[ -e "$pin" ] && "$svcr" unload --pin-dir "$pin" >/dev/null
	[ -d "$cg" ] && rmdir "$cg"
	for ns in c b1 b2; do "$IP" netns del "$run-$ns" 2>/dev/null; done
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

"$svcr" --pin-dir "$pin" unload
[ ! -e "$pin" ] || fail "$pin is still there"
if command -v bpftool >/dev/null; then
	[ -z "$(bpftool cgroup show "$cg")" ] || fail "programs still attached to $cg"
	ok "bpftool: nothing attached to $cg"
fi
out=$(client "$probe" tcp 10.96.0.10 80 --timeout-ms 2000 || true)
echo "$out" | grep -qx 'errno=ENETUNREACH' || fail "after unload the VIP is still rewritten: $out"
ok "unload left no pin and no program: the ClusterIP is not rewritten any more"
