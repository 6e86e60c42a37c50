#!/usr/bin/env bash
# deploy.test_image: deploy/Dockerfile's image has every shared library the
# binary needs.
#  1. Always (on a Debian 12 host): every library `ldd $SVCR_BUILD/svcrouter`
#     reports comes from a package (dpkg -S) that installing
#     deploy/runtime-packages.txt installs (listed, or a dependency of one),
#     and every listed package exists in Debian 12 (apt-cache policy has a
#     candidate). A library added to the build but not to the
#     image is caught here without building the image.
#  2. With a working container builder (docker, podman or buildah): builds the
#     image, and runs ldd and `svcrouter --help` inside it. Without one it
#     skips (exit 77) once (1) has passed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bin=$SVCR_BUILD/svcrouter
list=$SVCR_SRC/deploy/runtime-packages.txt
[[ -x $bin ]] || fail "$bin is not built"
static=""
. /etc/os-release 2>/dev/null || true
if [[ ${ID:-} != debian || ${VERSION_ID:-} != 12 ]]; then
	static="this host is ${PRETTY_NAME:-not Debian 12}, so its packages say nothing about Debian 12's"
elif ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
	static="apt has no package lists (run apt-get update)"
fi

# needed: the packages of the libraries svcrouter links here, by ldd and
# dpkg -S. dpkg records the path a package shipped, which on a merged-/usr
# system may be the /lib or the /usr/lib spelling of what ldd printed, or
# the target of its symlink: each library is looked up under all of them, in
# one dpkg call (each call reads dpkg's whole database).
needed=()
library_packages() {
	local ldd_out lib real c line pkg found
	local -a libs=() paths=()
	local -A owner=()
	echo "== libraries of $bin, by package"
	ldd_out=$(ldd "$bin")
	if grep -q 'not found' <<<"$ldd_out"; then
		echo "$ldd_out"
		fail "$bin has unresolved libraries here"
	fi
	# "name => /path (addr)", or "/path (addr)" for the loader; the vDSO has
	# no file.
	mapfile -t libs < <(awk '$2 == "=>" { print $3; next } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
	for lib in "${libs[@]}"; do
		real=$(readlink -f "$lib")
		paths+=("$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}")
	done
	# "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"; diversions list several
	# packages, comma-separated: the first is the owner.
	while IFS= read -r line; do
		[[ $line != diversion* ]] || continue
		pkg=${line%%: /*}
		pkg=${pkg%%, *}
		owner[${line##*: }]=${pkg%%:*}
	done < <(dpkg -S "${paths[@]}" 2>/dev/null || true)
	for lib in "${libs[@]}"; do
		real=$(readlink -f "$lib") found=""
		for c in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do
			[[ -n ${owner[$c]:-} ]] && { found=${owner[$c]}; break; }
		done
		[[ -n $found ]] || fail "$lib (linked by svcrouter) belongs to no Debian package: the image cannot install it"
		printf '  %-45s %s\n' "$lib" "$found"
		needed+=("$found")
	done
}

# check_list LIST: every needed package is installed by
# `apt-get install --no-install-recommends LIST` (is in LIST or among its
# dependencies, which apt-cache depends --recurse lists), and every package
# in LIST exists in Debian 12. Exits the (sub)shell with fail() on a problem.
check_list() {
	local list=$1 pkg candidate listed=() missing=() installed
	local -A versions=()
	mapfile -t listed < <(sed 's/#.*//' "$list" | tr -s ' \t' '\n' | sed '/^$/d')
	((${#listed[@]})) || fail "$list lists no package"
	installed=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances "${listed[@]}" 2>/dev/null | grep -v '^[ <]' | sort -u || true)
	for pkg in $(printf '%s\n' "${needed[@]}" | sort -u); do
		grep -qxF "$pkg" <<<"$installed" || missing+=("$pkg")
	done
	((${#missing[@]} == 0)) || fail "$list lacks ${missing[*]}: the image would not start"
	echo "== $list in Debian 12"
	# One apt-cache call (each reads all package lists): "PKG:" starts a
	# package's block, "  Candidate: VERSION" is in it; an unknown package
	# has no block.
	while read -r pkg candidate; do
		versions[$pkg]=$candidate
	done < <(apt-cache policy "${listed[@]}" 2>/dev/null |
		awk '/^[^ ]/ { pkg = $1; sub(/:$/, "", pkg) } $1 == "Candidate:" { print pkg, $2 }')
	for pkg in "${listed[@]}"; do
		candidate=${versions[$pkg]:-}
		[[ -n $candidate && $candidate != "(none)" ]] || fail "$pkg ($list) is not in Debian 12's archive"
		printf '  %-30s %s%s\n' "$pkg" "$candidate" \
			"$(printf '%s\n' "${needed[@]}" | grep -qxF "$pkg" || echo '   (not linked yet: listed ahead)')"
	done
}

if [[ -z $static ]]; then
	library_packages
	check_list "$list"
	echo "static check passed"
	# And it is live: it must refuse the list without libbpf1, and with a
	# package Debian 12 does not have.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	grep -vx 'libbpf1' "$list" >"$tmp/no-libbpf.txt"
	! cmp -s "$list" "$tmp/no-libbpf.txt" || fail "negative check: libbpf1 is not in $list; update the check"
	if out=$(check_list "$tmp/no-libbpf.txt" 2>&1); then fail "negative check: a list without libbpf1 passed"; fi
	grep -q 'lacks libbpf1' <<<"$out" || { echo "$out"; fail "negative check: rejected, but not for the missing libbpf1"; }
	echo "rejected as expected (list without libbpf1): $(grep -m1 'lacks' <<<"$out")"
	{ cat "$list"; echo libsvcrouter-no-such-package1; } >"$tmp/extra.txt"
	if out=$(check_list "$tmp/extra.txt" 2>&1); then fail "negative check: a package not in Debian passed"; fi
	grep -q 'libsvcrouter-no-such-package1 .* is not in Debian 12' <<<"$out" || { echo "$out"; fail "negative check: rejected, but not for the unknown package"; }
	echo "rejected as expected (unknown package): $(grep -m1 'is not in Debian' <<<"$out")"
	rm -rf "$tmp"
	trap - EXIT
else
	echo "static check not run: $static"
fi

# A builder that can build here, or why none can.
builder="" why=()
for tool in docker podman buildah; do
	if ! command -v "$tool" >/dev/null; then
		why+=("no $tool")
	elif msg=$("$tool" info 2>&1); then
		builder=$tool
		break
	else
		# docker info prints its client's details before the server's error.
		why+=("$tool info: $(grep -m1 -iE 'error|cannot|denied|permission' <<<"$msg" || tail -n1 <<<"$msg")")
	fi
done
if [[ -z $builder ]]; then
	reason=$(IFS=';'; echo "${why[*]}")
	reason="no container builder (${reason//;/; })"
	[[ -z $static ]] || reason+="; and the static check could not run: $static"
	skip "$reason"
fi

echo "== building the image with $builder"
tag=localhost/svcrouter-test:$$
log=$(mktemp)
cleanup() {
	[[ -z ${ctr:-} ]] || buildah rm "$ctr" >/dev/null 2>&1 || true
	"$builder" rmi -f "$tag" >/dev/null 2>&1 || true
	rm -f "$log"
}
trap cleanup EXIT
build=(build)
[[ $builder == buildah ]] && build=(bud)
if ! "$builder" "${build[@]}" -f "$SVCR_SRC/deploy/Dockerfile" -t "$tag" "$SVCR_SRC" >"$log" 2>&1; then
	tail -n 60 "$log"
	fail "$builder could not build deploy/Dockerfile"
fi
# In the image: every library resolves, and the binary runs.
if [[ $builder == buildah ]]; then
	ctr=$(buildah from "$tag")
	in_image() { buildah run "$ctr" -- "$@"; }
else
	in_image() { "$builder" run --rm --entrypoint "$1" "$tag" "${@:2}"; }
fi
image_ldd=$(in_image ldd /usr/local/bin/svcrouter 2>&1) || { echo "$image_ldd"; fail "ldd failed in the image"; }
if grep -q 'not found' <<<"$image_ldd"; then
	echo "$image_ldd"
	fail "the image lacks a library of svcrouter"
fi
in_image /usr/local/bin/svcrouter --help >/dev/null || fail "svcrouter --help failed in the image"
echo "PASS: the image builds, and svcrouter runs in it"
