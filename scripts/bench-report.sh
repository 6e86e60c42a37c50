#!/usr/bin/env bash
# The page and the plots of scripts/bench.sh's results, made again from its JSON:
#
#   scripts/bench-report.sh RESULTS.json OUT-DIR
#
# Writes OUT-DIR/benchmarks.md and, with gnuplot, OUT-DIR/bench/crr-vs-services.png
# (the connection rate's ratio to direct against the number of Services, log x),
# latency.png (percentiles of crr and rr at the first size), control-plane.png
# (load from cold and one change against the number of Services, log-log).
# Every figure comes from the JSON; nothing is measured here. Notes (.notes[], say what
# happened on the machine during a run) are printed under the run's description.
set -euo pipefail
[[ $# == 2 && -f $1 ]] || { echo "usage: $0 RESULTS.json OUT-DIR" >&2 && exit 2; }
results=$(realpath "$1")
out=$(realpath -m "$2")
mkdir -p "$out/bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q() { jq -r "$@" "$results"; }
# q with f2, a number with two decimals (non-negative): q2 [JQ-OPTIONS...] PROGRAM
F2='def f2: . * 100 | round | tostring | ("00" + .)[-(if length < 3 then 3 else length end):] | .[:-2] + "." + .[-2:];'
q2() {
	local prog=${*: -1}
	jq -r "${@:1:$#-1}" "$F2 $prog" "$results"
}

# ---- plots ---------------------------------------------------------------------------
peers=$(q '[.data[] | select(.run == "crr") | .cases[].name] | unique | .[]')
plot_lines() { # plot_lines FILE-PREFIX COLUMNS: one gnuplot "plot" clause per peer file
	local p sep=""
	for p in $peers; do
		[[ -s $tmp/$1-$p.dat ]] || continue
		printf '%s"%s" using %s with linespoints title "%s"' "$sep" "$tmp/$1-$p.dat" "$2" "$p"
		sep=", "
	done
}
for p in $peers; do
	q --arg p "$p" '.data[] | select(.run == "crr") | .services as $n | .cases[] | select(.name == $p)
		| "\($n) \(.ratio_vs_baseline) \(.ratio_min) \(.ratio_max)"' >"$tmp/crr-$p.dat"
	first=$(q '.sizes[0]')
	for run in crr rr; do
		q --arg p "$p" --arg run "$run" --argjson n "$first" '.data[] | select(.run == $run and .services == $n)
			| .cases[] | select(.name == $p) | .latency_us | "0 \(.p50)\n1 \(.p90)\n2 \(.p99)\n3 \(.p999)"' >"$tmp/lat-$run-$p.dat"
	done
done
q '.control.one_change[]? | select(.publish_p99_s != null) | "\(.services) \(.publish_p99_s)"' >"$tmp/agent.dat"
q '.control.cold[]? | "\(.services) \(.svcrouter_s) \(.iptables_restore_s) \(.nft_s) \(.change.svcrouter_s) \(.change.iptables_s) \(.change.nft_s) \(.map_work_ms / 1000) \(.change.svcrouter_map_ms / 1000)"' >"$tmp/control.dat"
{
	echo 'set terminal pngcairo size 900,560 font ",10"'
	echo 'set grid; set key outside right'
	echo "set output '$out/bench/crr-vs-services.png'"
	echo 'set logscale x; set xlabel "Services installed (the measured one last)"'
	echo 'set ylabel "new connections/s, ratio to direct (median of rounds)"; set yrange [0:*]'
	echo 'set title "Connection rate (crr) against the number of Services"'
	echo "plot $(plot_lines crr 1:2)"
	echo 'unset logscale; set output'
	echo "set output '$out/bench/latency.png'"
	echo 'set terminal pngcairo size 1100,480 font ",10"'
	echo 'set multiplot layout 1,2; set logscale y; set yrange [*:*]'
	echo 'set xtics ("p50" 0, "p90" 1, "p99" 2, "p99.9" 3); set xrange [-0.2:3.2]; set xlabel "percentile"'
	echo 'set ylabel "latency, us (log)"; set key top left inside'
	echo "set title 'New connection per request (crr), $(q '.sizes[0]') Service(s)'"
	echo "plot $(plot_lines lat-crr 1:2)"
	echo "set title 'Request/response on a kept connection (rr), $(q '.sizes[0]') Service(s)'"
	echo "plot $(plot_lines lat-rr 1:2)"
	echo 'unset multiplot; set output'
	if [[ -s $tmp/control.dat ]]; then
		echo "set output '$out/bench/control-plane.png'"
		echo 'set multiplot layout 1,2; set logscale xy; set xtics auto; set xrange [*:*]; set key top left inside'
		echo 'set xlabel "Services (x 10 endpoints)"; set ylabel "seconds (log)"'
		echo 'set title "Load the whole set from cold"'
		echo "plot '$tmp/control.dat' using 1:2 with linespoints title 'svcrouter apply', '' using 1:8 with linespoints title 'svcrouter map work', '' using 1:3 with linespoints title 'iptables-restore', '' using 1:4 with linespoints title 'nft -f'"
		echo 'set title "Change one Service"'
		echo "plot '$tmp/control.dat' using 1:5 with linespoints title 'svcrouter apply', '' using 1:9 with linespoints title 'svcrouter map work', '' using 1:6 with linespoints title 'iptables-restore --noflush', '' using 1:7 with linespoints title 'nft -f'$([[ -s $tmp/agent.dat ]] && echo ", '$tmp/agent.dat' using 1:2 with linespoints title 'svcrouter agent, p99 (5 endpoints)'")"
		echo 'unset multiplot; set output'
	fi
} >"$tmp/plots.gp"
gnuplot "$tmp/plots.gp"

# ---- the page ----------------------------------------------------------------------------
x() { awk -v v="$1" 'BEGIN { if (v == "" || v == "null") print "-"; else printf "%.2fx", v }'; }
ratio_cell() { # ratio_cell RUN SIZE PEER: "0.99x (0.95-1.02)"
	q2 --arg run "$1" --argjson n "$2" --arg p "$3" '.data[] | select(.run == $run and .services == $n)
		| .cases[] | select(.name == $p) | "\(.ratio_vs_baseline) \(.ratio_min) \(.ratio_max)"' |
		awk 'NF == 3 { printf "%.2fx (%.2f-%.2f)", $1, $2, $3 } NF != 3 { printf "-" }'
}
sizes=$(q2 '.sizes[]')
page=$out/benchmarks.md
{
	echo "# Benchmarks"
	echo
	echo "Made by \`sudo $(q2 .command)\` on $(q2 .date) ($(q2 'if .quick then "quick mode: a check that it runs, not a measurement" else "a full run" end'))."
	echo "The figures, every round of them, are in [bench/results.json](bench/results.json);"
	echo "[bench/README.md](../bench/README.md) says what each one is and how it is measured."
	echo
	echo "Machine: $(q2 '.machine | "\(.os), kernel \(.kernel), \(.cpus) x \(.cpu), \(.memory_gib) GiB; CPUs \(if .busy_percent_before then "\(.busy_percent_before)% busy in the second before the run" else "\(.busy_percent_after)% busy in the second after it" end)"')."
	echo "Peers: $(q2 '.versions | "\(.iptables), \(.nft), \(.haproxy)"'). $(q2 .ipvs)."
	echo "Every case of a table ran in one svcr-bench process, interleaved round by round in"
	echo "rotating order; $(q2 .rounds) rounds after a warm-up, $(q2 .requests) requests per case per round;"
	echo "each figure is the median over rounds, a ratio is the median of the per-round ratios"
	echo "to direct (min-max beside it). direct-2 is direct again: its distance from 1.00x is"
	echo "the noise. Filler Services have $(q2 .endpoints_per_filler) endpoints each; the measured one is last in"
	echo "every linear list (kube-proxy's worst case)."
	echo
	q2 '.notes[]? | "Note: \(.)\n"'
	echo "## Headline: new connections per second, ratio to direct"
	echo
	cols=(direct-2 svcrouter-socket svcrouter-packet iptables nftables iptables-nodeport haproxy routed)
	printf '| Services |'
	for c in "${cols[@]}"; do printf ' %s |' "$c"; done
	echo ' CPUs busy before |'
	printf '| ---: |'
	for c in "${cols[@]}"; do printf ' ---: |'; done
	echo ' ---: |'
	for n in $sizes; do
		printf '| %s |' "$n"
		for c in "${cols[@]}"; do printf ' %s |' "$(ratio_cell crr "$n" "$c")"; done
		echo " $(q --argjson n "$n" '[.data[] | select(.services == $n) | .busy_percent_before // empty][0] // "-" | if type == "number" then "\(.)%" else . end') |"
	done
	echo
	echo "(CPUs busy before: how busy the machine was, in the second before the size's runs,"
	echo "with whatever else ran on it; above 10 % expect a wide spread.)"
	echo
	echo "The packet path's peers (svcrouter-packet, iptables-nodeport, routed) run from a client"
	echo "outside the node, one hop further than direct; their ratio to routed (plain routing"
	echo "through a node) is in the tables below."
	echo
	echo "![connection rate against the number of Services](bench/crr-vs-services.png)"
	echo
	echo "## Targets"
	echo
	echo "| target | measured | |"
	echo "| --- | --- | --- |"
	q2 '[.data[] | select(.run == "crr") | {n: .services, r: (.cases[] | select(.name == "svcrouter-socket") | .ratio_vs_baseline)}]
		| "| socket path >= 0.97x direct (crr) at every size | \(map("\(.r | f2)x at \(.n)") | join(", ")) | \(if all(.r >= 0.97) then "met" else "missed" end) |"'
	q2 '.sizes[0] as $n | .data[] | select(.run == "crr" and .services == $n)
		| (.cases | map({key: .name, value: .ratio_vs_baseline}) | from_entries) as $r
		| "| packet path >= 0.90x direct, and ahead of iptables, at \($n) Service(s) | \($r["svcrouter-packet"] | f2)x direct, iptables-nodeport \($r["iptables-nodeport"] | f2)x, routed \($r.routed | f2)x | \(if $r["svcrouter-packet"] >= 0.90 and $r["svcrouter-packet"] > $r["iptables-nodeport"] then "met" else "missed" end) |"'
	q2 '[.data[] | select(.run == "rr") | {n: .services, r: (.cases[] | select(.name == "svcrouter-socket") | .p50_ratio_vs_baseline)}]
		| "| rr p50 latency within 1% of direct on the socket path | \(map("\(.r * 1000 | round / 1000)x at \(.n)") | join(", ")) | \(if all(.r <= 1.01) then "met" else "missed" end) |"'
	q2 '.control.cold[]? | select(.services == 10000) | "| 10k Services x \(.endpoints) from cold: <= 0.25 s of map work | \(.map_work_ms) ms (the whole apply \(.svcrouter_s) s) | \(if .map_work_ms <= 250 then "met" else "missed" end) |"'
	q2 '[.control.one_change[]? | select(.publish_p99_s != null)] | select(length > 0)
		| "| one change <= 1 ms p99 (the agent, sync start to the flip) | \(map("<= \(.publish_p99_s * 1000) ms at \(.services)") | join(", ")) | \(if all(.publish_p99_s <= 0.001) then "met" else "missed" end) |"'
	echo
	for run in crr rr udp-rr crr-p4; do
		case $run in
		crr) what="New connection per request (crr: connect, one line and its reply, close with RST), one client" ;;
		rr) what="Request/response on a kept TCP connection (rr), one client" ;;
		udp-rr) what="UDP request/response on a connected socket (udp-rr), one client" ;;
		crr-p4) what="New connection per request from 4 parallel clients (crr-p4)" ;;
		esac
		echo "## $what"
		echo
		for n in $sizes; do
			echo "$n Service(s):"
			echo
			echo "| peer | requests/s | p50 us | p90 us | p99 us | p99.9 us | CPU us/request | ratio to direct | ratio to routed |"
			echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
			q2 --arg run "$run" --argjson n "$n" '.data[] | select(.run == $run and .services == $n)
				| (.cases | map({key: .name, value: .per_round}) | from_entries) as $rounds
				| .cases[] | . as $c
				| (if $rounds.routed and (.name | test("packet|nodeport|routed")) then
					[range(0; .per_round | length) | $c.per_round[.].ratio / $rounds.routed[.].ratio] | sort
					| if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end
					| "\(. | f2)x" else "" end) as $routed
				| "| \(.name) | \(.rate_per_s | round) | \(.latency_us.p50 | round) | \(.latency_us.p90 | round) | \(.latency_us.p99 | round) | \(.latency_us.p999 | round) | \(.cpu_us_per_request) | \(.ratio_vs_baseline | f2)x (\(.ratio_min | f2)-\(.ratio_max | f2)) | \($routed) |"'
			echo
		done
	done
	echo "![latency percentiles](bench/latency.png)"
	echo
	echo "CPU us/request is the busy time of all CPUs over a case (/proc/stat: client, backend,"
	echo "proxy and kernel, everything on this machine) divided by its requests."
	echo
	echo "## Throughput: iperf3 at $(q2 .iperf.services) Service(s), $(q2 .iperf.seconds) s per peer per round"
	echo
	echo "| peer | 1 stream Gbit/s | ratio to direct | 4 streams Gbit/s | ratio to direct |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	q2 '(.iperf.runs | map({key: (.streams | tostring), value: (.peers | map({key: .name, value: .}) | from_entries)}) | from_entries) as $r
		| ($r["1"] | keys[]) as $p
		| "| \($p) | \($r["1"][$p].gbps | f2) | \($r["1"][$p].ratio | f2)x (\($r["1"][$p].ratio_min | f2)-\($r["1"][$p].ratio_max | f2)) | \($r["4"][$p].gbps | f2) | \($r["4"][$p].ratio | f2)x (\($r["4"][$p].ratio_min | f2)-\($r["4"][$p].ratio_max | f2)) |"'
	echo
	echo "## Control plane"
	echo
	echo "From cold (a fresh pin directory, a fresh namespace), median of $(q2 '.control.rounds // "-"') rounds: the whole"
	echo "set, then one change of it (the first Service's first endpoint). svcrouter's \"map"
	echo "work\" is the plan's map operations, from \`apply -v\`; \`apply\` also reads the whole"
	echo "file and loads the programs. iptables: kube-proxy's partial sync (\`iptables-restore"
	echo "--noflush\`, its top-level chains written whole); nft: kube-proxy's transaction."
	echo
	echo "| Services x endpoints | svcrouter apply s | its map work ms | iptables-restore s | nft -f s | one change: svcrouter apply s | its map work ms | iptables s | nft s |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	q2 '.control.cold[]? | "| \(.services) x \(.endpoints) | \(.svcrouter_s) | \(.map_work_ms) | \(.iptables_restore_s) | \(.nft_s) | \(.change.svcrouter_s) | \(.change.svcrouter_map_ms) | \(.change.iptables_s) | \(.change.nft_s) |"'
	echo
	echo "The agent (\`run --kubernetes\` against svcr-apiserver, Services of 5 endpoints), one"
	echo "endpoint change at a time: from the start of its sync to the flip in the kernel"
	echo "(\`svcrouter_sync_publish_duration_seconds\`; bounds of histogram buckets), map memory"
	echo "(\`status -o json\`) and RSS:"
	echo
	echo "| Services | synced from start, s | one change p50 | p99 | map bytes per Service entry | per backend | agent RSS MiB |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	q2 '.control.one_change[]? | "| \(.services) | \(.sync_s) | <= \(if .publish_p50_s then .publish_p50_s * 1e6 | round else "-" end) us | <= \(if .publish_p99_s then .publish_p99_s * 1e6 | round else "-" end) us | \(.memory.bytes_per_service_entry) | \(.memory.bytes_per_backend) | \(.rss_mib) |"'
	echo
	q2 '.control.marginal_memory | select(. != null) | "Map memory at the margin (from \(.from) to \(.to) Services: the preallocated part cancels out): \(.bytes_per_service_entry) bytes per Service entry, \(.bytes_per_backend) per backend. The columns above divide the maps'"'"' whole size (most of it preallocated) by what they hold."'
	echo
	echo "![control plane](bench/control-plane.png)"
	echo
	echo "## Where the time goes: a profile"
	echo
	echo "The kernel's BPF run-time statistics (\`kernel.bpf_stats_enabled\`, \`bpftool prog show\`)"
	echo "over $(q2 .profile.requests) crr requests to each of direct, svcrouter-socket and svcrouter-packet"
	echo "at the last size; a request of svcrouter-packet is several packets through its node's"
	echo "TC programs:"
	echo
	echo "| program | runs per request | ns per run | ns per request |"
	echo "| --- | ---: | ---: | ---: |"
	q2 '.profile.bpf[]? | "| \(.name) | \(.runs_per_request | f2) | \(.ns_per_run | round) | \(.ns_per_request | round) |"'
	echo
	if [[ $(q2 '.profile.perf_top | length') != 0 ]]; then
		echo "perf (\`perf record -e cpu-clock -a\`) during svcrouter-socket's crr alone: the symbols"
		echo "above 1 % of the samples of the client (svcr-bench) and the backend (svcr-testsrv),"
		echo "kernel work done for them included:"
		echo
		echo "| % | symbol |"
		echo "| ---: | --- |"
		q2 '.profile.perf_top[] | select(.percent >= 1) | "| \(.percent) | `\(.symbol)` |"'
	else
		echo "perf did not run here (not installed, or no permission to sample the machine)."
	fi
} >"$page"
echo "wrote $page and $out/bench/*.png" >&2
