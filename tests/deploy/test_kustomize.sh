#!/usr/bin/env bash
# deploy.test_kustomize: what `kubectl apply -k deploy/` would send, as is and
# with each component (coexist: beside kube-proxy; hybrid-cgroup), rendered by
# kubectl's built-in kustomize (no cluster involved) and checked like
# deploy/*.yaml: a patch must leave valid objects that still agree with the
# agent's arguments (probes that follow the moved health port, no port of
# kube-proxy's when beside it, the cgroup volume where the component says).
# Skips without kubectl, node or npm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v kubectl >/dev/null || skip "no kubectl, whose built-in kustomize renders deploy/kustomization.yaml"
node_setup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
validate=(node "$node_dir/validate.mjs")
invariants=(node "$node_dir/invariants.mjs")

# render NAME [COMPONENT...]: deploy/ with those components, into $tmp/NAME.yaml.
# An overlay cannot live inside the directory it uses (kustomize refuses the
# cycle) and its paths must be relative: a throwaway one beside it.
render() {
	local name=$1 rel c
	shift
	mkdir "$tmp/$name"
	rel=$(realpath --relative-to="$tmp/$name" "$SVCR_SRC/deploy")
	{
		echo "resources: [$rel]"
		echo "components:"
		for c in "$@"; do echo "  - $rel/$c"; done
		(($#)) || echo "  []"
	} >"$tmp/$name/kustomization.yaml"
	kubectl kustomize "$tmp/$name" >"$tmp/$name.yaml"
}

echo "== deploy/ as is"
render base
"${validate[@]}" "$tmp/base.yaml"
"${invariants[@]}" "$tmp/base.yaml"

echo "== with coexist"
render coexist coexist
"${validate[@]}" "$tmp/coexist.yaml"
"${invariants[@]}" --beside-kube-proxy "$tmp/coexist.yaml"
# The check is live: the base keeps kube-proxy's ports.
if "${invariants[@]}" --beside-kube-proxy "$tmp/base.yaml" >"$tmp/out" 2>&1; then
	cat "$tmp/out"
	fail "--beside-kube-proxy accepted kube-proxy's own ports"
fi
echo "rejected as expected (the base beside kube-proxy): $(head -1 "$tmp/out")"

echo "== with hybrid-cgroup and coexist"
render hybrid hybrid-cgroup coexist
"${validate[@]}" "$tmp/hybrid.yaml"
"${invariants[@]}" --beside-kube-proxy "$tmp/hybrid.yaml"
grep -q 'path: /sys/fs/cgroup/unified$' "$tmp/hybrid.yaml" || fail "hybrid-cgroup did not move the cgroup volume to /sys/fs/cgroup/unified"
grep -q 'path: /sys/fs/bpf$' "$tmp/hybrid.yaml" || fail "hybrid-cgroup lost the bpffs volume"
echo "PASS"
