# A Kubernetes API server for tests: svcr-apiserver (README.md) run in one
# of the test's namespaces, with a throw-away CA, a kubeconfig for it, and
# helpers for its admin port. Sourced after tests/netns/lib.sh, whose exit
# trap stops it and removes the files with $TMP:
#
#   source "$(dirname "$0")/../netns/lib.sh"
#   source "$(dirname "$0")/../apiserver/lib.sh"
#   require_env curl jq && require_apiserver
#   make_topology api:100 c1:2
#   start_apiserver api                     # API=10.77.0.100:6443, $TMP/kubeconfig
#   { service web 10.96.0.10 80 && slice web-1 web 8080 -- 10.77.0.11; } | put_yaml
#   fault '{"fault":"watch-gone"}'
#   kube c1 get services -A

APISERVER_BIN=$SVCR_BUILD/tests/svcr-apiserver
API_PORT=6443
API=""                # IP:PORT of the API (HTTPS), once started
ADMIN=""              # IP:PORT of its admin port (HTTP, on the loopback of $API_NS)
API_NS=""             # the namespace it runs in
API_PID=""
KUBECTL=()            # kubectl with $TMP/kubeconfig, once started (see kube)
API_CURL=()           # curl with the CA and $API_TOKEN, once started (see api)
API_LOG=$TMP/apiserver.log
API_TOKEN=token-$RUN  # the token the kubeconfig carries
PKI=$TMP/pki          # ca.crt, server.{crt,key}, client.{crt,key} (CN svcr-test)

# Checks what the emulator and these helpers need; skips otherwise. After require_env.
require_apiserver() {
	[[ -x $APISERVER_BIN ]] || fail "build first: $APISERVER_BIN missing"
	local tool
	for tool in openssl curl jq python3; do command -v "$tool" >/dev/null || skip "needs $tool"; done
	python3 -c 'import yaml' 2>/dev/null || skip "needs python3-yaml"
}

# A CA, a server certificate for IP (its only name), and a client
# certificate, all made with the openssl command line into $PKI.
make_pki() {
	local ip=$1
	mkdir -p "$PKI"
	(
		cd "$PKI"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj /CN=svcr-test-ca -addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.crt
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=svcr-apiserver \
			-keyout server.key -out server.csr
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >server.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
			-extfile server.ext -out server.crt
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=svcr-test \
			-keyout client.key -out client.csr
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
			-extfile client.ext -out client.crt
	) >"$TMP/pki.log" 2>&1 || fail "openssl: $(cat "$TMP/pki.log")"
}

# Starts svcr-apiserver in namespace NS on its eth0 address, port 6443, with
# the token $API_TOKEN and client certificates of $PKI's CA accepted; sets
# API, ADMIN, API_NS and API_PID; writes $TMP/kubeconfig (token, CA).
#   start_apiserver NS [SVCR-APISERVER-ARGS...]   e.g. --history 100
start_apiserver() {
	local name=$1 ip
	shift
	ip=$(ip -n "$RUN-$name" -4 -o addr show dev eth0 | awk '{ sub("/.*", "", $4); print $4; exit }')
	[[ -n $ip ]] || fail "start_apiserver: no IPv4 address in namespace $name"
	[[ -e $PKI/server.crt ]] || make_pki "$ip"
	spawn_in "$name" "$API_LOG" "$APISERVER_BIN" --listen "$ip:$API_PORT" --cert "$PKI/server.crt" \
		--key "$PKI/server.key" --client-ca "$PKI/ca.crt" --token "$API_TOKEN" "$@"
	API_PID=$BG_PID
	wait_until --log "$API_LOG" 5 "svcr-apiserver to start" grep -q '^ready ' "$API_LOG"
	local line
	line=$(grep -m1 '^ready ' "$API_LOG")
	[[ $line =~ ^ready\ api=([^ ]+)\ admin=([^ ]+)$ ]] || fail "svcr-apiserver said: $line"
	API=${BASH_REMATCH[1]} ADMIN=${BASH_REMATCH[2]} API_NS=$name
	write_kubeconfig "$TMP/kubeconfig" "$API_TOKEN"
	KUBECTL=(kubectl --kubeconfig "$TMP/kubeconfig" --cache-dir "$TMP/kube-cache")
	API_CURL=(curl -sS --cacert "$PKI/ca.crt" -H "Authorization: Bearer $API_TOKEN")
}

# Starts CMD (a program, not a function) in namespace NS in the background,
# its output to FILE; BG_PID is the program itself, so that a signal reaches
# it, and cleanup stops it. With KUBECTL and API_CURL, the commands of `kube`
# and `api` (whole URLs: https://$API/PATH):
#   spawn_in c1 "$TMP/watch" "${KUBECTL[@]}" get services -A -w
#   spawn_in NS FILE CMD...
spawn_in() {
	local name=$1 out=$2
	shift 2
	ip netns exec "$RUN-$name" "$@" >"$out" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# A kubeconfig for the running emulator with this bearer token.
#   write_kubeconfig FILE TOKEN
write_kubeconfig() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: svcr
  cluster:
    server: https://$API
    certificate-authority: $PKI/ca.crt
users:
- name: svcr
  user:
    token: $2
contexts:
- name: svcr
  context: {cluster: svcr, user: svcr}
current-context: svcr
EOF
}

# kubectl with $TMP/kubeconfig, run in namespace NS; its caches stay in $TMP.
#   kube NS KUBECTL-ARGS...
kube() {
	local name=$1
	shift
	in_ns "$name" "${KUBECTL[@]}" "$@"
}

# curl to the API from namespace NS, verifying the server with $PKI's CA and
# sending the token $TOKEN (default $API_TOKEN; empty: no Authorization
# header); prints what curl prints, and returns curl's status (an HTTP error
# is not a failure).
#   [TOKEN=...] api NS PATH [CURL-ARGS...]   e.g. api c1 /api/v1/services -w '%{http_code}'
api() {
	local name=$1 path=$2 token=${TOKEN-$API_TOKEN}
	shift 2
	local auth=()
	[[ -z $token ]] || auth=(-H "Authorization: Bearer $token")
	in_ns "$name" curl -sS --cacert "$PKI/ca.crt" "${auth[@]}" "$@" "https://$API$path"
}

# A request to the admin port (run inside $API_NS); prints the body, and
# fails the test if the request fails.
#   admin PATH [CURL-ARGS...]      e.g. admin /watches; admin /requests -X DELETE
admin() {
	local path=$1 out
	shift
	out=$(in_ns "$API_NS" curl -sS --fail-with-body "$@" "http://$ADMIN$path" 2>&1) ||
		fail "admin $path: $out"
	echo "$out"
}

# Creates or replaces an object, or every item of a List, given as JSON (or
# on stdin, for lists too big for an argument); prints what was stored.
#   put_object [JSON]
put_object() {
	if (($#)); then
		admin /objects -X POST -H 'Content-Type: application/json' --data-binary "$1"
	else
		admin /objects -X POST -H 'Content-Type: application/json' --data-binary @-
	fi
}

# The YAML documents on stdin (e.g. from netns/lib.sh's `service` and
# `slice`), stored as one List; prints what was stored.
put_yaml() {
	python3 -c 'import json, sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
json.dump({"kind": "List", "apiVersion": "v1", "items": docs}, sys.stdout)' | put_object
}

# Deletes an object; NS is "-" for Nodes.
#   delete_object KIND NS NAME     e.g. delete_object Service default web
delete_object() { admin "/objects/$1/$2/$3" -X DELETE; }

# Injects a fault (README.md lists them).
#   fault JSON                     e.g. fault '{"fault":"http429","count":2,"retryAfter":1}'
fault() { admin /faults -X POST -H 'Content-Type: application/json' --data-binary "$1" >/dev/null; }

# The number of open watches of a resource (services, endpointslices, nodes).
open_watches() { admin /watches | jq -r --arg r "$1" '.[$r]'; }

# `svcrouter run --kubernetes` in namespace NS (which reaches the emulator)
# as node NODE, with $TMP/kubeconfig; its metrics (10249) and health (10256)
# on NS's address; output in $TMP/agent-NS; AGENT_PID is the process.
#   start_kube_agent NS NODE [SVCROUTER-ARGS...]
start_kube_agent() {
	local name=$1 node=$2 ip
	shift 2
	ip=$(ip -n "$RUN-$name" -4 -o addr show dev eth0 | awk '{ sub("/.*", "", $4); print $4; exit }')
	AGENT_IP=$ip
	svcr_bg_in "$name" "$TMP/agent-$name" run --kubernetes --kubeconfig "$TMP/kubeconfig" \
		--node-name "$node" --metrics-bind-address "$ip:10249" --healthz-bind-address "$ip:10256" "$@"
	AGENT_PID=$BG_PID
}

# The backend IPs svcrouter serves for Service NAME (all its ports), sorted.
backends_of() {
	svcr list -o json | jq -r --arg n "$1" \
		'[.services[] | select(.name == $n) | .backends[].ip] | unique | join(" ")'
}

# Waits until svcrouter serves exactly these backends for Service NAME.
#   wait_backends NAME "IP IP..."
wait_backends() {
	local name=$1 want=$2
	wait_until --log "$TMP/agent-${API_AGENT_NS:-node}" 10 "$name to have backends [$want]" \
		eval '[[ $(backends_of '"$name"') == "'"$want"'" ]]'
}
