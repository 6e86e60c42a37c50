#!/usr/bin/env bash
# Fuzzes the agent's parsers with libFuzzer (tests/fuzz/fuzz_*.cpp: the
# manifest reader, the kubeconfig reader, the API server's responses, the
# option and field values, the DNS responder's queries and upstream answers).
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--build-dir DIR] [TARGET...]
#
# Builds the targets with clang, libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer in DIR (default build/fuzz, shared with
# scripts/sanitize.sh), then runs each TARGET (default: all) for N seconds
# (default 60), J at a time (default 2; `all`: every target at once, as CI
# runs them), with
# inputs of up to 8 KB. Each starts from its seeds in tests/fuzz/corpus/TARGET
# and keeps the new inputs it finds in DIR/corpus/TARGET (read again at the
# next run); its log is DIR/logs/TARGET.log. A crash, a sanitizer finding, a
# leak, a failed invariant, an input slower than 10 s or over 2 GB of memory
# leaves the input in DIR/crashes/TARGET/ and makes the script fail. Replay
# one with DIR/fuzz_TARGET FILE; once fixed, copy it into
# tests/fuzz/corpus/TARGET/ so that the unit tests replay it for good.
set -euo pipefail
# shellcheck source=scripts/sanitize-lib.sh
source "$(dirname "$0")/sanitize-lib.sh"

seconds=60 jobs=2 dir=$SRC/build/fuzz
targets=()
while (($#)); do
	case $1 in
	--seconds)
		seconds=$2
		shift
		;;
	--jobs)
		jobs=$2
		shift
		;;
	--build-dir)
		dir=$2
		shift
		;;
	-h | --help)
		sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "unknown option $1 (see --help)" >&2
		exit 2
		;;
	*) targets+=("$1") ;;
	esac
	shift
done
[[ $seconds =~ ^[0-9]+$ && $jobs =~ ^([1-9][0-9]*|all)$ ]] || {
	echo "--seconds takes a number, --jobs a number or all" >&2
	exit 2
}
all=0
if ((${#targets[@]} == 0)); then
	all=1
	for f in "$SRC"/tests/fuzz/fuzz_*.cpp; do
		f=${f##*/fuzz_}
		targets+=("${f%.cpp}")
	done
fi
for t in "${targets[@]}"; do
	[[ -f $SRC/tests/fuzz/fuzz_$t.cpp ]] || {
		echo "no fuzz target $t (tests/fuzz/fuzz_$t.cpp)" >&2
		exit 2
	}
done

[[ $jobs != all ]] || jobs=${#targets[@]}
rc=0
if ((all)); then
	sanitize_build "$dir" svcr_fuzz_targets || rc=$?
else
	sanitize_build "$dir" "${targets[@]/#/fuzz_}" || rc=$?
fi
((rc == 0)) || exit "$rc"

# run TARGET: fuzzes it, and leaves libFuzzer's exit status (0: nothing
# found) in DIR/logs/TARGET.rc.
run() {
	local t=$1 rc=0
	mkdir -p "$dir/corpus/$t" "$dir/crashes/$t"
	# Inputs of at most 8 KB: enough for any structure the parsers know;
	# larger ones (the bounds' regression inputs) replay in the unit tests.
	"$dir/fuzz_$t" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/crashes/$t/" \
		"$dir/corpus/$t" "$SRC/tests/fuzz/corpus/$t" >"$dir/logs/$t.log" 2>&1 || rc=$?
	echo "$rc" >"$dir/logs/$t.rc"
}

mkdir -p "$dir/logs"
stamp=$dir/logs/started # what this run found is newer
touch "$stamp"
active=0
for t in "${targets[@]}"; do
	if ((active >= jobs)); then
		wait -n || true
		active=$((active - 1))
	fi
	echo "fuzzing $t for ${seconds}s"
	rm -f "$dir/logs/$t.rc"
	run "$t" &
	active=$((active + 1))
done
wait

# A summary from libFuzzer's final stats: runs, execs per second, edges
# covered (cov), features (ft), corpus size.
last() { grep -oE "$1" "$2" | tail -1 | cut -d' ' -f2 || true; }
failed=0
printf '%-12s %10s %8s %6s %6s %6s  %s\n' target runs exec/s cov ft corpus result
for t in "${targets[@]}"; do
	log=$dir/logs/$t.log
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(last 'cov: [0-9]+' "$log")
	ft=$(last 'ft: [0-9]+' "$log")
	corp=$(last 'corp: [0-9]+' "$log")
	status=$(cat "$dir/logs/$t.rc" 2>/dev/null || echo "no status")
	if [[ $status == 0 ]]; then
		result=ok
	else
		result="FAILED ($status): $(find "$dir/crashes/$t" -type f -newer "$stamp" | tr '\n' ' ')"
		failed=1
	fi
	printf '%-12s %10s %8s %6s %6s %6s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" \
		"${ft:-?}" "${corp:-?}" "$result"
done
if ((failed)); then
	for t in "${targets[@]}"; do
		[[ $(cat "$dir/logs/$t.rc" 2>/dev/null) == 0 ]] && continue
		echo "--- $dir/logs/$t.log (end)"
		tail -40 "$dir/logs/$t.log"
	done
	echo "FAIL: the inputs that failed are in $dir/crashes/ (listed above)" >&2
	exit 1
fi
