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
PINS=()                         # pin directories of extra nodes (add_node)
CGROUPS=()                      # more cgroups made by this run, beside $CG
ETC_NETNS=()                    # /etc/netns/NS directories made by this run (resolv_conf)

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() { echo "ok: $*"; }

# Prints where the cgroup v2 hierarchy is mounted (nothing if it is not).
cgroup2_root() { awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts; }

# Polls CMD every 0.1 s until it succeeds; if it still fails once SECONDS
# (e.g. 5 or 0.5) have passed, fails the test with "timed out after SECONDS s
# waiting for DESCRIPTION", followed by FILE's contents with --log FILE:
#   wait_until [--log FILE] [--warn] SECONDS DESCRIPTION CMD...
# CMD is one simple command (write a function for pipes or `!`); its output
# is discarded, but for its last try's, which goes to stderr. --warn (for
# cleanup only) prints the message as a warning and returns 1 instead.
wait_until() {
	local log="" warn=0
	while [[ $1 == --* ]]; do
		case $1 in
		--log) log=$2 && shift ;;
		--warn) warn=1 ;;
		*) fail "wait_until: unknown option $1" ;;
		esac
		shift
	done
	local seconds=$1 what=$2 now deadline frac=000000
	shift 2
	[[ $seconds =~ ^([0-9]+)(\.([0-9]{1,6}))?$ ]] || fail "wait_until: SECONDS is '$seconds'"
	[[ -z ${BASH_REMATCH[3]} ]] || frac=${BASH_REMATCH[3]}00000 frac=${frac:0:6}
	now=${EPOCHREALTIME/[.,]/}
	deadline=$((now + 10#${BASH_REMATCH[1]} * 1000000 + 10#$frac))
	while ((now < deadline)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		now=${EPOCHREALTIME/[.,]/}
	done
	"$@" >&2 && return 0
	local msg="timed out after ${seconds}s waiting for $what"
	[[ -z $log ]] || msg+=": $(cat "$log")"
	((warn)) || fail "$msg"
	echo "warning: $msg" >&2
	return 1
}

cleanup() {
	local rc=$?
	set +e
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	local pin
	for pin in "$PIN" "${PINS[@]}"; do
		if [[ -n $pin && -e $pin ]]; then "$SVCROUTER" unload --pin-dir "$pin" >/dev/null; fi
	done
	local cg
	for cg in "$CG" "${CGROUPS[@]}"; do
		[[ -n $cg && -d $cg ]] || continue
		# Only this run's processes can be in its cgroups.
		for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		wait_until --warn 1 "cgroup $cg to be removed" rmdir "$cg"
	done
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	local etc
	for etc in "${ETC_NETNS[@]}"; do rm -rf "$etc"; done
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Removes what runs killed before their cleanup could run left behind (ctest
# kills a test that overruns its time with SIGKILL): namespaces, cgroups and
# pins named after a test run (svt<pid>, svk<pid>) whose process is gone, and
# the processes still inside those namespaces, which those runs started.
sweep_leftovers() {
	local name pid dir
	for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^sv[tk][0-9]+-'); do
		pid=${name%%-*} pid=${pid#sv[tk]}
		[[ -d /proc/$pid ]] && continue
		for p in $(ip netns pids "$name" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$name" 2>/dev/null
	done
	for dir in /sys/fs/bpf/sv[tk][0-9]*; do
		[[ -e $dir ]] || continue
		pid=$(basename "$dir") pid=${pid#sv[tk]} pid=${pid%%-*}
		[[ -d /proc/$pid ]] || "$SVCROUTER" unload --pin-dir "$dir" >/dev/null 2>&1
	done
	for dir in /etc/netns/sv[tk][0-9]*-*; do
		[[ -d $dir ]] || continue
		pid=$(basename "$dir") pid=${pid#sv[tk]} pid=${pid%%-*}
		[[ -d /proc/$pid ]] || rm -rf "$dir"
	done
	local root
	root=$(cgroup2_root)
	[[ -n $root ]] || return 0
	for dir in "$root"/sv[tk][0-9]*; do
		[[ -d $dir ]] || continue
		pid=$(basename "$dir") pid=${pid#sv[tk]} pid=${pid%%-*}
		[[ -d /proc/$pid ]] && continue
		for p in $(cat "$dir/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		rmdir "$dir" 2>/dev/null
	done
}

# Waits for a background process, at most SECONDS; its exit status, or fails.
wait_pid() {
	local pid=$1 seconds=$2
	wait_until "$seconds" "process $pid to exit" exited "$pid"
	wait "$pid"
}

# Whether process PID is gone (bash reaps its children as they end).
exited() { ! kill -0 "$1" 2>/dev/null; }

# Checks the privileges and kernel features the test needs; skips otherwise.
require_env() {
	[[ $(id -u) == 0 ]] || skip "needs root (network namespaces, cgroups, BPF)"
	[[ -x $SVCROUTER && -x $TESTSRV && -x $PROBE ]] || fail "build first: $SVCR_BUILD/svcrouter missing"
	ip netns add "$RUN-probe" 2>/dev/null || skip "cannot create network namespaces"
	ip netns del "$RUN-probe"
	sweep_leftovers
	local root
	root=$(cgroup2_root)
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
	local spec
	for spec in "$@"; do add_host "${spec%%:*}" "${spec##*:}"; done
}

# One more host on the bridge: add_host NAME N (10.77.0.N, fd77::N on eth0).
add_host() {
	local name=$1 n=$2
	ip netns add "$RUN-$name"
	NETNS+=("$RUN-$name")
	ip link add eth0 netns "$RUN-$name" type veth peer name "p$n" netns "$RUN-sw"
	ip -n "$RUN-sw" link set "p$n" master br0 up
	ip -n "$RUN-$name" link set lo up
	ip -n "$RUN-$name" link set eth0 up
	ip -n "$RUN-$name" addr add "10.77.0.$n/24" dev eth0
	ip -n "$RUN-$name" addr add "fd77::$n/64" dev eth0 nodad
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
	in_client_cgroup "$CG" "$name" "$@"
}

# The same with the cgroup named: in_client_cgroup CGROUP NS CMD...
in_client_cgroup() {
	local cg=$1 name=$2
	shift 2
	nsenter --net="/run/netns/$RUN-$name" -- bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# Starts svcr-testsrv in a backend namespace: start_backend NS NAME ARGS...
start_backend() {
	local name=$1 label=$2
	shift 2
	local out=$TMP/srv-$label
	ip netns exec "$RUN-$name" "$TESTSRV" --name "$label" "$@" >"$out" 2>&1 &
	PIDS+=($!)
	wait_until --log "$out" 5 "backend $label to start" grep -q ready "$out"
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

# A second node: its own svcrouter (pin directory $PIN-NAME) attached to its
# own cgroup ($CG-NAME) with --node-name NAME. Clients "on" it run with
# in_client_on; svcrouter for it is svcr_on.
add_node() {
	sibling_cgroup "$1"
	PINS+=("$PIN-$1")
}

svcr_on() {
	local node=$1
	shift
	"$SVCROUTER" --pin-dir "$PIN-$node" --cgroup "$CG-$node" --node-name "$node" "$@"
}

in_client_on() {
	local node=$1
	shift
	in_client_cgroup "$CG-$node" "$@"
}

# Starts `svcrouter ARGS...` in the background with output to FILE; the
# process itself (not a subshell) is BG_PID, and cleanup stops it.
#
# An agent (`run`) serves no metrics or health port unless the test asks
# for one: a test listens on nothing in the host's namespace by default.
svcr_bg() {
	local out=$1
	shift
	local quiet=()
	if [[ ${1:-} == run ]]; then
		[[ " $* " == *" --metrics-bind-address "* ]] || quiet+=(--metrics-bind-address 127.0.0.1:0)
		[[ " $* " == *" --healthz-bind-address "* ]] || quiet+=(--healthz-bind-address 127.0.0.1:0)
	fi
	"$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "$@" "${quiet[@]}" >"$out" 2>&1 &
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

# The manifest builders: `service` writes a Service, `slice` an EndpointSlice
# for it, each one YAML document ending in "---"; chain them and pipe the lot
# to `manifest FILE` or `apply_yaml NAME`. A Service with port p (80 -> 8080)
# and two ready endpoints:
#   { service web 10.96.0.10 p:80 && slice web-1 web p:8080 -- 10.77.0.11 10.77.0.12; } | apply_yaml web
#
#   service NAME VIP[,VIP6] PORT... [--affinity SECONDS] [--local] [--label K=V]...
#     PORT = [NAME:]NUMBER[/PROTOCOL] (TCP if not given), e.g. http:80/TCP, 53/UDP
#   slice NAME SERVICE PORT... [--label K=V]... [--v6] -- ENDPOINT...
#     PORT as above, the backend port (which the Service port of the same
#     name targets: the Service itself has no targetPort); ENDPOINT =
#     IP[@NODE][/CONDITION,...] with CONDITION one of ready=B, serving=B,
#     terminating=B; addressType IPv6 with --v6 or an IPv6 first endpoint
port_yaml() {
	local spec=$1 name="" num proto=TCP
	[[ $spec == *:* ]] && name=${spec%%:*} spec=${spec#*:}
	[[ $spec == */* ]] && proto=${spec#*/} spec=${spec%%/*}
	num=$spec
	echo "  - {${name:+name: $name, }port: $num, protocol: $proto}"
}

labels_yaml() {
	(($#)) || return 0
	echo "  labels:"
	local l
	for l in "$@"; do echo "    ${l%%=*}: \"${l#*=}\""; done
}

service() {
	local name=$1 vips=$2 ports=() labels=() affinity="" policy=""
	shift 2
	while (($#)); do
		case $1 in
		--affinity) affinity=$2 && shift ;;
		--local) policy=Local ;;
		--label) labels+=("$2") && shift ;;
		*) ports+=("$1") ;;
		esac
		shift
	done
	printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: default\n' "$name"
	labels_yaml "${labels[@]}"
	printf 'spec:\n  clusterIP: %s\n  clusterIPs: [%s]\n' "${vips%%,*}" "$vips"
	[[ -z $policy ]] || echo "  internalTrafficPolicy: $policy"
	[[ -z $affinity ]] || printf '  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: %s}}\n' "$affinity"
	echo "  ports:"
	local p
	for p in "${ports[@]}"; do port_yaml "$p"; done
	echo "---"
}

slice() {
	local name=$1 svc=$2 ports=() labels=() family=IPv4
	labels=("kubernetes.io/service-name=$svc")
	shift 2
	while (($#)); do
		case $1 in
		--) shift && break ;;
		--label) labels+=("$2") && shift ;;
		--v6) family=IPv6 ;;
		*) ports+=("$1") ;;
		esac
		shift
	done
	[[ ${1:-} == *:* ]] && family=IPv6
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s\n  namespace: default\n' "$name"
	labels_yaml "${labels[@]}"
	echo "addressType: $family"
	echo "ports:"
	local p ep node conds c
	for p in "${ports[@]}"; do port_yaml "$p"; done
	echo "endpoints:"
	for ep in "$@"; do
		conds="" node=""
		[[ $ep == */* ]] && conds=${ep#*/} ep=${ep%%/*}
		[[ $ep == *@* ]] && node=${ep#*@} ep=${ep%%@*}
		echo "  - addresses: [\"$ep\"]"
		[[ -z $node ]] || echo "    nodeName: $node"
		if [[ -n $conds ]]; then
			echo "    conditions:"
			for c in ${conds//,/ }; do echo "      ${c%%=*}: ${c#*=}"; done
		fi
	done
	echo "---"
}

# Applies the manifest on stdin (saved as $TMP/NAME.yaml) with svcr, or with
# `svcr_on NODE` when a node is given: apply_yaml NAME [NODE]
apply_yaml() {
	local file out
	file=$(manifest "$1.yaml")
	if [[ -n ${2:-} ]]; then out=$(svcr_on "$2" apply -f "$file" 2>&1); else out=$(svcr apply -f "$file" 2>&1); fi || fail "apply $1: $out"
}

# COUNT sequential HTTP requests from a client namespace, one answer a line:
#   requests NS COUNT HOST:PORT [NODE]
requests() {
	local ns=$1 n=$2 target=$3 cg=$CG i
	[[ -z ${4:-} ]] || cg=$CG-$4
	for ((i = 0; i < n; i++)); do
		in_client_cgroup "$cg" "$ns" curl -sS -g --max-time 2 "http://$target/" 2>/dev/null || echo "(failed)"
	done
}

# Asserts that a client's call fails at once with an errno:
#   assert_errno ERRNO NS PROBE-ARGS...   e.g. assert_errno ECONNREFUSED c1 tcp 10.96.0.10 80
assert_errno() {
	local want=$1 ns=$2 out ms
	shift 2
	out=$(in_client "$ns" "$PROBE" "$@" --timeout-ms 2000 || true)
	grep -qx "errno=$want" <<<"$out" || fail "$*: expected $want, got: $(echo $out)"
	ms=$(sed -n 's/^elapsed_ms=//p' <<<"$out")
	awk -v ms="$ms" 'BEGIN { exit !(ms < 100) }' || fail "$*: $want took $ms ms"
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

# Starts `svcrouter ARGS...` in a host's network namespace (nsenter keeps
# /sys/fs/bpf and the cgroup mount), output to FILE: svcr_bg_in NS FILE ARGS...
# Its listeners (metrics, health) are then inside that namespace.
svcr_bg_in() {
	local name=$1 out=$2
	shift 2
	nsenter --net="/run/netns/$RUN-$name" -- "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" "$@" \
		>"$out" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# The path of promtool (Debian package prometheus), unpacked once into the
# build directory from the package, so that nothing is installed or started
# on the machine; skips the test when the package cannot be fetched.
promtool_path() {
	local dir=$SVCR_BUILD/tools/prometheus
	if [[ ! -x $dir/usr/bin/promtool ]]; then
		local tmp
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) ||
			{ rm -rf "$tmp"; skip "cannot download Debian's prometheus package (for promtool)"; }
		mkdir -p "$dir"
		dpkg-deb -x "$tmp"/prometheus_*.deb "$dir"
		rm -rf "$tmp"
	fi
	echo "$dir/usr/bin/promtool"
}

# A host's resolver configuration: /etc/netns/NS/resolv.conf, which `ip
# netns exec` (in_ns, in_client_resolv) mounts over /etc/resolv.conf; the
# text is stdin. Cleanup removes it.
resolv_conf() {
	local dir=/etc/netns/$RUN-$1
	mkdir -p "$dir"
	ETC_NETNS+=("$dir")
	cat >"$dir/resolv.conf"
}

# Runs a command as a pod would: in the test's cgroup (the socket path)
# and in a client namespace with its own /etc/netns files (its
# resolv.conf). The cgroup is joined first: `ip netns exec` then hides
# the cgroup mount, not the membership.
in_client_resolv() {
	local name=$1
	shift
	bash -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$1" "${@:2}"' "$CG" "$RUN-$name" "$@"
}

# dig from a host's namespace, one try of 2 s: dig_at NS SERVER ARGS...
dig_at() {
	local name=$1 server=$2
	shift 2
	in_ns "$name" dig +tries=1 +time=2 "@$server" "$@"
}

# The answer section of a query, one record a line with single spaces
# (dig's tabs squeezed): dig_answer NS SERVER NAME [TYPE] [DIG-OPTION...]
dig_answer() {
	dig_at "$1" "$2" +noall +answer "${@:3}" | awk '{ $1 = $1; print }'
}

# The response code dig saw (NOERROR, NXDOMAIN, SERVFAIL, ...; nothing if
# no answer came): dig_rcode NS SERVER NAME [TYPE] [DIG-OPTION...]
dig_rcode() {
	dig_at "$1" "$2" +noall +comments "${@:3}" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}
