# Shared by tests/netns/test_*.sh and scripts/demo.sh: a throw-away topology
# of network namespaces on one bridge, a child cgroup v2 for the client, a
# private pin directory, and a trap that removes all of it on exit, also on
# failure. Nothing here touches the host's interfaces or its root cgroup.
#
#   ns "sw"  : a bridge, the only link between the others (no route off the machine)
#   ns "c1".. : clients, whose commands run in the test's child cgroup
#   ns "b1".. : backends (svcr-testsrv, dnsmasq, ...)
# Addresses: host N of the topology has 10.77.0.N/24 and fd77::N/64.

set -euo pipefail

SVCR_SRC=${SVCR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SVCR_BUILD=${SVCR_BUILD:-$SVCR_SRC/build}
SVCROUTER=$SVCR_BUILD/svcrouter
TESTSRV=$SVCR_BUILD/tests/svcr-testsrv
PROBE=$SVCR_BUILD/tests/svcr-probe

RUN=svt$$                       # unique per run; short: interface names stop at 15
NETNS=()                        # namespaces made by this run
PIDS=()                         # background processes started by this run
TMP=$(mktemp -d /tmp/svcr-test.XXXXXX)
PIN=""
CG=""
CGROUPS=()                      # more cgroups made by this run, beside $CG

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() { echo "ok: $*"; }

cleanup() {
	local rc=$?
	set +e
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	if [[ -n $PIN && -e $PIN ]]; then "$SVCROUTER" unload --pin-dir "$PIN" >/dev/null; fi
	local cg
	for cg in "$CG" "${CGROUPS[@]}"; do
		[[ -n $cg && -d $cg ]] || continue
		# Only this run's processes can be in its cgroups.
		for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
	done
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Checks the privileges and kernel features the test needs; skips otherwise.
require_env() {
	[[ $(id -u) == 0 ]] || skip "needs root (network namespaces, cgroups, BPF)"
	[[ -x $SVCROUTER && -x $TESTSRV && -x $PROBE ]] || fail "build first: $SVCR_BUILD/svcrouter missing"
	ip netns add "$RUN-probe" 2>/dev/null || skip "cannot create network namespaces"
	ip netns del "$RUN-probe"
	local root
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
	[[ -n $root ]] || skip "no cgroup v2 mount"
	CG=$root/$RUN
	mkdir "$CG" || skip "cannot create a cgroup under $root"
	PIN=/sys/fs/bpf/$RUN
	for tool in "$@"; do command -v "$tool" >/dev/null || skip "needs $tool"; done
}

# Creates the bridge namespace and hosts named in "$@" as NAME:N (N = address).
make_topology() {
	ip netns add "$RUN-sw"
	NETNS+=("$RUN-sw")
	ip -n "$RUN-sw" link add br0 type bridge
	ip -n "$RUN-sw" link set br0 up
	ip -n "$RUN-sw" link set lo up
	local spec name n
	for spec in "$@"; do
		name=${spec%%:*} n=${spec##*:}
		ip netns add "$RUN-$name"
		NETNS+=("$RUN-$name")
		ip link add eth0 netns "$RUN-$name" type veth peer name "p$n" netns "$RUN-sw"
		ip -n "$RUN-sw" link set "p$n" master br0 up
		ip -n "$RUN-$name" link set lo up
		ip -n "$RUN-$name" link set eth0 up
		ip -n "$RUN-$name" addr add "10.77.0.$n/24" dev eth0
		ip -n "$RUN-$name" addr add "fd77::$n/64" dev eth0 nodad
	done
}

ns() { echo "$RUN-$1"; }

# Runs a command in a host's namespace, outside the test cgroup.
in_ns() {
	local name=$1
	shift
	ip netns exec "$RUN-$name" "$@"
}

# Runs a command in a client namespace *and* in the test's cgroup, where the
# socket programs are attached. nsenter keeps /sys (and the cgroup mount).
in_client() {
	local name=$1
	shift
	nsenter --net="/run/netns/$RUN-$name" -- bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" "$@"
}

# Starts svcr-testsrv in a backend namespace: start_backend NS NAME ARGS...
start_backend() {
	local name=$1 label=$2
	shift 2
	local out=$TMP/srv-$label
	ip netns exec "$RUN-$name" "$TESTSRV" --name "$label" "$@" >"$out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do grep -q ready "$out" && return 0; sleep 0.05; done
	fail "backend $label did not start: $(cat "$out")"
}

# Makes $CG-NAME, a cgroup beside $CG with no programs attached: processes
# there see the same ancestors as in $CG but none of svcrouter's hooks (a
# baseline). Cleanup removes it. Call after require_env.
sibling_cgroup() {
	mkdir "$CG-$1"
	CGROUPS+=("$CG-$1")
}

# The svcrouter command on this run's pin directory and cgroup.
svcr() { "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "$@"; }

# Starts `svcrouter ARGS...` in the background with output to FILE; the
# process itself (not a subshell) is BG_PID, and cleanup stops it.
svcr_bg() {
	local out=$1
	shift
	"$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "$@" >"$out" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# One TCP connection kept open from a client namespace (svcr-probe hold):
#   hold_open NS HOST PORT; hold_ask; echo "$HOLD_REPLY"
# hold_ask sends a line on that same connection and sets HOLD_REPLY to the
# name of the backend that answered; it fails the test if the connection broke.
hold_open() {
	coproc HOLD { in_client "$1" "$PROBE" hold "$2" "$3"; }
	PIDS+=("$HOLD_PID")
	HOLD_ASKED=0
}

hold_ask() {
	# The probe answers its first exchange unasked.
	if ((HOLD_ASKED)); then echo >&"${HOLD[1]}"; fi
	HOLD_ASKED=1
	local line
	while read -r -t 5 -u "${HOLD[0]}" line; do
		case $line in
		reply=*) HOLD_REPLY=${line#reply=} && return 0 ;;
		errno=*) fail "held connection: $line" ;;
		esac
	done
	fail "held connection: no reply"
}

hold_close() { exec {HOLD[1]}>&-; }

# Writes stdin to $TMP/NAME and prints the path.
manifest() {
	cat >"$TMP/$1"
	echo "$TMP/$1"
}

# A Service with one port and an EndpointSlice of ready endpoints:
#   service_yaml NAME VIP PORT TARGET_PORT PROTO IP...
service_yaml() {
	local name=$1 vip=$2 port=$3 target=$4 proto=$5
	shift 5
	cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec:
  clusterIP: $vip
  ports: [{name: p, port: $port, protocol: $proto, targetPort: $target}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-1
  namespace: default
  labels: {kubernetes.io/service-name: $name}
addressType: $([[ $vip == *:* ]] && echo IPv6 || echo IPv4)
ports: [{name: p, port: $target, protocol: $proto}]
endpoints:
EOF
	local ip
	for ip in "$@"; do echo "  - addresses: [\"$ip\"]"; done
}

# Asserts: assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	[[ $2 == "$3" ]] || fail "$1: expected '$2', got '$3'"
}

# Asserts strict round-robin: every name appears equally often, in a fixed
# rotation (the sequence repeats with the period of the number of names).
assert_round_robin() {
	local n=$1
	shift
	local seq=("$@") total=$#
	local distinct
	distinct=$(printf '%s\n' "${seq[@]}" | sort -u | wc -l)
	assert_eq "distinct backends" "$n" "$distinct"
	local i
	for ((i = n; i < total; i++)); do
		[[ ${seq[i]} == "${seq[i - n]}" ]] || fail "not a fixed rotation at request $i: ${seq[*]}"
	done
	printf '%s\n' "${seq[@]}" | sort | uniq -c | awk -v want=$((total / n)) \
		'$1 != want { print "FAIL: " $2 " got " $1 " of '"$total"', want " want; bad = 1 } END { exit bad }' >&2 ||
		fail "uneven distribution"
}
