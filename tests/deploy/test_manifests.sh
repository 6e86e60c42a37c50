#!/usr/bin/env bash
# deploy.test_manifests: every object in deploy/*.yaml is valid for the
# Kubernetes API (validate.mjs: the API's schemas via kubernetes-models,
# unknown fields, and the server's rules the schemas lack), and svcrouter's
# DaemonSet agrees with the agent's command line (invariants.mjs). Then the
# same checkers must reject copies with one known mistake each, which shows
# they are live. Needs node and npm (the packages are installed once into the
# build directory); without them, or without the npm registry, it skips.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
node_setup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$SVCR_SRC"

validate=(node "$node_dir/validate.mjs")
invariants=(node "$node_dir/invariants.mjs")
shopt -s nullglob
manifests=(deploy/*.yaml)
((${#manifests[@]})) || fail "no deploy/*.yaml"
# The components' kustomization files too (their patches are checked once
# applied, by test_kustomize.sh).
manifests+=(deploy/*/kustomization.yaml)

echo "== the API's schemas: ${manifests[*]}"
"${validate[@]}" "${manifests[@]}"
echo "== svcrouter's invariants"
"${invariants[@]}" deploy/svcrouter.yaml deploy/svcrouter-unload.yaml

echo "== negative checks"
ds=deploy/svcrouter.yaml
expect_rejected wrong-type "$ds" 's/hostNetwork: true/hostNetwork: "yes"/' \
	"hostNetwork must be boolean" "${validate[@]}"
expect_rejected misspelt-field "$ds" 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' \
	"'\"readOnlyRootFileSystem\"' does not exist" "${validate[@]}"
expect_rejected unknown-kind "$ds" 's/^kind: DaemonSet$/kind: DeamonSet/' \
	"unknown kind apps/v1/DeamonSet" "${validate[@]}"
expect_rejected bidirectional-unprivileged "$ds" 's/mountPropagation: HostToContainer/mountPropagation: Bidirectional/' \
	"available only to privileged containers" "${validate[@]}"
expect_rejected probe-port "$ds" '0,/port: 10256/s//port: 10257/' \
	"livenessProbe probes port 10257, the health server listens on 10256" "${invariants[@]}"
expect_rejected rbac-write "$ds" 's/verbs: \[get, list, watch\]/verbs: [get, list, watch, update]/' \
	"grants update" "${invariants[@]}"
expect_rejected unload-elsewhere deploy/svcrouter-unload.yaml 's#--pin-dir=/sys/fs/bpf/svcrouter#--pin-dir=/sys/fs/bpf/other#' \
	"unloads /sys/fs/bpf/other" "${invariants[@]}" "$ds"
echo "PASS"
