#!/usr/bin/env bash
# Privileges: svcrouter works with exactly the capabilities it claims
# (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON: deploy/systemd/svcrouter.service and
# deploy/svcrouter.yaml grant those), and `status` says so; as plain root it
# warns, naming the extra ones. Pins are root's alone: the pin directory and
# its folders 0700, every pin 0600, whatever the umask, and an adopted
# directory with looser modes is tightened. Where the agent listens, and
# that the health check node ports follow --nodeport-addresses as
# kube-proxy's do.
source "$(dirname "$0")/lib.sh"
require_env jq setpriv ss
make_topology c1:2 node:5 b1:11 b2:12
start_backend b1 pod1 --tcp 8080
start_backend b2 pod2 --tcp 8080

NEEDED=bpf,net_admin,perfmon
# A command with exactly the needed capabilities, as the systemd unit runs it:
# uid 0, whose capabilities after exec are the bounding set.
limited() {
	setpriv --reuid=0 --regid=0 --clear-groups --inh-caps=-all,+${NEEDED//,/,+} \
		--ambient-caps=-all,+${NEEDED//,/,+} --bounding-set=-all,+${NEEDED//,/,+} -- "$@"
}
limited true || skip "setpriv cannot limit the capabilities here"
[[ $(limited grep CapEff /proc/self/status) == *000000c000001000* ]] ||
	fail "setpriv gave $(limited grep Cap /proc/self/status | xargs)"

# 1. apply with exactly the needed capabilities, and a umask that would
#    leave everything open to everyone.
{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11; } >"$TMP/one.yaml"
out=$( (umask 000 && limited "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" apply -f "$TMP/one.yaml") 2>&1) ||
	fail "apply with $NEEDED only: $out"
assert_eq "reply with $NEEDED only" "reply=pod1" "$(in_client c1 "$PROBE" tcp 10.96.0.10 80 | grep reply=)"
pass "apply with only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (umask 000): traffic served"

# Every directory 0700, every pin 0600, root's.
modes() { find "$PIN" -printf '%m %u %y %p\n'; }
check_private() {
	local bad
	bad=$(modes | awk '!(($3 == "d" && $1 == "700") || ($3 == "f" && $1 == "600")) || $2 != "root"')
	[[ -z $bad ]] || fail "$1: not root's alone: $bad"
}
check_private "after apply with umask 000"
count=$(modes | wc -l)
pass "pins root's alone after apply: $count entries, directories 0700, pins 0600"

status_json() { limited "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" status -o json "$@"; }
st=$(status_json) || fail "status with $NEEDED only: $st"
assert_eq "needs" "CAP_BPF CAP_NET_ADMIN CAP_PERFMON" "$(jq -r '.privileges.needs | join(" ")' <<<"$st")"
assert_eq "has" "CAP_NET_ADMIN CAP_PERFMON CAP_BPF" "$(jq -r '.privileges.has | join(" ")' <<<"$st")"
assert_eq "warnings with $NEEDED only" "[]" "$(jq -c '.privileges.warnings' <<<"$st")"
assert_eq "extra, missing" "[] []" "$(jq -c '.privileges.extra, .privileges.missing' <<<"$st" | xargs)"
assert_eq "pins private" true "$(jq -r '.privileges.pins.private' <<<"$st")"
text=$(limited "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" status) || fail "status: $text"
grep -q "no warning" <<<"$text" || fail "status (text) with $NEEDED only: $text"
pass "status with exactly the needed capabilities: no warning"

# 2. As plain root: every capability, and a warning naming the extra ones.
st=$(svcr status -o json) || fail "status: $st"
extra=$(jq -r '.privileges.extra | join(" ")' <<<"$st")
for cap in CAP_SYS_ADMIN CAP_DAC_OVERRIDE CAP_SYS_MODULE; do
	[[ " $extra " == *" $cap "* ]] || fail "extra capabilities of root lack $cap: $extra"
done
[[ " $extra " != *" CAP_BPF "* ]] || fail "CAP_BPF counted as extra: $extra"
jq -e '.privileges.warnings | any(test("more than it needs.*CAP_SYS_ADMIN.*setpriv"))' <<<"$st" >/dev/null ||
	fail "no warning as root: $(jq -c .privileges <<<"$st")"
pass "status as root warns: $(jq '.privileges.extra | length' <<<"$st") capabilities more than needed"

# 3. Missing ones: named, also when status itself cannot probe the kernel.
st=$(setpriv --bounding-set=-all,+bpf,+net_admin -- "$SVCROUTER" --pin-dir "$PIN" status -o json) ||
	fail "status without perfmon: $st"
assert_eq "missing without perfmon" '["CAP_PERFMON"]' "$(jq -c '.privileges.missing' <<<"$st")"
out=$(setpriv --bounding-set=-all,+bpf,+perfmon -- "$SVCROUTER" --pin-dir "$PIN" status 2>&1) &&
	fail "status without net_admin probed the kernel: $out"
grep -q "lacks CAP_NET_ADMIN" <<<"$out" || fail "status without net_admin: $out"
pass "status without CAP_PERFMON, or CAP_NET_ADMIN: names what is missing"

# 4. Looser modes in an adopted directory are reported, then tightened by
#    the next apply, which says so.
chmod 0755 "$PIN" "$PIN/maps"
chmod 0644 "$PIN/maps/svcr_services"
st=$(svcr status -o json)
assert_eq "loose pins reported" "$PIN 0755,$PIN/maps 0755,$PIN/maps/svcr_services 0644" \
	"$(jq -r '[.privileges.pins.loose[] | "\(.path) \(.mode)"] | sort | join(",")' <<<"$st")"
jq -e '.privileges.warnings | any(test("svcr_services is 0644"))' <<<"$st" >/dev/null ||
	fail "no warning for a loose pin: $(jq -c .privileges.warnings <<<"$st")"
out=$(limited "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" apply -f "$TMP/one.yaml" 2>&1) || fail "apply: $out"
grep -q "made root's alone.*svcr_services (was 0644)" <<<"$out" || fail "apply did not say it tightened: $out"
check_private "after adopting a loose directory"
pass "an adopted directory with 0755/0644 is tightened, and said"

# 5. The agent with exactly the needed capabilities follows its file, warns
#    of nothing, and its pins stay private.
conf=$TMP/services.yaml
cp "$TMP/one.yaml" "$conf"
limited "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" run --config "$conf" \
	--metrics-bind-address 127.0.0.1:0 --healthz-bind-address 127.0.0.1:0 >"$TMP/agent" 2>&1 &
agent=$!
PIDS+=("$agent")
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.12; } >"$TMP/two.yaml"
mv "$TMP/two.yaml" "$conf"
reply() { [[ $(in_client c1 "$PROBE" tcp 10.96.0.10 80 | grep reply=) == "reply=$1" ]]; }
wait_until --log "$TMP/agent" 5 "the agent to route to pod2" reply pod2
! grep -i "warn" "$TMP/agent" || fail "the agent warned with $NEEDED only"
kill "$agent"
wait_pid "$agent" 10 || true
check_private "after run"
pass "run --config with $NEEDED only: followed the file, no warning"

# The agent as root warns at start.
svcr_bg "$TMP/agent-root" run --config "$conf"
wait_until --log "$TMP/agent-root" 10 "the agent to follow its file" grep -q following "$TMP/agent-root"
grep -q "warning: privileges: holds .* more than it needs" "$TMP/agent-root" ||
	fail "the agent as root did not warn: $(cat "$TMP/agent-root")"
kill "$BG_PID"
wait_pid "$BG_PID" 10 || true
pass "run as root warns at start"

# 6. The packet path (TC programs on a device, in the node's namespace)
#    with the same capabilities, then unload.
node() { nsenter --net="/run/netns/$(ns node)" -- "$@"; }
out=$(node setpriv --reuid=0 --inh-caps=-all,+${NEEDED//,/,+} --ambient-caps=-all,+${NEEDED//,/,+} \
	--bounding-set=-all,+${NEEDED//,/,+} -- "$SVCROUTER" --pin-dir "$PIN" --cgroup "$CG" \
	--tc-dev eth0 apply -f "$conf" 2>&1) || fail "apply --tc-dev with $NEEDED only: $out"
node "$SVCROUTER" --pin-dir "$PIN" stats | grep -q "packet path: new_flows=" ||
	fail "the packet path is not loaded: $(node "$SVCROUTER" --pin-dir "$PIN" stats)"
check_private "after loading the packet path"
out=$(node setpriv --reuid=0 --inh-caps=-all,+${NEEDED//,/,+} --ambient-caps=-all,+${NEEDED//,/,+} \
	--bounding-set=-all,+${NEEDED//,/,+} -- "$SVCROUTER" --pin-dir "$PIN" unload 2>&1) ||
	fail "unload with $NEEDED only: $out"
[[ ! -e $PIN ]] || fail "unload left $PIN: $(modes)"
pass "apply --tc-dev and unload with $NEEDED only"

# 7. Listeners: status describes them; the health check node ports listen
#    on every address, or on the node's addresses in --nodeport-addresses.
st=$(svcr status -o json)
assert_eq "listeners" \
	"metrics 127.0.0.1:10249 false|healthz 0.0.0.0:10256 true|health check node ports 0.0.0.0:<healthCheckNodePort> true" \
	"$(jq -r '[.listeners[] | "\(.name) \(.address) \(.exposed)"] | join("|")' <<<"$st")"
jq -e '.listeners[1].why | test("kube-proxy")' <<<"$st" >/dev/null || fail "healthz: no reason: $st"
st=$(node "$SVCROUTER" --pin-dir "$PIN" --nodeport-addresses 10.77.0.0/24 status -o json \
	--metrics-bind-address 127.0.0.1:0)
assert_eq "listeners with --nodeport-addresses" \
	"metrics null false|health check node ports 10.77.0.5:<healthCheckNodePort> true" \
	"$(jq -r '[.listeners[] | select(.name != "healthz") | "\(.name) \(.address) \(.exposed)"] | join("|")' <<<"$st")"
pass "status lists the listeners: $(svcr status | sed -n '/^listeners/,$p' | tr -s '\n ' ' ')"

cat >"$TMP/lb.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.20
  externalTrafficPolicy: Local
  healthCheckNodePort: 32124
  ports: [{port: 80, nodePort: 30081}]
---
YAML
slice lb-1 lb 8080 -- "10.77.0.11@node-a" >>"$TMP/lb.yaml"
listening() { in_ns node ss -Htln "sport = :32124" | awk '{ print $4 }' | sort | xargs; }
for spec in ":0.0.0.0:32124" "10.77.0.0/24:10.77.0.5:32124"; do
	cidr=${spec%%:*} want=${spec#*:}
	svcr_bg_in node "$TMP/agent-lb" run --config "$TMP/lb.yaml" --node-name node-a \
		${cidr:+--nodeport-addresses "$cidr"} --metrics-bind-address 127.0.0.1:0 \
		--healthz-bind-address 127.0.0.1:0
	wait_until --log "$TMP/agent-lb" 5 "the health check port to listen" eval '[[ -n $(listening) ]]'
	assert_eq "health check port with --nodeport-addresses '$cidr'" "$want" "$(listening)"
	kill "$BG_PID"
	wait_pid "$BG_PID" 10 || true
done
pass "health check node port: 0.0.0.0 by default, the node's address with --nodeport-addresses"
