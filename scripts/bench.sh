#!/usr/bin/env bash
# The benchmark suite (bench/README.md), in one command:
#
#   sudo scripts/bench.sh [--quick] [--sizes "1 1000 10000 100000"] [--rounds R]
#                         [--requests N] [--iperf-seconds S] [--changes M]
#                         [--out DIR] [--build DIR]
#
# Builds a throw-away topology of network namespaces (tests/netns/lib.sh) and
# measures every peer side by side, interleaved round by round in rotating
# order by one svcr-bench, round 0 a warm-up left out, the median of the
# other rounds reported with its min-max, against "direct" in the same round,
# and "direct-2" (the same again) as an A/A control:
#
#   direct             client -> backend, no rules, no hooks (the limit)
#   direct-2           the same from another namespace (A/A control)
#   svcrouter-socket   client in svcrouter's cgroup -> ClusterIP
#   iptables           kube-proxy's iptables mode (nf_tables backend) -> ClusterIP
#   nftables           kube-proxy's nftables mode (verdict maps, numgen) -> ClusterIP
#   haproxy            HAProxy in TCP mode (TCP only)
#   routed             external client -> backend behind a node, plain routing
#   svcrouter-packet   external client -> NodePort of a node with svcrouter's
#                      TC programs (the packet path), local backend
#   iptables-nodeport  external client -> NodePort of a node with kube-proxy's
#                      iptables rules
#   IPVS               measured nowhere yet; reported as unavailable where the
#                      kernel has no IP_VS (this one's case)
#
# For each number of Services in --sizes (the measured one last in every
# linear list): new connection per request (crr), requests on a kept
# connection (rr), UDP request/response (udp-rr), crr from 4 parallel
# clients (crr-p4): rate, p50/p90/p99/p99.9, the machine's CPU time per
# request. At the first size, iperf3 with 1 and 4 streams. The control plane
# (scripts/bench-scale.sh): load from cold and one change, for svcrouter,
# iptables-restore and nft; the agent's one change, map memory and RSS.
# Then a profile: the kernel's BPF run-time statistics of svcrouter's
# programs, and perf where it works.
#
# Writes DIR/benchmarks.md (default DIR: docs/), DIR/bench/results.json
# and DIR/bench/*.png (gnuplot). --quick: every peer at 1 and 100 services,
# 2 rounds of 200 requests, one iperf3 round (a check that it all runs, for
# CI; not a measurement). Everything it creates is removed when it ends, also on
# failure.
set -euo pipefail

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

command_line="scripts/bench.sh$(printf ' %q' "$@")"
sizes="1 1000 10000 100000"
rounds=9
requests=2000
iperf_seconds=2
changes=200
quick=0
out=""
build_given=""
while (($#)); do
	case $1 in
	--quick) quick=1 sizes="1 100" rounds=2 requests=200 iperf_seconds=1 changes=20 && shift && continue ;;
	-h | --help) usage ;;
	--sizes | --rounds | --requests | --iperf-seconds | --changes | --out | --build) (($# >= 2)) || usage ;;
	*) usage ;;
	esac
	case $1 in
	--sizes) sizes=$2 ;;
	--rounds) rounds=$2 ;;
	--requests) requests=$2 ;;
	--iperf-seconds) iperf_seconds=$2 ;;
	--changes) changes=$2 ;;
	--out) out=$2 ;;
	--build) build_given=$2 ;;
	esac
	shift 2
done
for n in $sizes; do
	[[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 125000)) || { echo "bench: --sizes are 1..125000" >&2 && exit 2; }
done
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 2 && $requests =~ ^[1-9][0-9]*$ && $requests -ge 4 &&
	$iperf_seconds =~ ^[1-9][0-9]*$ && $changes =~ ^[1-9][0-9]*$ ]] ||
	{ echo "bench: --rounds >= 2, --requests >= 4, --iperf-seconds >= 1, --changes >= 1" >&2 && exit 2; }
source "$(dirname "$0")/bench-lib.sh"
out=$(realpath -m "${out:-$SRC/docs}")
bench_build "$build_given"
# shellcheck source=tests/netns/lib.sh
source "$SRC/tests/netns/lib.sh"
bench_need iperf3:iperf3 iptables-nft-restore:iptables nft:nftables gnuplot:gnuplot-nox haproxy:haproxy
require_env jq nsenter iperf3 iptables-nft-restore nft gnuplot python3
BENCH=$SVCR_BUILD/bench/svcr-bench
[[ -x $BENCH ]] || fail "build first: $BENCH missing"
haproxy=1
command -v haproxy >/dev/null || { echo "note: haproxy is not installed: its case is left out" >&2 && haproxy=0; }
# kube-proxy's IPVS mode needs the kernel's IP_VS.
ipvs_note="IPVS: not measured; the kernel has it"
if ! { command -v modprobe >/dev/null && modprobe ip_vs 2>/dev/null; } && [[ ! -e /proc/net/ip_vs ]]; then
	ipvs_note="IPVS: unavailable, kernel $(uname -r) has no IP_VS (modprobe ip_vs failed, no /proc/net/ip_vs)"
fi
echo "$ipvs_note" >&2
mkdir -p "$out/bench"
t_start=$(now)
machine=$(bench_machine_json) # before anything of ours runs
largest=$(tr ' ' '\n' <<<"$sizes" | sort -n | tail -1)
EP=2 # endpoints of every filler Service: kube-proxy's random choice is in every chain

# --- topology -----------------------------------------------------------------
#   sw: the bridge 10.77.0.0/24; b1 .11 and .13: the backend (svcr-testsrv TCP
#   and UDP 8080, iperf3 5201); clients cd .2, cd2 .7, cs .3, ci .4, cn .8,
#   ch .6 (-> HAProxy in hp .12); cx .20: the external client of the nodes
#   nd .21 (routing), np .22 (svcrouter's packet path), ni .23 (iptables),
#   each with its backend behind it (10.78/10.79/10.80.0.11 and .13).
hosts=(b1:11 cd:2 cd2:7 cs:3 ci:4 cn:8 cx:20 nd:21 np:22 ni:23)
((haproxy)) && hosts+=(ch:6 hp:12)
make_topology "${hosts[@]}"
in_ns b1 ip addr add 10.77.0.13/24 dev eth0
for spec in "${hosts[@]}"; do
	c=${spec%%:*}
	# The route matters to the rules: connect() routes the ClusterIP before
	# OUTPUT's DNAT. svcrouter rewrites the address before routing.
	in_ns "$c" ip route add default dev eth0
	in_ns "$c" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
done
start_backend b1 backend --tcp 8080 --udp 8080
bench_iperf_server b1
bench_node_backend nd 78 cx
bench_node_backend np 79 cx
bench_node_backend ni 80 cx
((haproxy)) && bench_haproxy hp 10.77.0.12:80 10.77.0.11:8080 10.77.0.13:8080
# Every case but svcrouter-socket runs in this cgroup: the same ancestors as
# $CG, none of svcrouter's programs.
sibling_cgroup base
BASE_CG=$CG-base
add_node np # svcrouter of node np: its own pins ($PIN-np) and cgroup
read -ra map_sizes <<<"$(bench_map_sizes "$largest" "$EP")"
svcr_np() {
	nsenter --net="/run/netns/$RUN-np" -- "$SVCROUTER" --pin-dir "$PIN-np" --cgroup "$CG-np" \
		--node-name np --tc-dev eth0 "${map_sizes[@]}" "$@"
}

# The cases of svcr-bench: NAME TARGET CLIENT-NS CGROUP PROTOCOLS.
peers=(
	"direct 10.77.0.11:8080 cd $BASE_CG tcp,udp"
	"direct-2 10.77.0.11:8080 cd2 $BASE_CG tcp,udp"
	"svcrouter-socket 10.96.0.10:80 cs $CG tcp,udp"
	"iptables 10.96.0.10:80 ci $BASE_CG tcp,udp"
	"nftables 10.96.0.10:80 cn $BASE_CG tcp,udp"
	"routed 10.78.0.11:8080 cx $BASE_CG tcp,udp"
	"svcrouter-packet 10.77.0.22:30080 cx $BASE_CG tcp,udp"
	"iptables-nodeport 10.77.0.23:30080 cx $BASE_CG tcp,udp"
)
((haproxy)) && peers+=("haproxy 10.77.0.12:80 ch $BASE_CG tcp")
cases_for() { # cases_for tcp|udp [PORT-OVERRIDE...]: svcr-bench's --case arguments
	local p name target ns cg protos
	for p in "${peers[@]}"; do
		read -r name target ns cg protos <<<"$p"
		[[ ,$protos, == *,$1,* ]] || continue
		printf -- '--case\n%s,%s,netns=/run/netns/%s,cgroup=%s\n' "$name" "$target" "$RUN-$ns" "$cg"
	done
}

# --- the data plane at each size -----------------------------------------------
modes=("crr crr 1" "rr rr 1" "udp-rr udp-rr 1" "crr-p4 crr 4")
data=$TMP/data.jsonl
: >"$data"
for n in $sizes; do
	t=$(now)
	bench_services "$TMP/set" "$n" "$EP" - 10.77.0.11 10.77.0.13
	bench_services "$TMP/np" "$n" "$EP" np 10.79.0.11 10.79.0.13
	bench_services "$TMP/ni" "$n" "$EP" ni 10.80.0.11 10.80.0.13
	svcr "${map_sizes[@]}" apply -f "$TMP/set.yaml" >/dev/null
	svcr_np apply -f "$TMP/np.yaml" >/dev/null
	in_ns ci iptables-nft-restore <"$TMP/set.iptables"
	in_ns ni iptables-nft-restore <"$TMP/ni.iptables"
	in_ns cn nft flush ruleset
	in_ns cn nft -f "$TMP/set.nft"
	echo "$n service(s): every peer's rules in place in $(since "$t") s" >&2
	busy=$(cpu_busy)
	((busy < 10)) || echo "warning: the CPUs were ${busy}% busy before this size's runs; expect noise" >&2
	for m in "${modes[@]}"; do
		read -r label mode parallel <<<"$m"
		proto=tcp
		[[ $mode == udp-rr ]] && proto=udp
		mapfile -t cases < <(cases_for $proto)
		echo "$n service(s), $label: $requests requests per case, $rounds rounds" >&2
		# svcr-bench moves itself between namespaces and cgroups; it starts in
		# the direct client's namespace, never the host's. nsenter, not `ip
		# netns exec`, which remounts /sys without the cgroup2 mount.
		nsenter --net="/run/netns/$RUN-cd" -- "$BENCH" "${cases[@]}" --mode "$mode" \
			--parallel "$parallel" --requests "$requests" --rounds "$rounds" --json \
			>"$TMP/run.json" 2>"$TMP/run.err" || { cat "$TMP/run.err" >&2 && fail "svcr-bench $label at $n services"; }
		sed -n '/^case /,$p' "$TMP/run.err" >&2
		jq -c --argjson n "$n" --arg run "$label" --argjson busy "$busy" \
			'{services: $n, run: $run, busy_percent_before: $busy} + .' "$TMP/run.json" >>"$data"
	done
	# The traffic took the path it claims: the measured Service's counters.
	got=$(svcr stats -o json | jq '[.services[] | select(.name == "web" and .port == 80 and .protocol == "TCP" and .scope == "cluster")][0].connections')
	[[ $got =~ ^[0-9]+$ ]] && ((got >= requests)) || fail "svcrouter's socket path counted $got connections to web at $n services"
	got=$(svcr_np stats -o json | jq '[.services[] | select(.name == "web" and .port == 30080 and .scope == "external")] | map(.connections) | add')
	[[ $got =~ ^[0-9]+$ ]] && ((got >= requests)) || fail "svcrouter's packet path counted $got flows to the NodePort at $n services"
done

# --- throughput at the first size: iperf3, interleaved, rotating --------------
iperf_peers=(
	"direct 10.77.0.11 5201 cd $BASE_CG"
	"svcrouter-socket 10.96.0.10 5201 cs $CG"
	"iptables 10.96.0.10 5201 ci $BASE_CG"
	"nftables 10.96.0.10 5201 cn $BASE_CG"
	"routed 10.78.0.11 5201 cx $BASE_CG"
	"svcrouter-packet 10.77.0.22 30201 cx $BASE_CG"
	"iptables-nodeport 10.77.0.23 30201 cx $BASE_CG"
)
# HAProxy: a second instance for iperf3, port 5201 to the backend's.
if ((haproxy)); then
	bench_haproxy hp 10.77.0.12:5201 10.77.0.11:5201
	iperf_peers+=("haproxy 10.77.0.12 5201 ch $BASE_CG")
fi
# The svcrouter node and the iptables node stay as the last size left them;
# their iperf3 NodePort (30201) leads to their own backends.
iperf=$TMP/iperf.txt
: >"$iperf"
# (--quick: one round, none left out: a check that each peer carries a stream)
iperf_rounds=$((quick ? 1 : rounds))
for streams in 1 4; do
	for ((r = 0; r < iperf_rounds; r++)); do
		for ((k = 0; k < ${#iperf_peers[@]}; k++)); do
			read -r name host port ns cg <<<"${iperf_peers[(k + r) % ${#iperf_peers[@]}]}"
			in_client_cgroup "$cg" "$ns" iperf3 -c "$host" -p "$port" -P "$streams" -t "$iperf_seconds" -J \
				>"$TMP/iperf.json" 2>"$TMP/iperf.err" || true
			bps=$(jq '.end.sum_received.bits_per_second // empty' "$TMP/iperf.json" 2>/dev/null || true)
			[[ -n $bps ]] || fail "iperf3 -P $streams to $name ($host:$port): $(jq -r '.error // empty' "$TMP/iperf.json" 2>/dev/null) $(cat "$TMP/iperf.err")"
			echo "$streams $r $name $bps" >>"$iperf"
		done
	done
	echo "iperf3, $streams stream(s): $iperf_rounds round(s) of ${iperf_seconds} s per peer" >&2
done
# Per peer and streams: the median Gbit/s and the median, min and max of the
# per-round ratio to direct.
iperf_json=$(awk -v all="$quick" 'all || $2 > 0' "$iperf" | jq -R -s -c '
	[split("\n")[] | select(length > 0) | split(" ") | {streams: (.[0] | tonumber), round: (.[1] | tonumber), name: .[2], bps: (.[3] | tonumber)}]
	| group_by(.streams) | map(
		(map(select(.name == "direct")) | map({key: (.round | tostring), value: .bps}) | from_entries) as $base
		| {streams: .[0].streams, peers: (group_by(.name) | map({
			name: .[0].name,
			gbps: (map(.bps / 1e9) | sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end),
			ratios: map(.bps / $base[.round | tostring]) | sort}
			| .ratio = (.ratios | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end)
			| .ratio_min = .ratios[0] | .ratio_max = .ratios[-1] | del(.ratios)))})')

# --- a profile of svcrouter's programs: where the time goes ----------------------
# The kernel's BPF run-time statistics over one crr and one udp-rr run of the
# two svcrouter peers beside direct (kernel.bpf_stats_enabled, put back as it
# was on exit), and perf's view of the client and the backend where perf works.
prog_ids() { # the programs of the socket path (cgroup) and of node np (TC: tcx links or filters)
	local link id
	svcr status -o json | jq -r '.datapath.programs[] | "\(.prog_id) \(.name)"'
	for link in "$PIN-np"/links/*tcx*; do
		[[ -e $link ]] || continue
		id=$(bpftool link show pinned "$link" -j | jq .prog_id)
		echo "$id $(bpftool prog show id "$id" -j | jq -r .name)"
	done
	nsenter --net="/run/netns/$RUN-np" -- bpftool net show -j | jq -r '.[0].tc[]? | "\(.id) \(.name)"'
}
prog_stats() {
	local id name
	while read -r id name; do
		bpftool prog show id "$id" -j | jq -c --arg name "$name" '{id, name: $name, run_time_ns: (.run_time_ns // 0), run_cnt: (.run_cnt // 0)}'
	done < <(prog_ids)
}
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
# (cleanup reads the exit status from $?: kept across the sysctl)
trap 'bench_rc=$?; sysctl -qw kernel.bpf_stats_enabled='"$stats_was"'; (exit $bench_rc); cleanup' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
profile_cases=$TMP/profile-cases
mapfile -t cases < <(cases_for tcp)
printf '%s\n' "${cases[@]}" | paste - - | grep -E $'\t(direct|svcrouter-socket|svcrouter-packet),' | tr '\t' '\n' >"$profile_cases"
mapfile -t cases <"$profile_cases"
prog_stats >"$TMP/stats.before"
nsenter --net="/run/netns/$RUN-cd" -- "$BENCH" "${cases[@]}" --mode crr --requests "$requests" \
	--rounds 2 --json >"$TMP/profile.json" 2>/dev/null
prog_stats >"$TMP/stats.after"
sysctl -qw "kernel.bpf_stats_enabled=$stats_was"
profile_requests=$((requests * 2))
bpf_profile=$(jq -s -c --argjson reqs "$profile_requests" '
	(.[0] | map({key: (.id | tostring), value: .}) | from_entries) as $before
	| .[1] | map(. as $a | ($before[$a.id | tostring] // {run_time_ns: 0, run_cnt: 0}) as $b
	| {name, runs: ($a.run_cnt - $b.run_cnt), ns: ($a.run_time_ns - $b.run_time_ns)}
	| .ns_per_run = (if .runs > 0 then .ns / .runs else 0 end)
	| .runs_per_request = (.runs / $reqs) | .ns_per_request = (.ns / $reqs))
	| map(select(.runs > 0))' <(jq -s . "$TMP/stats.before") <(jq -s . "$TMP/stats.after"))
perf_top="null"
if perf record -q -e cpu-clock -a -g -o "$TMP/perf.data" -- sleep 0 >/dev/null 2>&1; then
	# The svcrouter socket path's crr alone, the whole machine sampled.
	mapfile -t cases < <(printf '%s\n' "${cases[@]}" | paste - - | grep $'\tsvcrouter-socket,' | tr '\t' '\n')
	perf record -q -e cpu-clock -a -o "$TMP/perf.data" -- nsenter --net="/run/netns/$RUN-cd" -- \
		"$BENCH" "${cases[@]}" --mode crr --requests "$requests" --rounds 2 >/dev/null 2>&1 || true
	# The client's and the backend's samples (their softirq work included), not the idle loop's.
	perf_top=$(perf report -i "$TMP/perf.data" --no-children --comms svcr-bench,svcr-testsrv \
		--percentage relative --sort sym --stdio -q 2>/dev/null |
		awk '$1 ~ /%$/ && NF >= 3 { sub("%", "", $1); sym = $3; for (i = 4; i <= NF; i++) sym = sym " " $i; print $1 "\t" sym }' |
		awk 'NR <= 25' | jq -R -s -c '[split("\n")[] | select(length > 0) | split("\t") | {percent: (.[0] | tonumber), symbol: .[1]}]')
	[[ -n $perf_top ]] || perf_top="null"
fi

# --- the control plane: scripts/bench-scale.sh ---------------------------------
control=$TMP/control.json
scale_rounds=$((rounds > 5 ? 5 : rounds))
echo "control plane: scripts/bench-scale.sh --cold-sizes \"$sizes\" --sizes \"$sizes\" --rounds $scale_rounds --changes $changes" >&2
"$SRC/scripts/bench-scale.sh" --build "$SVCR_BUILD" --cold-sizes "$sizes" --sizes "$sizes" \
	--rounds "$scale_rounds" --changes "$changes" --json "$control" 2>&1 | sed 's/^/  /' >&2

# --- results ------------------------------------------------------------------------
results=$out/bench/results.json
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg command "$command_line" \
	--argjson machine "$machine" --argjson quick "$quick" \
	--arg iptables "$(iptables-nft --version)" --arg nft "$(nft --version)" \
	--arg haproxy "$( ((haproxy)) && haproxy -v | sed -n 1p || echo none)" --arg ipvs "$ipvs_note" \
	--argjson sizes "[$(tr ' ' ',' <<<"$sizes")]" --argjson rounds "$rounds" --argjson requests "$requests" \
	--argjson iperf_seconds "$iperf_seconds" --argjson iperf "$iperf_json" \
	--argjson bpf "$bpf_profile" --argjson perf "$perf_top" --argjson profile_requests "$profile_requests" \
	--slurpfile data "$data" --slurpfile control "$control" \
	'{date: $date, command: $command, quick: ($quick == 1), machine: $machine,
	  versions: {iptables: $iptables, nft: $nft, haproxy: $haproxy}, ipvs: $ipvs,
	  sizes: $sizes, rounds: ($rounds - 1), requests: $requests, endpoints_per_filler: 2,
	  data: $data, iperf: {seconds: $iperf_seconds, services: $sizes[0], runs: $iperf},
	  profile: {requests: $profile_requests, bpf: $bpf, perf_top: $perf}, control: $control[0]}' >"$results"
"$SRC/scripts/bench-report.sh" "$results" "$out"
echo "wrote $out/benchmarks.md, $results and $out/bench/*.png in $(since "$t_start") s" >&2
