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
