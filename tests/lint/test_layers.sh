#!/usr/bin/env bash
# The one-way layers of DEVELOPING.md, checked on every #include:
#
#   bpf/            -> bpf/lib, maps/layout             (nothing in C++)
#   maps/           -> maps/                            (never userspace/ or loader/)
#   maps/ without libbpf: everything but bpf_map.*, kernel_maps.* and conntrack.*
#   loader/         -> maps/, bpf/ skeletons            (never userspace/)
#   userspace/k8s   -> maps/ addr, plan, error          (never core, agent, cli)
#   userspace/core  -> maps/, userspace/k8s             (never agent, cli; no libbpf)
#   userspace/observe -> maps/, userspace/{k8s,core}    (never agent, cli; no libbpf)
#   userspace/dns   -> maps/ addr, error, userspace/k8s (never core, observe, agent, cli; no libbpf)
#   userspace/agent -> maps/, userspace/{k8s,core,observe,dns} (never cli; no libbpf)
#   userspace/cli   -> anything
#
# Each violation is printed as FILE:LINE: the include, and why it is not
# allowed; the test fails if there is any.
set -euo pipefail
cd "${SVCR_SRC:-$(dirname "$0")/../..}"

bad=0
# forbid DIR PATTERN WHY: no file under DIR may include a header matching PATTERN.
forbid() {
	local dir=$1 pattern=$2 why=$3 hits
	hits=$(grep -rnE --include='*.h' --include='*.c' --include='*.cpp' \
		"^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" $dir 2>/dev/null || true)
	if [[ -n $hits ]]; then
		printf '%s\n' "$hits" | sed "s|\$|   <- $why|"
		bad=1
	fi
}

forbid "bpf" 'userspace/|loader/|maps/[a-z_]+\.h' "BPF C includes only bpf/lib and maps/layout"
forbid "maps" 'userspace/|loader/' "maps/ is below the agent and the loader"
forbid "loader" 'userspace/' "loader/ is below the agent"
libbpf_free="maps/addr.h maps/addr.cpp maps/plan.h maps/plan.cpp maps/table.h maps/table.cpp maps/fd.h maps/fd.cpp maps/error.h maps/conntrack_gc.h maps/sock_term.h maps/layout"
forbid "$libbpf_free" 'bpf/|maps/bpf_map\.h|maps/kernel_maps\.h|maps/conntrack\.h|svcr_[a-z_]+\.skel\.h' \
	"the table's logic builds without libbpf"
forbid "userspace/k8s" 'userspace/(core|agent|cli|dns)/|loader/|bpf/|maps/(table|kernel_maps|bpf_map|fd)\.h' \
	"k8s/ is the object model and its readers: of maps/ only the vocabulary"
forbid "userspace/core" 'userspace/(agent|cli|dns)/|loader/|bpf/|maps/bpf_map\.h|maps/kernel_maps\.h|maps/conntrack\.h' \
	"core/ is pure: desired state, planner, reconciler"
forbid "userspace/observe" 'userspace/(agent|cli|dns)/|loader/|bpf/|maps/bpf_map\.h|maps/kernel_maps\.h|maps/conntrack\.h' \
	"observe/ reports what the agent tells it and reads the table through maps::Table"
forbid "userspace/dns" 'userspace/(core|observe|agent|cli)/|loader/|bpf/|maps/(table|plan|kernel_maps|bpf_map|conntrack|conntrack_gc|sock_term|fd)\.h' \
	"dns/ answers from Kubernetes objects: of maps/ only the vocabulary, no table, no kernel"
forbid "userspace/agent" 'userspace/cli/|loader/|bpf/|maps/bpf_map\.h|maps/kernel_maps\.h|maps/conntrack\.h' \
	"the agent knows the kernel only through maps::Table, maps::ConntrackGc and maps::SockTerm"

if ((bad)); then
	echo "FAIL: includes against the layers (DEVELOPING.md, Layers)" >&2
	exit 1
fi
echo "ok: every include points down the layers"
