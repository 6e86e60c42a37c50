#!/usr/bin/env bash
# `svcrouter run --config` on a Kubernetes ConfigMap volume: kubelet updates
# it by swapping the `..data` symlink to a new directory, without any event
# on the file's own name. The agent follows the change at once.
source "$(dirname "$0")/lib.sh"
require_env curl jq
make_topology c1:2 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080
vol=$TMP/configmap
mkdir -p "$vol/v1" "$vol/v2"
{ service web 10.96.0.10 80 && slice web-x web 8080 -- 10.77.0.11; } >"$vol/v1/services.yaml"
{ service web 10.96.0.10 80 && slice web-x web 8080 -- 10.77.0.11 10.77.0.12; } >"$vol/v2/services.yaml"
ln -s v1 "$vol/..data"
ln -s ..data/services.yaml "$vol/services.yaml"

svcr_bg "$TMP/agent" run --config "$vol/services.yaml"
agent=$BG_PID
wait_until --log "$TMP/agent" 5 "the agent to follow its file" grep -q following "$TMP/agent"
assert_eq "before the update" "pod1 pod1" "$(requests c1 2 10.96.0.10 | xargs)"

# kubelet's AtomicWriter: a new symlink, renamed over ..data.
ln -s v2 "$vol/..data_tmp"
mv -T "$vol/..data_tmp" "$vol/..data"
backends() { [[ $(svcr list -o json | jq '.services[0].backends | length') == "$1" ]]; }
wait_until 5 "the agent to apply the new file (2 backends)" backends 2
mapfile -t seq < <(requests c1 4 10.96.0.10)
assert_round_robin 2 "${seq[@]}"
pass "..data swapped: the agent applied the new file (${seq[*]})"
kill "$agent"
timeout 10 tail --pid="$agent" -f /dev/null || fail "agent did not stop on SIGTERM"
