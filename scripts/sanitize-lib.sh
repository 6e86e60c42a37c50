# shellcheck shell=bash
# Sourced by scripts/fuzz.sh and scripts/sanitize.sh: SRC (the sources), and
# sanitize_build DIR TARGET..., which configures DIR (once) as the sanitizer
# build, with clang, AddressSanitizer, UndefinedBehaviorSanitizer and
# libFuzzer's instrumentation (CMake's SVCR_FUZZ), and builds TARGETs there.
# One build for both scripts: the libraries are compiled once.
# Returns 77 with "SKIP: ..." when no usable clang is installed.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A clang++ whose C++23 has std::expected with this libstdc++ (clang 14's
# has not) and whose libFuzzer runtime is installed (libclang-rt-N-dev).
find_fuzz_clang() {
	local cxx probe
	probe=$(mktemp -d)
	printf '#include <expected>\n#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { std::expected<int, int> e{0}; return *e; }\n' >"$probe/p.cpp"
	for cxx in clang++-19 clang++-18 clang++-17 clang++-16 clang++; do
		command -v "$cxx" >/dev/null || continue
		if "$cxx" -std=c++23 -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>/dev/null; then
			rm -rf "$probe"
			echo "$cxx"
			return 0
		fi
	done
	rm -rf "$probe"
	return 1
}

sanitize_build() {
	local dir=$1 cxx
	shift
	"$SRC/scripts/setup-deps.sh" >/dev/null
	if [[ ! -f $dir/CMakeCache.txt ]]; then
		if ! cxx=$(find_fuzz_clang); then
			echo "SKIP: no clang++ with C++23's <expected> and libFuzzer (scripts/setup-deps.sh installs clang-19 and libclang-rt-19-dev)"
			return 77
		fi
		# C++ only: the C compiler builds nothing here (BPF has its own clang).
		# -O1 without NDEBUG: assertions stay on (nlohmann's, and libstdc++'s
		# bounds checks). Line tables only: a report names file and line, and
		# the build is shorter than with full debug information.
		cmake -S "$SRC" -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Sanitize \
			-DCMAKE_CXX_FLAGS_SANITIZE="-O1 -gline-tables-only -D_GLIBCXX_ASSERTIONS -Wno-deprecated-declarations" \
			-DSVCR_FUZZ=ON >/dev/null
	fi
	cmake --build "$dir" -j"$(nproc)" --target "$@"
}
