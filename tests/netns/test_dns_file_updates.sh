#!/usr/bin/env bash
# `run --config` with --dns-listen: a Service added to the file, changed
# and removed is answered so within the sync that applies the change (dig
# asks once, right after the agent said the sync is over); a file that
# does not validate changes no name either.
source "$(dirname "$0")/lib.sh"
require_env dig
make_topology c1:2 node:5
conf=$TMP/services.yaml
service web 10.96.0.10 80 >"$conf"
svcr_bg_in node "$TMP/agent" run --config "$conf" --dns-listen 10.77.0.5:53 --dns-upstream 10.77.0.99
wait_until --log "$TMP/agent" 10 "the agent to follow its file" grep -q following "$TMP/agent"
S=svc.cluster.local
answer() { dig_answer c1 10.77.0.5 "$@"; }
syncs() { grep -c '^applied ' "$TMP/agent" || true; }
# The file from stdin, then the agent's next sync (or error).
change() {
	local before
	before=$(($(syncs) + $(grep -c '^error' "$TMP/agent" || true)))
	cat >"$conf.new" && mv "$conf.new" "$conf"
	wait_until --log "$TMP/agent" 5 "the agent's next sync" \
		eval '(($(syncs) + $(grep -c "^error" "$TMP/agent" || true) > '"$before"'))'
}
assert_eq "at start" "web.default.$S. 30 IN A 10.96.0.10" "$(answer web.default.$S)"

{ service web 10.96.0.10 80 && service api 10.96.0.11 http:80; } | change
assert_eq "added" "api.default.$S. 30 IN A 10.96.0.11" "$(answer api.default.$S)"
assert_eq "added: its SRV" "_http._tcp.api.default.$S. 30 IN SRV 0 100 80 api.default.$S." \
	"$(answer _http._tcp.api.default.$S SRV)"
pass "added: answered after the same sync"

{ service web 10.96.0.10 80 && service api 10.96.0.12 http:80; } | change
assert_eq "changed" "api.default.$S. 30 IN A 10.96.0.12" "$(answer api.default.$S)"
pass "changed: answered after the same sync"

service web 10.96.0.10 80 | change
assert_eq "removed" NXDOMAIN "$(dig_rcode c1 10.77.0.5 api.default.$S)"
assert_eq "the other stays" "web.default.$S. 30 IN A 10.96.0.10" "$(answer web.default.$S)"
pass "removed: NXDOMAIN after the same sync"

{ service web 10.96.0.10 80 && echo "kind: Nonsense"; } | change
grep -q '^error' "$TMP/agent" || fail "the bad file was not refused: $(cat "$TMP/agent")"
assert_eq "a bad file changes nothing" "web.default.$S. 30 IN A 10.96.0.10" "$(answer web.default.$S)"
pass "a file that does not validate: the names stay"
