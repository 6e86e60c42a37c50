#!/usr/bin/env bash
# e2e "should implement service.kubernetes.io/service-proxy-name" and
# "service.kubernetes.io/headless", toggled live: a labelled Service (or
# EndpointSlice) is not ours, unless the proxy name is ours (--proxy-name).
source "$(dirname "$0")/lib.sh"
require_env curl
make_topology c1:2 b1:11
start_backend b1 pod1 --tcp 8080
apply_labels() {
	local name=$1
	shift
	{ service web 10.96.0.10 80 "$@" && slice web-x web 8080 -- 10.77.0.11; } | apply_yaml "$name"
}
apply_labels plain
assert_eq "unlabelled" pod1 "$(requests c1 1 10.96.0.10)"
apply_labels other --label service.kubernetes.io/service-proxy-name=other-proxy
assert_errno ENETUNREACH c1 tcp 10.96.0.10 80
pass "service-proxy-name=other-proxy: not served (left alone)"
apply_labels plain
assert_eq "label removed" pod1 "$(requests c1 1 10.96.0.10)"
apply_labels headless --label service.kubernetes.io/headless=
assert_errno ENETUNREACH c1 tcp 10.96.0.10 80
pass "headless label: not served"
apply_labels plain
assert_eq "headless label removed" pod1 "$(requests c1 1 10.96.0.10)"

# Our own proxy name is served.
file=$(
	{
		service web 10.96.0.10 80 --label service.kubernetes.io/service-proxy-name=svcrouter
		slice web-x web 8080 -- 10.77.0.11
	} | manifest ours.yaml
)
svcr --proxy-name svcrouter apply -f "$file" >/dev/null
assert_eq "service-proxy-name=svcrouter with --proxy-name svcrouter" pod1 "$(requests c1 1 10.96.0.10)"
pass "our proxy name: served"

# A labelled EndpointSlice is ignored on its own: the Service has no endpoints.
{
	service web 10.96.0.10 80
	slice web-x web 8080 --label service.kubernetes.io/headless= -- 10.77.0.11
} | apply_yaml slice-label
assert_errno ECONNREFUSED c1 tcp 10.96.0.10 80
pass "labelled EndpointSlice ignored: no endpoints, refused"
