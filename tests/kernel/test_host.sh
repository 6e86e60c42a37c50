#!/usr/bin/env bash
# The kernel-matrix checks (checks.sh) on the host's own kernel, the packet
# path with tcx where the kernel has it (6.6 and later).
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (network namespaces, cgroups, BPF)"; exit 77; }
command -v busybox >/dev/null || { echo "SKIP: needs busybox (scripts/setup-deps.sh installs it)"; exit 77; }
command -v tc >/dev/null || { echo "SKIP: needs tc (iproute2)"; exit 77; }
# tcx came with 6.6: from there the packet path must attach with it (a check
# of the probe from outside), before it with clsact.
IFS=. read -r major minor _ <<<"$(uname -r)"
if ((major > 6 || (major == 6 && minor >= 6))); then export TC_MODE=tcx; else export TC_MODE=clsact; fi
# bpf_sock_destroy came with 6.5: from there it closes UDP sockets.
if ((major > 6 || (major == 6 && minor >= 5))); then export SOCK_TERM=bpf_sock_destroy; else export SOCK_TERM=sock_diag; fi
echo "kernel: $(uname -r) (the packet path: $TC_MODE; UDP sockets closed with $SOCK_TERM)"
exec sh "$(dirname "$0")/checks.sh" "${SVCR_BUILD:?}"
