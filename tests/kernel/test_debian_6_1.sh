#!/usr/bin/env bash
# The kernel-matrix checks (checks.sh) inside a VM booted with Debian 12's
# stock kernel (package linux-image-amd64, 6.1), under qemu software
# emulation, with a busybox initramfs carrying svcrouter, its test tools
# (svcr-probe, svcr-testsrv), ip, tc, curl and bpftool. 6.1 has no tcx: the
# packet path must attach as cls_bpf filters on a clsact qdisc; no
# bpf_sock_destroy either: UDP sockets must be closed through sock_diag.
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (to install qemu and the kernel package)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
build=${SVCR_BUILD:?}
guest=$(mktemp /tmp/svcr-guest.XXXXXX)
trap 'rm -f "$guest"' EXIT
# busybox's own ip applet has no netns: name the real one.
cat >"$guest" <<SCRIPT
PATH=$(dirname "$(readlink -f "$(command -v bpftool)")"):\$PATH IP=$(readlink -f "$(command -v ip)") TC=$(readlink -f "$(command -v tc)") CURL=$(readlink -f "$(command -v curl)") BUSYBOX=/bin/busybox TC_MODE=clsact SOCK_TERM=sock_diag sh $here/checks.sh $build
SCRIPT
out=$(bash "$here/run-on-kernel.sh" -k "${SVCR_KERNEL_PACKAGE:-linux-image-amd64}" -t 600 \
	-f "$build/svcrouter" -f "$build/tests/svcr-probe" -f "$build/tests/svcr-testsrv" -f "$here/checks.sh" \
	-f "$(command -v ip)" -f "$(command -v tc)" -f "$(command -v curl)" -f "$(command -v bpftool)" "$guest") || rc=$?
echo "$out"
grep -q '^GUEST-KERNEL 6\.1\.' <<<"$out" || { echo "FAIL: the guest did not run a 6.1 kernel" >&2; exit 1; }
exit "${rc:-0}"
