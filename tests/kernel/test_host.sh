#!/usr/bin/env bash
# The kernel-matrix checks (checks.sh) on the host's own kernel.
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (network namespaces, cgroups, BPF)"; exit 77; }
command -v busybox >/dev/null || { echo "SKIP: needs busybox (scripts/setup-deps.sh installs it)"; exit 77; }
echo "kernel: $(uname -r)"
exec sh "$(dirname "$0")/checks.sh" "${SVCR_BUILD:?}"
