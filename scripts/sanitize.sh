#!/usr/bin/env bash
# Runs the unit tests (ctest -L unit: the gtest binaries, the replay of the
# fuzz corpora, lint) built with AddressSanitizer and
# UndefinedBehaviorSanitizer, any finding fatal.
#
#   scripts/sanitize.sh [--build-dir DIR] [--build-only] [CTEST ARGUMENTS...]
#
# Builds only what those tests run (no BPF objects) with clang in DIR
# (default build/fuzz, shared with scripts/fuzz.sh: its libFuzzer
# instrumentation is inert here), then runs them two at a time. With
# --build-only, builds the fuzz targets too, and runs nothing (ctest's
# sanitize.build: one build of both, the cores kept busy).
set -euo pipefail
# shellcheck source=scripts/sanitize-lib.sh
source "$(dirname "$0")/sanitize-lib.sh"

dir=$SRC/build/fuzz
only_build=0
while (($#)); do
	case $1 in
	--build-dir)
		dir=$2
		shift 2
		;;
	--build-only)
		only_build=1
		shift
		;;
	*) break ;;
	esac
done
rc=0
if ((only_build)); then
	sanitize_build "$dir" svcr_unit_tests svcr_fuzz_targets || rc=$?
	exit "$rc"
fi
sanitize_build "$dir" svcr_unit_tests || rc=$?
((rc == 0)) || exit "$rc"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
cd "$dir"
ctest -L unit -j2 --output-on-failure "$@"
