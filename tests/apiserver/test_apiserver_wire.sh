#!/usr/bin/env bash
# svcr-apiserver speaks the Kubernetes API server's wire format to real
# clients, kubectl and curl, each in its own network namespace: discovery,
# lists and their paging, watches with selectors and bookmarks, both ways of
# authenticating, and every fault the admin port injects. The tests of
# `svcrouter run --kubernetes` rely on each of these.
source "$(dirname "$0")/../netns/lib.sh"
source "$(dirname "$0")/lib.sh"
require_env curl jq openssl kubectl
require_apiserver
make_topology api:100 c1:2
start_apiserver api

# A Service as JSON: svc_json NAME [NAMESPACE] [KEY=VALUE (a label)...]
svc_json() {
	local name=$1 ns=${2:-default} label_json='{}' l
	shift $(($# > 1 ? 2 : 1))
	for l in "$@"; do
		label_json=$(jq -c --arg k "${l%%=*}" --arg v "${l#*=}" '. + {($k): $v}' <<<"$label_json")
	done
	jq -nc --arg n "$name" --arg ns "$ns" --argjson l "$label_json" \
		'{kind: "Service", apiVersion: "v1", metadata: {name: $n, namespace: $ns, labels: $l},
		  spec: {clusterIP: "10.96.0.10", ports: [{port: 80, protocol: "TCP"}]}}'
}
put_svc() { put_object "$(svc_json "$@")" >/dev/null; }

# The HTTP status of a GET from c1 (the body goes to $TMP/body), or 000 if
# curl failed, also if it took more than 10 s (a watch that did not end):
#   status PATH [CURL-ARGS...]
status() { api c1 "$1" -o "$TMP/body" -w '%{http_code}' --max-time 10 "${@:2}" || true; }
body() { jq -r "$1" "$TMP/body"; }
# Milliseconds since the time a `t0=$(now_us)` took.
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
ms_since() { echo $((($(now_us) - $1) / 1000)); }
current_rv() { api c1 /api/v1/services | jq -r .metadata.resourceVersion; }

# A curl watch from c1 in the background, the stream to $TMP/NAME:
#   watch_start NAME PATH-AND-QUERY; sets WATCH (curl's pid)
watch_start() {
	: >"$TMP/$1" # curl makes it only with the first byte; wait_until --log needs it
	spawn_in c1 "$TMP/$1.err" "${API_CURL[@]}" -N -o "$TMP/$1" "https://$API$2"
	WATCH=$BG_PID
}
# The events a watch received so far, "TYPE NAME RESOURCEVERSION" a line
# (an ERROR's code for its resourceVersion); BOOKMARKs only with --bookmarks.
events() {
	local filter='select(.type != "BOOKMARK")'
	[[ ${2:-} == --bookmarks ]] && filter=.
	grep '}$' "$TMP/$1" 2>/dev/null | jq -r "$filter"' | [.type, .object.metadata.name // "-",
		.object.metadata.resourceVersion // (.object.code | tostring)] | join(" ")'
}
event_count() { [[ $(events "$1" "${3:-}" | wc -l) -ge $2 ]]; }
watching() { [[ $(open_watches "$1") == "$2" ]]; }
# Stops a watch's curl; the server must notice and close its side.
watch_stop() {
	kill "$1"
	wait "$1" 2>/dev/null || true
	wait_until 5 "the server to close the watch of a client that left" watching services 0
}

# ---- 1. kubectl: discovery, lists, and a watch ------------------------------
spawn_in c1 "$TMP/kubectl-watch" "${KUBECTL[@]}" get services -A -w --output-watch-events
kubectl_pid=$BG_PID
wait_until --log "$TMP/kubectl-watch" 10 "kubectl's watch to open" watching services 1
put_svc web
put_svc web default app=web
delete_object Service default web >/dev/null
kubectl_saw() { [[ $(awk '$3 == "web" { print $1 }' "$TMP/kubectl-watch" | xargs) == "ADDED MODIFIED DELETED" ]]; }
wait_until --log "$TMP/kubectl-watch" 5 "kubectl -w to see web added, modified, deleted" kubectl_saw
watch_stop "$kubectl_pid"
pass "kubectl get services -A -w: $(awk '$3 == "web"' "$TMP/kubectl-watch" | xargs)"

{ service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11; } | put_yaml >/dev/null
put_object '{"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-1"}}' >/dev/null
slices=$(kube c1 get endpointslices -A --no-headers | awk '{ print $1 "/" $2 }')
assert_eq "kubectl get endpointslices -A" "default/web-1" "$slices"
assert_eq "kubectl get nodes" "node-1" "$(kube c1 get nodes --no-headers | awk '{ print $1 }')"
assert_eq "kubectl get service web" "10.96.0.10" "$(kube c1 get service web -o jsonpath='{.spec.clusterIP}')"
pass "kubectl lists what was put: EndpointSlice $slices, Node node-1, Service web"

# ---- 2. authentication ------------------------------------------------------
assert_eq "no token" 401 "$(TOKEN='' status /api/v1/services)"
assert_eq "the 401 Status" "Status Failure Unauthorized 401" "$(body '"\(.kind) \(.status) \(.reason) \(.code)"')"
assert_eq "a wrong token" 401 "$(TOKEN=wrong status /api/v1/services)"
assert_eq "the token" 200 "$(status /api/v1/services)"
assert_eq "the client certificate, no token" 200 \
	"$(TOKEN='' status /api/v1/services --cert "$PKI/client.crt" --key "$PKI/client.key")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=intruder \
	-keyout "$TMP/other.key" -out "$TMP/other.crt" 2>/dev/null
assert_eq "a certificate of another CA" 000 \
	"$(TOKEN='' status /api/v1/services --cert "$TMP/other.crt" --key "$TMP/other.key" 2>/dev/null)"
admin /tokens -X POST --data-binary '{"tokens": ["rotated"]}' >/dev/null
assert_eq "the old token after rotation" 401 "$(status /api/v1/services)"
assert_eq "the new token" 200 "$(TOKEN=rotated status /api/v1/services)"
admin /tokens -X POST --data-binary "{\"tokens\": [\"$API_TOKEN\"]}" >/dev/null
pass "401 without a token, with a wrong one, with the old one after rotation; a client certificate of the CA works, another's does not"

# ---- 3. paging --------------------------------------------------------------
seq 1 25 | jq -nc '{kind: "List", apiVersion: "v1", items: [inputs |
	{kind: "Service", apiVersion: "v1", metadata: {name: "page-\(.)", namespace: "paging"}}]}' |
	put_object >/dev/null
admin /requests -X DELETE >/dev/null
pages=() rvs=() names=()
token=""
for i in 1 2 3 4; do
	assert_eq "page $i" 200 "$(status "/api/v1/namespaces/paging/services?limit=10${token:+&continue=$token}")"
	pages+=("$(body '.items | length')") rvs+=("$(body .metadata.resourceVersion)")
	mapfile -t -O "${#names[@]}" names < <(body '.items[].metadata.name')
	((i > 1)) || assert_eq "remainingItemCount of page 1" 15 "$(body .metadata.remainingItemCount)"
	# A change between pages: the later pages still show the first page's snapshot.
	((i > 1)) || put_svc page-26 paging
	token=$(body '.metadata.continue // empty')
	[[ -n $token ]] || break
done
assert_eq "items per page" "10 10 5" "${pages[*]}"
assert_eq "resourceVersion of every page" "${rvs[0]} ${rvs[0]} ${rvs[0]}" "${rvs[*]}"
assert_eq "distinct items, page-26 not among them" "25 0" \
	"$(printf '%s\n' "${names[@]}" | sort -u | wc -l) $(printf '%s\n' "${names[@]}" | grep -c '^page-26$')"
logged=$(admin /requests | jq -r '[.[] | select(.path | test("limit=10")) | .path | test("continue=")] | map(tostring) | join(" ")')
assert_eq "the requests log: first page without continue, then with" "false true true" "$logged"
status "/api/v1/namespaces/paging/services?limit=10" >/dev/null
token=$(body .metadata.continue)
fault '{"fault": "compact"}'
assert_eq "a continue after compaction" 410 "$(status "/api/v1/namespaces/paging/services?limit=10&continue=$token")"
assert_eq "its Status" "Expired 410" "$(body '"\(.reason) \(.code)"')"
pass "25 services with limit=10: pages of ${pages[*]} at resourceVersion ${rvs[0]}; after compact the continue got 410 Expired"

# ---- 4. watches -------------------------------------------------------------
# Events in order, from the list's resourceVersion; bookmarks when idle.
rv=$(current_rv)
watch_start order "/api/v1/namespaces/default/services?watch=true&resourceVersion=$rv&allowWatchBookmarks=true&timeoutSeconds=60"
put_svc a
put_svc b
put_svc a default changed=yes
delete_object Service default b >/dev/null
put_svc other kube-system # another namespace: not on this watch
wait_until --log "$TMP/order" 5 "4 events" event_count order 4
assert_eq "the events" "ADDED a|ADDED b|MODIFIED a|DELETED b" "$(events order | cut -d' ' -f1,2 | paste -sd'|')"
assert_eq "their resourceVersions" "$((rv + 1)) $((rv + 2)) $((rv + 3)) $((rv + 4))" "$(events order | cut -d' ' -f3 | xargs)"
wait_until --log "$TMP/order" 3 "a bookmark while idle" event_count order 5 --bookmarks
# (the last: one may have come before the events, if putting them was slow)
assert_eq "the idle bookmark" "BOOKMARK - $((rv + 5))" "$(events order --bookmarks | grep BOOKMARK | tail -1)"
watch_stop "$WATCH"
pass "watch from resourceVersion $rv: $(events order | cut -d' ' -f1,2 | paste -sd,), then a bookmark at $((rv + 5))"

# timeoutSeconds ends the stream cleanly: the final chunk, curl content.
rv=$(current_rv)
t0=$(now_us)
assert_eq "a watch with timeoutSeconds=1" 200 "$(status "/api/v1/services?watch=true&resourceVersion=$rv&timeoutSeconds=1")"
ms=$(ms_since "$t0")
((ms >= 900 && ms < 3000)) || fail "timeoutSeconds=1 ended the watch after $ms ms"
pass "timeoutSeconds=1: the watch ended cleanly after $ms ms"

# The kube-proxy selector: labelled services hidden; label changes are
# ADDED and DELETED as the real server shows them.
sel='labelSelector=!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name'
watch_start selector "/api/v1/services?watch=true&resourceVersion=$(current_rv)&$sel"
put_svc plain
put_svc headless default service.kubernetes.io/headless=
put_svc proxied default service.kubernetes.io/service-proxy-name=other
put_svc headless            # loses its label: now seen
put_svc plain default service.kubernetes.io/headless=   # gains one: gone
put_svc marker
wait_until --log "$TMP/selector" 5 "4 events" event_count selector 4
assert_eq "events through the selector" "ADDED plain|ADDED headless|DELETED plain|ADDED marker" \
	"$(events selector | cut -d' ' -f1,2 | paste -sd'|')"
watch_stop "$WATCH"
listed=$(api c1 "/api/v1/services?$sel" | jq -r '.items[].metadata.name' | grep -E '^(plain|headless|proxied|marker)$' | xargs)
assert_eq "a list through the selector" "headless marker" "$listed"
pass "labelSelector $sel: $(events selector | cut -d' ' -f1,2 | paste -sd,)"

# watch-gone: every open watch gets ERROR 410 and its stream ends.
watch_start gone "/api/v1/services?watch=true&resourceVersion=$(current_rv)"
wait_until 5 "the watch to open" watching services 1
fault '{"fault": "watch-gone"}'
rc=0 && wait_pid "$WATCH" 5 || rc=$?
assert_eq "curl after watch-gone (a clean end)" 0 "$rc"
assert_eq "the last event" "ERROR 410" "$(events gone | tail -1 | cut -d' ' -f1,3)"
assert_eq "its reason" Expired "$(tail -1 "$TMP/gone" | jq -r .object.reason)"
pass "watch-gone: $(tail -1 "$TMP/gone")"

# After a compaction, a watch from before it is too old at once.
fault '{"fault": "compact"}'
assert_eq "a watch from before the compaction" 200 "$(status "/api/v1/services?watch=true&resourceVersion=$rv")"
assert_eq "its only event" "ERROR Expired 410" "$(jq -sr 'map("\(.type) \(.object.reason) \(.object.code)") | join("|")' "$TMP/body")"
pass "watch from a compacted resourceVersion: $(jq -r .object.message "$TMP/body")"

# http-gone: the next watch request gets HTTP 410; lists are not affected.
fault '{"fault": "http-gone", "count": 1}'
assert_eq "a list while http-gone is pending" 200 "$(status /api/v1/services)"
assert_eq "the next watch" 410 "$(status "/api/v1/services?watch=true&timeoutSeconds=1")"
assert_eq "its Status" "Status Expired 410" "$(body '"\(.kind) \(.reason) \(.code)"')"
assert_eq "the watch after it" 200 "$(status "/api/v1/services?watch=true&timeoutSeconds=1")"
pass "http-gone: one watch got HTTP 410 Expired, the next 200"

# cut: half an event line, then the connection drops without the last chunk.
watch_start cut "/api/v1/services?watch=true&resourceVersion=$(current_rv)"
wait_until 5 "the watch to open" watching services 1
fault '{"fault": "cut"}'
rc=0 && wait_pid "$WATCH" 5 || rc=$?
assert_eq "curl's status after the cut (18: transfer closed with data outstanding)" 18 "$rc"
grep -q "transfer closed" "$TMP/cut.err" || fail "curl did not report the cut: $(cat "$TMP/cut.err")"
[[ -s $TMP/cut && $(tail -c1 "$TMP/cut" | od -An -tx1 | tr -d ' ') != 0a ]] || fail "the stream did not end inside a line"
! tail -1 "$TMP/cut" | jq . >/dev/null 2>&1 || fail "the stream's last line is whole: $(tail -1 "$TMP/cut")"
pass "cut: the stream ended inside a line ($(tail -1 "$TMP/cut")) and curl said: $(cat "$TMP/cut.err")"

# http500, http429: the next N requests, lists or watches.
fault '{"fault": "http500", "count": 2}'
assert_eq "a list after http500" 500 "$(status /api/v1/services)"
assert_eq "its Status" "InternalError 500" "$(body '"\(.reason) \(.code)"')"
assert_eq "a watch after http500" 500 "$(status "/api/v1/services?watch=true&timeoutSeconds=1")"
assert_eq "the third request" 200 "$(status /api/v1/services)"
fault '{"fault": "http429", "count": 1, "retryAfter": 3}'
assert_eq "a list after http429" 429 "$(status /api/v1/nodes -D "$TMP/headers")"
assert_eq "its Retry-After" "3" "$(tr -d '\r' <"$TMP/headers" | sed -n 's/^Retry-After: //Ip')"
assert_eq "its Status" "TooManyRequests 429" "$(body '"\(.reason) \(.code)"')"
assert_eq "the next request" 200 "$(status /api/v1/nodes)"
pass "http500 x2: a list and a watch got 500; http429: 429 with Retry-After: 3; then 200"

# slow: each watch event waits.
watch_start slow "/api/v1/services?watch=true&resourceVersion=$(current_rv)"
wait_until 5 "the watch to open" watching services 1
fault '{"fault": "slow", "ms": 800}'
t0=$(now_us)
put_svc slowpoke
wait_until 5 "the slow event" event_count slow 1
ms=$(ms_since "$t0")
fault '{"fault": "slow", "ms": 0}'
((ms >= 800)) || fail "the event came after $ms ms, despite slow 800 ms"
watch_stop "$WATCH"
pass "slow 800 ms: the event came after $ms ms"

# down: every API request gets 503 and open watches drop; the admin port works.
watch_start down "/api/v1/services?watch=true&resourceVersion=$(current_rv)"
wait_until 5 "the watch to open" watching services 1
fault '{"fault": "down"}'
rc=0 && wait_pid "$WATCH" 5 || rc=$?
assert_eq "curl's status when the server went down" 18 "$rc"
assert_eq "a list while down" 503 "$(status /api/v1/services)"
assert_eq "discovery while down" 503 "$(status /api)"
assert_eq "the admin port while down" 0 "$(open_watches services)"
fault '{"fault": "up"}'
assert_eq "a list once up" 200 "$(status /api/v1/services)"
pass "down: the watch dropped, lists and discovery got 503; up: 200"

# A bulk load of 20,000 objects in one List, then kubectl pages through them.
seq 1 20000 | jq -nc '{kind: "List", apiVersion: "v1", items: [inputs |
	{kind: "Service", apiVersion: "v1", metadata: {name: "bulk-\(.)", namespace: "bulk"},
	 spec: {clusterIP: "10.97.\(. / 256 | floor).\(. % 256)", ports: [{port: 80, protocol: "TCP"}]}}]}' \
	>"$TMP/bulk.json"
t0=$(now_us)
put_object <"$TMP/bulk.json" >"$TMP/bulk.out"
ms=$(ms_since "$t0")
assert_eq "objects stored" 20000 "$(jq '.items | length' "$TMP/bulk.out")"
# Not a speed test (the figure is printed): a bound ten times what it takes
# on a loaded 2-core machine, that only a load growing with the square of
# the List would pass (it once took 3.7 s beside three compilers).
((ms < 30000)) || fail "the bulk load took $ms ms"
admin /requests -X DELETE >/dev/null
assert_eq "kubectl get, 500 a page" 20000 "$(kube c1 get services -n bulk --chunk-size=500 --no-headers | wc -l)"
assert_eq "pages kubectl asked for" 40 \
	"$(admin /requests | jq '[.[] | select(.path | test("/namespaces/bulk/services[?]") and test("limit=500"))] | length')"
pass "20000 objects loaded in $ms ms; kubectl read them in 40 pages"

# ---- 5. on-demand bookmarks, and SIGTERM ------------------------------------
# SIGTERM ends open watches cleanly; a new server without periodic bookmarks.
watch_start term "/api/v1/services?watch=true&resourceVersion=$(current_rv)"
wait_until 5 "the watch to open" watching services 1
kill "$API_PID"
rc=0 && wait_pid "$API_PID" 5 || rc=$?
assert_eq "svcr-apiserver's status after SIGTERM" 0 "$rc"
rc=0 && wait_pid "$WATCH" 5 || rc=$?
assert_eq "curl's status after SIGTERM (a clean end)" 0 "$rc"
pass "SIGTERM: the open watch ended cleanly, the server exited 0"

start_apiserver api --bookmark-interval 0
rv=$(current_rv)
watch_start marks "/api/v1/services?watch=true&resourceVersion=$rv&allowWatchBookmarks=true"
spawn_in c1 "$TMP/nomarks.err" "${API_CURL[@]}" -N -o "$TMP/nomarks" "https://$API/api/v1/services?watch=true&resourceVersion=$rv"
wait_until 5 "both watches to open" watching services 2
sleep 1.5
assert_eq "bookmarks while idle with --bookmark-interval 0" "" "$(events marks --bookmarks)"
fault '{"fault": "bookmark"}'
wait_until --log "$TMP/marks" 2 "the bookmark asked for" event_count marks 1 --bookmarks
assert_eq "the bookmark" "BOOKMARK - $rv" "$(events marks --bookmarks)"
assert_eq "its object" '{"apiVersion":"v1","kind":"Service","metadata":{"resourceVersion":"'"$rv"'"}}' \
	"$(head -1 "$TMP/marks" | jq -cS .object)"
put_svc after
wait_until 5 "the event after it" event_count nomarks 1
assert_eq "what the watch without allowWatchBookmarks got" "ADDED after $((rv + 1))" "$(events nomarks --bookmarks)"
pass "bookmark on demand: $(head -1 "$TMP/marks"); none for a watch that did not allow them"

# A watch from resourceVersion 0 starts with the current objects, as ADDED.
assert_eq "a watch from 0" 200 "$(status "/api/v1/services?watch=true&resourceVersion=0&timeoutSeconds=1")"
assert_eq "its events" "ADDED after $((rv + 1))" "$(jq -r '"\(.type) \(.object.metadata.name) \(.object.metadata.resourceVersion)"' "$TMP/body")"
pass "watch from resourceVersion 0: the current objects as ADDED"
